"""Running a task outside the scheduler: ``tasks test``, ``dags test``, ``tasks render``.

Nothing is written to the database: no state, no rendered fields; XComs and
branch skips go to a :class:`MemoryBackend` (pass the same one to every task
of a ``dags test`` so they see each other's values); reads fall back to the
store when one is given. The log goes to ``log_stream`` (the terminal by
default), masked like a real try's.
Must not import web, cli or scheduler.
"""
from __future__ import annotations

import dataclasses

import logging
import socket
import sys
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, TextIO

from flowctl.core.context import RunInfo
from flowctl.core.keys import TaskInstanceKey
from flowctl.core.mapping import DEFAULT_MAX_MAP_LENGTH, check_mappable_return
from flowctl.core.masking import SecretsMasker, try_masker
from flowctl.settings import Settings
from flowctl.task_runner import secrets
from flowctl.task_runner.execution import TaskTerminated, run_task, terminate_on_sigterm
from flowctl.task_runner.logs import LogSink, TryLogCapture
from flowctl.task_runner.outcome import decide_outcome
from flowctl.task_runner.preparation import fresh_task, make_context, run_info, unmap_task
from flowctl.task_runner.runner import DEFAULT_RETRY_DELAY, TryResult, log_task_error, log_url, utcnow
from flowctl.task_runner.taskinstance import MemoryBackend, RuntimeTaskInstance

log = logging.getLogger("flowctl.task")


def as_run_info(run: Any, dag_id: str) -> RunInfo:
    """``run`` (a RunInfo, or a DagRunRecord-shaped object) as a RunInfo of ``dag_id``."""
    info = run if isinstance(run, RunInfo) else run_info(run)
    return info if info.dag_id == dag_id else dataclasses.replace(info, dag_id=dag_id)


def adhoc_run_info(logical_date: datetime, run_id: str | None = None, conf: dict[str, Any] | None = None,
                   dag: Any = None) -> RunInfo:
    """A manual-looking run at ``logical_date`` for ``tasks test`` / ``tasks render``: with ``dag``,
    its data interval is the one a manual run at that date gets (as a trigger infers it from the
    DAG's timetable); without, an instant interval."""
    start = end = logical_date
    timetable = getattr(dag, "timetable", None)
    if timetable is not None:
        try:
            interval = timetable.infer_manual_data_interval(run_after=logical_date)
            start, end = interval.start, interval.end
        except Exception:  # noqa: BLE001 - a custom timetable that cannot say: an instant, as a trigger does
            pass
    return RunInfo(run_id=run_id or f"__flowctl_test__{logical_date.isoformat()}", logical_date=logical_date,
                   data_interval_start=start, data_interval_end=end, run_type="manual", conf=dict(conf or {}),
                   dag_id=getattr(dag, "dag_id", ""))


def run_for_test(dag: Any, task_id: str, run: Any, store: Any = None, *, memory: MemoryBackend | None = None,
                 map_index: int = -1, log_stream: TextIO | None = None,
                 settings: Settings | None = None) -> TryResult:
    """Run one task of ``dag`` for ``run`` in this process; record nothing; return the outcome
    (``settings``: the loaded settings, for ``[core] max_map_length``; Airflow's defaults without)."""
    max_map_length = DEFAULT_MAX_MAP_LENGTH if settings is None else int(settings.get("core", "max_map_length"))
    info = as_run_info(run, dag.dag_id)
    key = TaskInstanceKey(dag.dag_id, info.run_id, task_id, map_index)
    backend = memory if memory is not None else MemoryBackend(store)
    masker = try_masker()
    task = fresh_task(dag.get_task(task_id))
    ti = RuntimeTaskInstance(key, task, 1, _max_tries(task), backend, hostname=socket.gethostname(),
                             start_date=utcnow(), log_url_of=_log_url_of(settings, key))
    before = set(backend.skipped)
    sink = LogSink(log_stream if log_stream is not None else sys.stdout, masker)
    value: Any = None
    with TryLogCapture(sink), secrets.installed(store, masker) as proxy:
        try:
            with terminate_on_sigterm():
                context = _context(dag, task, info, ti, proxy, masker, store)
                task = unmap_task(task, map_index, context)
                task.render_template_fields(context)
                value = run_task(task, context)
                pushed = value if getattr(task, "do_xcom_push", True) else None
                check_mappable_return(task, pushed, max_map_length)  # None too: a mapped task downstream needs one
                if pushed is not None:
                    ti.xcom_push("return_value", pushed)
            error: BaseException | None = None
        except (Exception, TaskTerminated) as exc:  # noqa: BLE001 - the outcome of the test run
            error = exc
            log_task_error(exc)
        outcome = decide_outcome(error, try_number=1, max_tries=0,
                                 retry_delay=lambda n: DEFAULT_RETRY_DELAY, now=utcnow())
        log.info("Task %s ended: %s", task_id, outcome.state.value)
    return TryResult(key, 1, ran=True, state=outcome.state.value, error=outcome.error,
                     skipped=tuple(sorted(backend.skipped - before)), return_value=value)


def render_for_test(dag: Any, task_id: str, run: Any, store: Any = None, map_index: int = -1, *,
                    settings: Settings | None = None) -> dict[str, Any]:
    """The rendered template fields of one task for ``run`` (``tasks render``), with the secrets the
    rendering read (sensitive variables, connection passwords) masked as ``tasks test``'s log masks
    them; nothing runs."""
    info = as_run_info(run, dag.dag_id)
    key = TaskInstanceKey(dag.dag_id, info.run_id, task_id, map_index)
    masker = try_masker()
    task = fresh_task(dag.get_task(task_id))
    ti = RuntimeTaskInstance(key, task, 1, _max_tries(task), MemoryBackend(store), hostname=socket.gethostname(),
                             log_url_of=_log_url_of(settings, key))
    with secrets.installed(store, masker) as proxy:
        context = _context(dag, task, info, ti, proxy, masker, store)
        task = unmap_task(task, map_index, context)
        rendered = task.render_template_fields(context)
        return {name: masker.redact(value, name) for name, value in rendered.items()}


def _max_tries(task: Any) -> int:
    """``ti.max_tries`` as Airflow's task instance has it (the task's retries); a test run itself never retries."""
    return int(getattr(task, "retries", 0) or 0)


def _context(dag: Any, task: Any, info: RunInfo, ti: Any, proxy: secrets.MaskingBackend,
             masker: SecretsMasker, store: Any) -> dict[str, Any]:
    prev_success = None if store is None else store.previous_success(dag.dag_id, info.logical_date)
    return make_context(dag, task, info, ti, var_lookup=secrets.variable_lookup(proxy),
                        conn_lookup=secrets.connection_lookup(masker), store=store, prev_success=prev_success,
                        extra={"test_mode": True})


def _log_url_of(settings: Settings | None, key: TaskInstanceKey) -> Callable[[], str] | None:
    """``ti.log_url`` as a real try's first try has it (the web UI's address is in ``settings``)."""
    return None if settings is None else partial(log_url, settings, key, 1)
