"""email_on_failure / email_on_retry: a real try, a real SMTP conversation (tests/operators/smtp_server.py)."""
from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from flowctl.core.keys import TaskInstanceKey
from flowctl.core.states import TaskInstanceState
from flowctl.executors import load_executor
from flowctl.settings import Settings
from flowctl.task_runner import run_workload
from flowctl.task_runner.alerts import TryAlert, alert_flag
from flowctl.task_runner.runner import TryResult, log_url

from tests.executors.conftest import collect
from tests.operators.smtp_server import SmtpServer, closed_port, running_smtp_server
from tests.task_runner.conftest import World

ALERTS = '''
from datetime import datetime, timedelta
from flowctl import DAG
from flowctl.operators.python import PythonOperator

def boom():
    raise ValueError("kaput <b>here</b>")

def leaks():
    from flowctl.hooks.base import BaseHook
    raise ValueError("login failed with " + BaseHook.get_connection("warehouse").password)

with DAG("alerts", start_date=datetime(2024, 1, 1), schedule=None,
         default_args={"email": "oncall@example.com; lead@example.com"}) as dag:
    PythonOperator(task_id="fails", python_callable=boom)
    PythonOperator(task_id="retries", python_callable=boom, retries=1, retry_delay=timedelta(seconds=30))
    PythonOperator(task_id="no_failure_mail", python_callable=boom, email_on_failure=False)
    PythonOperator(task_id="no_retry_mail", python_callable=boom, retries=1, email_on_retry=False)
    PythonOperator(task_id="succeeds", python_callable=lambda: 1)
    PythonOperator(task_id="nobody", python_callable=boom, email=None)
    PythonOperator(task_id="leaks", python_callable=leaks)
'''


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


def _mailing(world: World, port: int, host: str = "127.0.0.1") -> Settings:
    return world.settings.replace(smtp__smtp_host=host, smtp__smtp_port=port, smtp__smtp_starttls=False,
                                  smtp__smtp_mail_from="flowctl@ops.example.com")


def _run(world: World, settings: Settings, task_id: str) -> TryResult:
    fileloc = world.write_dags("alerts", ALERTS)
    run = world.make_run("alerts")
    return run_workload(world.queue(run, task_id, fileloc), settings, world.store)


def test_a_failed_try_emails_the_tasks_addresses_after_its_state_is_recorded(world: World, smtp: SmtpServer) -> None:
    states: list[str] = []
    key = TaskInstanceKey("alerts", "manual__2024-01-01T00:00:00+00:00", "fails")
    smtp.on_message = lambda _: states.append(world.store.get_task_instance(key).state)
    result = _run(world, _mailing(world, smtp.port), "fails")
    assert result.key == key and result.state == "failed"
    mail = smtp.next_message()
    assert states == ["failed"]  # the alert went out once the end was written
    assert mail.mail_from == "flowctl@ops.example.com"
    assert mail.rcpt_tos == ["oncall@example.com", "lead@example.com"]
    message = mail.message
    assert message["Subject"] == f"flowctl alert: <TaskInstance: alerts.fails {key.run_id} [failed]>"
    assert message["To"] == "oncall@example.com, lead@example.com"
    body = mail.html
    assert "Try 1 out of 1" in body
    assert "ValueError: kaput &lt;b&gt;here&lt;/b&gt;" in body
    url = log_url(world.settings, key, 1).replace("&", "&amp;")
    assert f'<a href="{url}">' in body
    assert f"Host: {socket.gethostname()}" in body
    assert "Sent the email_on_failure e-mail to oncall@example.com, lead@example.com" in world.log_text(key, 1)
    assert smtp.nothing_received()


def test_a_try_going_up_for_retry_sends_a_retry_alert(world: World, smtp: SmtpServer) -> None:
    result = _run(world, _mailing(world, smtp.port), "retries")
    assert result.state == "up_for_retry"
    mail = smtp.next_message()
    subject = f"flowctl alert: <TaskInstance: alerts.retries {result.key.run_id} [up_for_retry]>"
    assert mail.message["Subject"] == subject
    assert "Try 1 out of 2" in mail.html
    assert "Sent the email_on_retry e-mail" in world.log_text(result.key, 1)


def test_a_try_forked_by_the_local_executor_sends_its_alert_from_its_own_process(world: World,
                                                                                  smtp: SmtpServer) -> None:
    url = world.store.engine.url.render_as_string(hide_password=False)
    settings = _mailing(world, smtp.port).replace(database__sql_alchemy_conn=url)
    fileloc = world.write_dags("alerts", ALERTS)
    workload = world.queue(world.make_run("alerts"), "fails", fileloc)
    executor = load_executor("local", settings)
    executor.start()
    try:
        executor.submit(workload)
        collect(executor, 1)
        mail = smtp.next_message(timeout=20)
    finally:
        executor.end()
    assert world.store.get_task_instance(workload.key).state == "failed"
    assert mail.message["Subject"] == f"flowctl alert: <TaskInstance: alerts.fails {workload.key.run_id} [failed]>"
    assert mail.rcpt_tos == ["oncall@example.com", "lead@example.com"]


def test_a_secret_in_the_error_is_masked_in_the_alert_as_in_the_log(world: World, smtp: SmtpServer,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCTL_CONN_WAREHOUSE", "postgresql://etl:Sup3r-s3cret-pw@db/warehouse")
    result = _run(world, _mailing(world, smtp.port), "leaks")
    assert result.state == "failed"
    body = smtp.next_message().html
    assert "ValueError: login failed with ***" in body and "Sup3r-s3cret-pw" not in body


@pytest.mark.parametrize("task_id", ["no_failure_mail", "no_retry_mail", "succeeds", "nobody"])
def test_no_mail_is_sent_when_the_task_does_not_ask_for_one(world: World, smtp: SmtpServer, task_id: str) -> None:
    result = _run(world, _mailing(world, smtp.port), task_id)
    assert result.state in ("failed", "up_for_retry", "success")
    assert smtp.nothing_received()
    assert "e-mail" not in world.log_text(result.key, 1)


def test_without_an_smtp_host_the_log_says_no_mail_was_sent_and_the_try_ends_as_usual(world: World) -> None:
    result = _run(world, world.settings, "fails")
    assert result.state == "failed"
    assert world.store.get_task_instance(result.key).state == "failed"
    log = world.log_text(result.key, 1)
    assert log.count("email_on_failure is set but [smtp] smtp_host is not: no e-mail sent") == 1


def test_an_unreachable_smtp_server_leaves_the_state_recorded_and_the_log_says_why(world: World) -> None:
    port = closed_port()
    result = _run(world, _mailing(world, port), "retries")
    assert result.state == "up_for_retry"
    ti = world.store.get_task_instance(result.key)
    assert ti.state == "up_for_retry" and ti.next_retry_at is not None
    log = world.log_text(result.key, 1)
    assert (f"No email_on_retry e-mail sent to oncall@example.com, lead@example.com: sending through "
            f"127.0.0.1:{port} failed: ConnectionRefusedError") in log


def test_the_alert_names_a_mapped_index_as_airflow_does() -> None:
    alert = TryAlert(TaskInstanceKey("d", "r", "t", 3), "failed", 2, 2, None, "http://x/log?a=1&b=2", "host-1")
    assert alert.subject == "flowctl alert: <TaskInstance: d.t r map_index=3 [failed]>"
    assert "Try 2 out of 3" in alert.html_content
    assert 'href="http://x/log?a=1&amp;b=2"' in alert.html_content


class _Task:
    email = "a@example.com"
    email_on_failure = True
    email_on_retry = False


def test_which_flag_asks_for_an_alert() -> None:
    assert alert_flag(_Task(), TaskInstanceState.FAILED) == "email_on_failure"
    assert alert_flag(_Task(), TaskInstanceState.UP_FOR_RETRY) is None
    assert alert_flag(_Task(), TaskInstanceState.SUCCESS) is None
    assert alert_flag(None, TaskInstanceState.FAILED) is None


def test_a_try_that_died_without_recording_its_end_still_gets_its_failure_alert(world: World,
                                                                             smtp: SmtpServer) -> None:
    """Before: a zombie or a crashed worker's try (OOM-killed, say) was recorded failed by the scheduler
    and sent no e-mail; Airflow's zombie handling sends email_on_failure as for any failed try."""
    from flowctl.task_runner.dead_try import run_dead_try_callback

    fileloc = world.write_dags("alerts", ALERTS)
    workload = world.queue(world.make_run("alerts"), "fails", fileloc)
    key = workload.key
    world.store.set_task_state(key, "queued", "running")
    world.store.set_task_state(key, "running", "failed")
    assert run_dead_try_callback(_mailing(world, smtp.port), world.store, fileloc, key, 1, "failed",
                                 "zombie: no heartbeat for over 60s")
    mail = smtp.next_message()
    assert mail.message["Subject"] == f"flowctl alert: <TaskInstance: alerts.fails {key.run_id} [failed]>"
    assert "zombie: no heartbeat for over 60s" in mail.html
    assert "Sent the email_on_failure e-mail" in world.log_text(key, 1)
    assert smtp.nothing_received()
