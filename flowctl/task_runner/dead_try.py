"""The task's own callback for a try that died without recording its end (a zombie, a crashed worker).

The scheduler records such a try as failed or up for retry (``scheduler/recovery.py``)
but never runs user code; it starts ``python -m flowctl.scheduler.callback_main --task``,
which calls :func:`run_dead_try_callback` here: import the DAG file, rebuild the try's
context (``exception`` is the reason the scheduler gave), and call the task's
``on_failure_callback`` (or ``on_retry_callback``), as Airflow does for zombies; before it, the
task's ``email_on_failure`` / ``email_on_retry`` alert goes out as a try's own would (alerts.py).
What the callback logs and prints is appended to the try's log file, secrets
masked. A callback that raises is logged and changes nothing.
Must not import web, cli or scheduler.
"""
from __future__ import annotations

import logging
import socket
from typing import Any

from flowctl.core.keys import TaskInstanceKey
from flowctl.core.masking import try_masker
from flowctl.settings import Settings
from flowctl.task_runner import alerts, dagfile, secrets
from flowctl.task_runner.callback_context import recorded_try_context
from flowctl.task_runner.execution import run_callbacks
from flowctl.task_runner.logs import LogSink, TryLogCapture, log_path, open_log_file

log = logging.getLogger("flowctl.task")
#: The task callback for each state the scheduler gives a dead try.
CALLBACK_BY_STATE = {"failed": "on_failure_callback", "up_for_retry": "on_retry_callback"}


def run_dead_try_callback(settings: Settings, store: Any, fileloc: str, key: TaskInstanceKey, try_number: int,
                          state: str, reason: str) -> bool:
    """Call the task's callback for dead try ``try_number`` now in ``state``; False if one raised."""
    name = CALLBACK_BY_STATE.get(state)
    if name is None:
        raise ValueError(f"no task callback for state {state!r} (expected one of {', '.join(CALLBACK_BY_STATE)})")
    masker = try_masker()
    with open_log_file(log_path(settings.base_log_folder, key, try_number)) as stream:
        capture = TryLogCapture(LogSink(stream, masker), str(settings.get("logging", "logging_level")))
        with capture, secrets.installed(store, masker) as backend:
            log.error("The try ended without recording its state: %s; it is now %s. Running %s.",
                      reason, state, name)
            context = _context(settings, store, fileloc, key, try_number, reason, backend)
            _alert(settings, context, key, try_number, state, masker.redact_text(reason))
            return run_callbacks(getattr(context["task"], name, None), context, name)


def _alert(settings: Settings, context: dict[str, Any], key: TaskInstanceKey, try_number: int, state: str,
           reason: str) -> None:
    """The task's e-mail alert for the dead try, if it asks for one."""
    from flowctl.core.states import TaskInstanceState
    from flowctl.task_runner.runner import log_url

    task = context["task"]
    if alerts.alert_flag(task, TaskInstanceState(state)) is None:
        return
    ti = context["ti"]
    alert = alerts.TryAlert(key, state, try_number, int(getattr(ti, "max_tries", 0) or 0), reason,
                            log_url(settings, key, try_number), getattr(ti, "hostname", None) or socket.gethostname())
    alerts.send_alert(task, alert, settings)


def _context(settings: Settings, store: Any, fileloc: str, key: TaskInstanceKey, try_number: int,
             reason: str, backend: secrets.MaskingBackend) -> dict[str, Any]:
    dag = dagfile.load_dag(fileloc, key.dag_id)
    task = dagfile.get_task(dag, key.task_id)
    return recorded_try_context(settings, store, dag, task, store.get_task_instance(key),
                                store.get_run(key.dag_id, key.run_id), try_number, backend,
                                {"exception": reason, "reason": reason})
