"""The task's own callback for a try that died without recording its end (a zombie, a crashed worker).

The scheduler records such a try as failed or up for retry (``scheduler/recovery.py``)
but never runs user code; it starts ``python -m flowctl.scheduler.callback_main --task``,
which calls :func:`run_dead_try_callback` here: import the DAG file, rebuild the try's
context (``exception`` is the reason the scheduler gave), and call the task's
``on_failure_callback`` (or ``on_retry_callback``), as Airflow does for zombies.
What the callback logs and prints is appended to the try's log file, secrets
masked. A callback that raises is logged and changes nothing.
Must not import web, cli or scheduler.
"""
from __future__ import annotations

import logging
import socket
from typing import Any

from flowctl.core.keys import TaskInstanceKey
from flowctl.core.masking import SecretsMasker
from flowctl.settings import Settings
from flowctl.task_runner import dagfile, secrets
from flowctl.task_runner.execution import run_callbacks
from flowctl.task_runner.logs import LogSink, TryLogCapture, log_path, open_log_file
from flowctl.task_runner.preparation import fresh_task, make_context, run_info, unmap_task
from flowctl.task_runner.runner import utcnow
from flowctl.task_runner.taskinstance import RuntimeTaskInstance, StoreBackend

log = logging.getLogger("flowctl.task")
#: The task callback for each state the scheduler gives a dead try.
CALLBACK_BY_STATE = {"failed": "on_failure_callback", "up_for_retry": "on_retry_callback"}


def run_dead_try_callback(settings: Settings, store: Any, fileloc: str, key: TaskInstanceKey, try_number: int,
                          state: str, reason: str) -> bool:
    """Call the task's callback for dead try ``try_number`` now in ``state``; False if one raised."""
    name = CALLBACK_BY_STATE.get(state)
    if name is None:
        raise ValueError(f"no task callback for state {state!r} (expected one of {', '.join(CALLBACK_BY_STATE)})")
    masker = SecretsMasker()
    with open_log_file(log_path(settings.base_log_folder, key, try_number)) as stream:
        capture = TryLogCapture(LogSink(stream, masker), str(settings.get("logging", "logging_level")))
        with capture, secrets.installed(store, masker) as backend:
            log.error("The try ended without recording its state: %s; it is now %s. Running %s.",
                      reason, state, name)
            context = _context(settings, store, fileloc, key, try_number, reason, backend)
            return run_callbacks(getattr(context["task"], name, None), context, name)


def _context(settings: Settings, store: Any, fileloc: str, key: TaskInstanceKey, try_number: int,
             reason: str, backend: secrets.MaskingBackend) -> dict[str, Any]:
    dag = dagfile.load_dag(fileloc, key.dag_id)
    task = fresh_task(dagfile.get_task(dag, key.task_id))
    row = store.get_task_instance(key)
    run = store.get_run(key.dag_id, key.run_id)
    ti = RuntimeTaskInstance(key, task, try_number, row.max_tries, StoreBackend(store, utcnow),
                             hostname=row.hostname or socket.gethostname(), start_date=row.start_date, row=row)
    ti.record_end(row.state, row.end_date, row.duration)  # as the scheduler recorded the dead try
    context = make_context(dag, task, run_info(run), ti, var_lookup=secrets.variable_lookup(backend),
                           conn_lookup=secrets.connection_lookup(backend._masker),
                           prev_success=store.previous_success(key.dag_id, run.logical_date),
                           extra={"external_state_lookup": store.external_states, "map_index": key.map_index,
                                  "exception": reason, "reason": reason})
    unmap_task(task, key.map_index, context)
    return context

