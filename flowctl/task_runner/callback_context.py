"""The context of a callback run outside its try: a dead try's task callback, a DAG's run callbacks.

Both get what a try's own callbacks get, built by the one template-context builder
(:func:`flowctl.task_runner.preparation.make_context`), for a task instance as the
database recorded it: ``ti`` / ``task_instance`` carry its recorded state, dates,
duration and ``log_url``; ``params`` are the run's (the DAG's and task's defaults,
overridden by the run's conf). As in Airflow 2, a DAG's on_failure_callback gets
the context of the run's last task instance that failed, its on_success_callback
that of the last one that ended, each with ``reason``
(:func:`callback_task_instance` chooses). A run without task instances gives the
run's context with ``ti`` None.
Must not import web, cli or scheduler.
"""
from __future__ import annotations

import logging
import socket
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from functools import partial
from typing import Any

from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.settings import Settings
from flowctl.task_runner import secrets
from flowctl.task_runner.preparation import fresh_task, make_context, run_info, unmap_task
from flowctl.task_runner.run_reads import StoreReads
from flowctl.task_runner.runner import log_url, utcnow
from flowctl.task_runner.taskinstance import RuntimeTaskInstance, StoreBackend

log = logging.getLogger("flowctl.scheduler.callback")
_EARLIEST = datetime.min.replace(tzinfo=timezone.utc)


def recorded_try_context(settings: Settings | None, store: Any, dag: Any, task: Any, row: Any, run: Any,
                         try_number: int, backend: secrets.MaskingBackend,
                         extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The context of try ``try_number`` of task instance ``row`` (a record) of ``run``, as recorded;
    ``task`` is the DAG's task (copied here), or None when the DAG no longer has it."""
    key = row.key
    task = None if task is None else fresh_task(task)
    ti = RuntimeTaskInstance(key, task, try_number, row.max_tries, StoreBackend(store, utcnow),
                             hostname=row.hostname or socket.gethostname(), start_date=row.start_date,
                             log_url_of=partial(_log_url, settings, key, try_number), row=row)
    ti.record_end(row.state, row.end_date, row.duration)
    context = make_context(dag, task, run_info(run), ti, var_lookup=secrets.variable_lookup(backend),
                           conn_lookup=secrets.connection_lookup(backend._masker), store=store,
                           prev_success=store.previous_success(key.dag_id, run.logical_date), extra=extra)
    if task is not None:
        unmap_task(task, key.map_index, context)
    return context


def dag_callback_context(settings: Settings | None, store: Any, dag: Any, run: Any, kind: str, reason: str,
                         backend: secrets.MaskingBackend) -> dict[str, Any]:
    """What ``dag``'s on_success_callback (``kind`` "success") or on_failure_callback ("failure")
    receives for the finished ``run`` (a DagRunRecord): the task context of the task instance
    :func:`callback_task_instance` chooses, with ``reason``."""
    extra = {"reason": reason}
    row = None
    if store is not None:
        row = callback_task_instance(store.list_task_instances(RunKey(run.dag_id, run.run_id)), kind)
    if row is not None:
        try:
            task = dag.get_task(row.task_id) if _has_task(dag, row.task_id) else None
            return recorded_try_context(settings, store, dag, task, row, run, row.try_number, backend, extra)
        except Exception:  # noqa: BLE001 - the DAG file's code (templates, mapping): the callback runs anyway
            log.exception("DAG %s: cannot build the context of %s for the %s callback; it gets the run's only",
                          run.dag_id, row.key, kind)
    info = run_info(run)
    if store is not None:
        info = info.with_reads(StoreReads(store))
    return make_context(dag, None, info, None, var_lookup=secrets.variable_lookup(backend),
                        conn_lookup=secrets.connection_lookup(backend._masker), store=store, extra=extra)


def callback_task_instance(tis: Sequence[Any], kind: str) -> Any:
    """The task instance whose context a DAG callback gets: for ``kind`` "failure" the last to end
    of those failed (else of those upstream_failed), otherwise the last to end; removed ones never.
    Ties go to the later in ``tis``; None when there is none."""
    present = [ti for ti in tis if ti.state != "removed"]
    if kind == "failure":
        for state in ("failed", "upstream_failed"):
            failed = [ti for ti in present if ti.state == state]
            if failed:
                return _last_to_end(failed)
    return _last_to_end(present) if present else None


def _last_to_end(tis: Sequence[Any]) -> Any:
    return max(enumerate(tis), key=lambda pair: (pair[1].end_date or _EARLIEST, pair[0]))[1]


def _has_task(dag: Any, task_id: str) -> bool:
    has_task = getattr(dag, "has_task", None)
    return bool(has_task(task_id)) if has_task is not None else False


def _log_url(settings: Settings | None, key: TaskInstanceKey, try_number: int) -> str:
    return log_url(settings if settings is not None else Settings.load(), key, max(try_number, 1))
