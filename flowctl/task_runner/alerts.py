"""E-mail alerts of a try that failed or will be retried: Airflow's ``email_on_failure`` / ``email_on_retry``.

A task with an ``email`` (often from ``default_args``) gets one e-mail when a try ends ``failed``
(if ``email_on_failure``, True by default) or ``up_for_retry`` (if ``email_on_retry``, True by
default), as Airflow's ``handle_failure`` sends it: subject ``flowctl alert: <TaskInstance: …>``,
body with the try number, the error, the log's web address and the host. The runner calls
:func:`send_alert` in the try's process after the state is recorded; whatever happens while
sending is one line in the try's log and changes nothing else. With no ``[smtp] smtp_host`` the
log says that no e-mail was sent, so a migrated DAG never loses its alerting silently.

Must not import web, cli or scheduler.
"""
from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from typing import Any

from flowctl.core.keys import TaskInstanceKey
from flowctl.core.states import TaskInstanceState

log = logging.getLogger("flowctl.task")
TI = TaskInstanceState
_FLAG_BY_STATE = {TI.FAILED: "email_on_failure", TI.UP_FOR_RETRY: "email_on_retry"}


@dataclass(frozen=True, slots=True)
class TryAlert:
    """What an alert says about one finished try."""

    key: TaskInstanceKey
    state: str
    try_number: int
    max_tries: int
    error: str | None
    log_url: str
    hostname: str

    @property
    def subject(self) -> str:
        """``flowctl alert: <TaskInstance: dag.task run_id [state]>`` (Airflow's ``Airflow alert: {ti}``)."""
        mapped = f" map_index={self.key.map_index}" if self.key.map_index >= 0 else ""
        return (f"flowctl alert: <TaskInstance: {self.key.dag_id}.{self.key.task_id} "
                f"{self.key.run_id}{mapped} [{self.state}]>")

    @property
    def html_content(self) -> str:
        """The HTML body: try number, error, log link, host."""
        error = html.escape(self.error or "(no error message)").replace("\n", "<br>\n")
        url = html.escape(self.log_url, quote=True)
        return (f"Try {self.try_number} out of {self.max_tries + 1}<br>\n"
                f"Exception:<br>\n{error}<br>\n"
                f'Log: <a href="{url}">{url}</a><br>\n'
                f"Host: {html.escape(self.hostname)}<br>\n")


def alert_flag(task: Any, state: TaskInstanceState) -> str | None:
    """``email_on_failure`` or ``email_on_retry`` when ``task`` asks for an e-mail about ``state``, else None."""
    flag = _FLAG_BY_STATE.get(state)
    if flag is None or task is None or not getattr(task, "email", None):
        return None
    return flag if getattr(task, flag, False) else None


def send_alert(task: Any, alert: TryAlert, settings: Any) -> None:
    """Send ``alert`` to ``task.email`` if the task asks for it; log, never raise, what went wrong."""
    flag = alert_flag(task, TaskInstanceState(alert.state))
    if flag is None:
        return
    host = settings.get("smtp", "smtp_host")
    if not host:
        log.warning("%s is set but [smtp] smtp_host is not: no e-mail sent", flag)
        return
    # Imported here, not at the top: smtplib, ssl and email cost every forked try tens of milliseconds.
    from flowctl.hooks.smtp import addresses, send_email

    to = ", ".join(addresses(task.email))
    try:
        send_email(task.email, alert.subject, alert.html_content, settings=settings)
    except Exception as exc:  # noqa: BLE001 - the try has ended and is recorded: an alert must not change that
        log.error("No %s e-mail sent to %s: sending through %s:%s failed: %s: %s", flag, to, host,
                  settings.get("smtp", "smtp_port"), type(exc).__name__, exc)
        return
    log.info("Sent the %s e-mail to %s", flag, to)


__all__ = ["TryAlert", "alert_flag", "send_alert"]
