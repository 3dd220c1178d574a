"""EmailOperator and send_email (flowctl.utils.email) against a real SMTP conversation (smtp_server.py)."""
from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from flowctl.configuration import conf
from flowctl.core.dag import DAG
from flowctl.core.errors import ConfigError
from flowctl.operators.email import EmailOperator
from flowctl.settings import Settings
from flowctl.utils.email import send_email
from tests.operators.contract_ti import ContractTI, context_for
from tests.operators.smtp_server import SmtpServer, running_smtp_server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


def _settings(tmp_path: Path, server: SmtpServer | None, **extra: str) -> Settings:
    env = {"FLOWCTL_HOME": str(tmp_path), "FLOWCTL__SMTP__SMTP_STARTTLS": "false", **extra}
    if server is not None:
        env.update(FLOWCTL__SMTP__SMTP_HOST="127.0.0.1", FLOWCTL__SMTP__SMTP_PORT=str(server.port))
    return Settings.load(env)


def test_the_email_operator_sends_its_rendered_message_with_the_process_settings(
        smtp: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"FLOWCTL_HOME": str(tmp_path), "FLOWCTL__SMTP__SMTP_HOST": "127.0.0.1",
                        "FLOWCTL__SMTP__SMTP_PORT": str(smtp.port), "FLOWCTL__SMTP__SMTP_STARTTLS": "False",
                        "FLOWCTL__SMTP__SMTP_MAIL_FROM": "reports@example.com"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(conf, "_settings", None)  # load this test's environment
    report = tmp_path / "report.csv"
    report.write_text("day,rows\n2024-01-02,7\n")
    with DAG("mail", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), schedule=None):
        op = EmailOperator(task_id="send", to="{{ params.team }}@example.com; boss@example.com",
                           subject="Rows for {{ ds }}", html_content="<p>{{ params.rows }} rows</p>",
                           files=["{{ params.folder }}/report.csv"], cc="cc@example.com", bcc="bcc@example.com",
                           params={"team": "data", "rows": 7, "folder": str(tmp_path)})
    context = context_for(op, ContractTI(), ds="2024-01-02", params=op.params)
    op.render_template_fields(context)
    op.execute(context)
    mail = smtp.next_message()
    assert mail.mail_from == "reports@example.com"
    assert mail.rcpt_tos == ["data@example.com", "boss@example.com", "cc@example.com", "bcc@example.com"]
    message = mail.message
    assert message["Subject"] == "Rows for 2024-01-02"
    assert message["To"] == "data@example.com, boss@example.com"
    assert message["Cc"] == "cc@example.com" and message["Bcc"] is None
    assert "<p>7 rows</p>" in mail.html
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "report.csv"
    assert attachment.get_content() == b"day,rows\n2024-01-02,7\n"


def test_the_email_operator_templates_airflows_fields() -> None:
    assert tuple(EmailOperator.template_fields) == ("to", "subject", "html_content", "files")
    assert ".html" in EmailOperator.template_ext


def test_send_email_takes_a_list_and_a_non_ascii_subject(smtp: SmtpServer, tmp_path: Path) -> None:
    send_email(["a@example.com", "b@example.com"], "Échec du rapport", "<b>é</b>",
               settings=_settings(tmp_path, smtp))
    mail = smtp.next_message()
    assert mail.rcpt_tos == ["a@example.com", "b@example.com"]
    assert mail.message["Subject"] == "Échec du rapport"
    assert "<b>é</b>" in mail.html


def test_send_email_logs_in_with_the_login_of_the_named_connection(smtp: SmtpServer, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCTL_CONN_MAIL_RELAY", "smtp://relay-user:s3cret-pw@ignored:25")
    settings = _settings(tmp_path, smtp, FLOWCTL__SMTP__SMTP_USER="config-user",
                         FLOWCTL__SMTP__SMTP_PASSWORD="config-pw")
    send_email("a@example.com", "s", "b", conn_id="mail_relay", settings=settings)
    assert smtp.next_message().login == "relay-user"
    send_email("a@example.com", "s", "b", settings=settings)
    assert smtp.next_message().login == "config-user"


def test_a_server_that_drops_the_connection_is_tried_again_up_to_the_retry_limit(tmp_path: Path) -> None:
    with running_smtp_server(drop_first=2) as server:
        send_email("a@example.com", "s", "b", settings=_settings(tmp_path, server,
                                                                FLOWCTL__SMTP__SMTP_RETRY_LIMIT="3"))
        assert server.next_message().rcpt_tos == ["a@example.com"] and server.connections == 3
    with running_smtp_server(drop_first=2) as server:
        with pytest.raises(smtplib.SMTPServerDisconnected):
            send_email("a@example.com", "s", "b", settings=_settings(tmp_path, server,
                                                                    FLOWCTL__SMTP__SMTP_RETRY_LIMIT="2"))
        assert server.nothing_received() and server.connections == 2


def test_without_an_smtp_host_send_email_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[smtp\] smtp_host is not set"):
        send_email("a@example.com", "s", "b", settings=_settings(tmp_path, None))


def test_a_dry_run_builds_the_message_and_sends_nothing(smtp: SmtpServer, tmp_path: Path) -> None:
    send_email("a@example.com", "s", "b", dryrun=True, settings=_settings(tmp_path, smtp))
    assert smtp.nothing_received() and smtp.connections == 0
    send_email("a@example.com", "s", "b", dryrun=True, settings=_settings(tmp_path, None))  # needs no server
    with pytest.raises(FileNotFoundError):
        send_email("a@example.com", "s", "b", files=[str(tmp_path / "missing.csv")], dryrun=True,
                   settings=_settings(tmp_path, None))


def test_no_recipient_at_all_is_an_error(smtp: SmtpServer, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one recipient"):
        send_email(" ; , ", "s", "b", settings=_settings(tmp_path, smtp))
