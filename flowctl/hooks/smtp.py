"""Sending e-mail over SMTP with the ``[smtp]`` settings: Airflow's ``send_email`` (standard library only).

:func:`send_email` is what ``flowctl.utils.email`` re-exports (Airflow's ``airflow.utils.email``
path), what :class:`~flowctl.operators.email.EmailOperator` calls, and what the task runner's
``email_on_failure`` / ``email_on_retry`` alerts use. Recipients are a list or one string with
``,`` or ``;`` between addresses. The server, port, TLS and sender come from ``[smtp]``; the
login is ``[smtp] smtp_user`` / ``smtp_password``, or the login and password of the connection
``conn_id`` when one is named (as Airflow's ``send_email_smtp`` takes them from its connection).

Settings are an argument: callers that hold them (the task runner) pass them; without them the
process's settings are loaded on first use (``flowctl.configuration.conf``), never at import.
Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

import email.policy
import logging
import os
import re
import smtplib
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid
from typing import Any

from flowctl.core.errors import ConfigError

log = logging.getLogger("flowctl.task")
_SEPARATORS = re.compile(r"[,;]")


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how to send: the ``[smtp]`` options, parsed."""

    host: str
    port: int
    starttls: bool
    ssl: bool
    user: str
    password: str
    mail_from: str
    timeout: float
    retry_limit: int

    @classmethod
    def from_settings(cls, settings: Any) -> SmtpServer:
        """The ``[smtp]`` section of ``settings`` (a :class:`~flowctl.settings.Settings`)."""
        def get(key: str) -> Any:
            return settings.get("smtp", key)

        return cls(host=get("smtp_host"), port=int(get("smtp_port")), starttls=bool(get("smtp_starttls")),
                   ssl=bool(get("smtp_ssl")), user=get("smtp_user"), password=get("smtp_password"),
                   mail_from=get("smtp_mail_from"), timeout=float(get("smtp_timeout")),
                   retry_limit=int(get("smtp_retry_limit")))


def addresses(value: str | Iterable[str] | None) -> list[str]:
    """``value`` as a list of addresses: a string is split at ``,`` and ``;``; blanks are dropped."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    found: list[str] = []
    for item in items:
        found.extend(part.strip() for part in _SEPARATORS.split(str(item)) if part.strip())
    return found


def build_message(mail_from: str, to: list[str], subject: str, html_content: str, *,
                  files: Iterable[str] = (), cc: list[str] | None = None, mime_subtype: str = "mixed",
                  mime_charset: str = "utf-8", custom_headers: Mapping[str, Any] | None = None) -> MIMEMultipart:
    """The MIME message: an HTML body plus one attachment per file (Bcc is never a header)."""
    policy = email.policy.SMTP
    message = MIMEMultipart(mime_subtype, policy=policy)
    message["Subject"] = subject
    message["From"] = mail_from
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=mail_from.rpartition("@")[2] or None)
    for name, value in (custom_headers or {}).items():
        message[name] = str(value)
    message.attach(MIMEText(html_content, "html", mime_charset, policy=policy))
    for path in files:
        name = os.path.basename(path)
        with open(path, "rb") as handle:
            part = MIMEApplication(handle.read(), Name=name, policy=policy)
        part["Content-Disposition"] = f'attachment; filename="{name}"'
        part["Content-ID"] = f"<{name}>"
        message.attach(part)
    return message


def deliver(server: SmtpServer, mail_from: str, recipients: list[str], message: MIMEMultipart) -> None:
    """Hand ``message`` to the server; a connection the server drops at once is tried again, up to
    ``retry_limit`` attempts in all (Airflow's ``smtp_retry_limit``); other errors raise at once."""
    for attempt in range(1, server.retry_limit + 1):
        try:
            connection = _connect(server)
        except smtplib.SMTPServerDisconnected:
            if attempt == server.retry_limit:
                raise
            log.info("The SMTP server %s:%d closed the connection; trying again (%d of %d)",
                     server.host, server.port, attempt + 1, server.retry_limit)
            continue
        try:
            connection.sendmail(mail_from, recipients, message.as_bytes())
        finally:
            _close(connection)
        return


def _connect(server: SmtpServer) -> smtplib.SMTP:
    connection: smtplib.SMTP
    if server.ssl:
        connection = smtplib.SMTP_SSL(server.host, server.port, timeout=server.timeout,
                                      context=ssl.create_default_context())
    else:
        connection = smtplib.SMTP(server.host, server.port, timeout=server.timeout)
    try:
        if server.starttls and not server.ssl:
            connection.starttls(context=ssl.create_default_context())
        if server.user and server.password:
            connection.login(server.user, server.password)
    except BaseException:
        _close(connection)
        raise
    return connection


def _close(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):  # the message is sent (or its error raised) already
        connection.close()


def send_email(to: str | Iterable[str], subject: str, html_content: str, files: Iterable[str] | None = None,
               dryrun: bool = False, cc: str | Iterable[str] | None = None, bcc: str | Iterable[str] | None = None,
               mime_subtype: str = "mixed", mime_charset: str = "utf-8", conn_id: str | None = None,
               custom_headers: Mapping[str, Any] | None = None, from_email: str | None = None, *,
               settings: Any = None, **kwargs: Any) -> None:
    """Send an HTML e-mail with the ``[smtp]`` settings (Airflow's ``send_email``).

    ``dryrun`` builds the message and sends nothing. ``conn_id`` names a connection whose login and
    password are used instead of ``[smtp] smtp_user`` / ``smtp_password``. Raises ConfigError when
    ``[smtp] smtp_host`` is not set, and smtplib's or the socket's error when sending fails.
    """
    if kwargs:
        log.warning("send_email ignores the argument(s) %s (flowctl sends with SMTP only)", ", ".join(sorted(kwargs)))
    server = SmtpServer.from_settings(settings if settings is not None else _process_settings())
    to_list, cc_list, bcc_list = addresses(to), addresses(cc), addresses(bcc)
    recipients = to_list + cc_list + bcc_list
    if not recipients:
        raise ValueError("send_email needs at least one recipient (to, cc or bcc)")
    mail_from = from_email or server.mail_from
    message = build_message(mail_from, to_list, subject, html_content, files=files or (), cc=cc_list,
                            mime_subtype=mime_subtype, mime_charset=mime_charset, custom_headers=custom_headers)
    if dryrun:
        log.info("Dry run: not sending the e-mail %r to %s", subject, ", ".join(recipients))
        return
    if not server.host:
        raise ConfigError("[smtp] smtp_host is not set, so flowctl cannot send e-mail "
                          "(set it in config.cfg or as FLOWCTL__SMTP__SMTP_HOST)")
    if conn_id:
        server = _with_login_of(server, conn_id)
    log.info("Sending the e-mail %r to %s through %s:%d", subject, ", ".join(recipients), server.host, server.port)
    deliver(server, mail_from, recipients, message)


def _with_login_of(server: SmtpServer, conn_id: str) -> SmtpServer:
    from flowctl.hooks.base import BaseHook

    connection = BaseHook.get_connection(conn_id)
    return replace(server, user=getattr(connection, "login", None) or "",
                   password=getattr(connection, "password", None) or "")


def _process_settings() -> Any:
    from flowctl.configuration import conf

    return conf.settings


__all__ = ["SmtpServer", "addresses", "build_message", "deliver", "send_email"]
