"""Run details and task-instance pages, and the JSON log endpoint that follows a running try — blueprint ``runs``.

``/dags/<dag_id>/runs/<run_id>`` (type, conf, data interval, timings, task
list) and ``/dags/<dag_id>/runs/<run_id>/tasks/<task_id>?try=N&map_index=M``
(every try with its log, rendered template fields, XComs, and why it is not
running, from the pure planner's ``explain``). ``…/log?try=&offset=`` returns
the log from a byte offset so the page can poll a running try.
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify, request

from flowctl.core.keys import TaskInstanceKey
from flowctl.core.states import TaskInstanceState
from flowctl.db.records import DagRunRecord, TaskInstanceRecord
from flowctl.web import context
from flowctl.web.auth import requires_dag
from flowctl.web.dag_views import DagPage, render_dag, serialized_for
from flowctl.web.permissions import Perm

bp = Blueprint("runs", __name__)
LOG_CHUNK = 512 * 1024
QUIET_STATES = frozenset({TaskInstanceState.RUNNING.value, TaskInstanceState.SUCCESS.value,
                          TaskInstanceState.SKIPPED.value, TaskInstanceState.FAILED.value,
                          TaskInstanceState.REMOVED.value})


@dataclass(frozen=True, slots=True)
class TryRow:
    """One try of a task instance as the page lists it."""

    try_number: int
    state: str
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    hostname: str | None


@bp.route("/dags/<dag_id>/runs/<run_id>")
@requires_dag(Perm.READ)
def run_details(dag_id: str, run_id: str) -> Any:
    """One run: its type, state, conf, data interval, timings and task instances."""
    store = context.store()
    run = store.get_run(dag_id, run_id)
    page = DagPage(store.get_dag(dag_id), serialized_for(dag_id, run), run)
    tis = store.list_task_instances(run.key)
    return render_dag("dag/run.html", page, "run", tis=tis)


def _task_spec(data: Mapping[str, Any], task_id: str) -> Mapping[str, Any]:
    return next((t for t in data.get("tasks") or () if str(t["task_id"]) == task_id), {})


def try_rows(ti: TaskInstanceRecord, history: list[Any]) -> list[TryRow]:
    """Finished tries from history plus the current one (when history does not hold it yet)."""
    rows = [TryRow(h.try_number, h.state, h.start_date, h.end_date, h.duration, h.hostname) for h in history]
    if ti.try_number > 0 and all(r.try_number != ti.try_number for r in rows):
        rows.append(TryRow(ti.try_number, ti.state, ti.start_date, ti.end_date, ti.duration, ti.hostname))
    return sorted(rows, key=lambda r: r.try_number)


def _ti_key(dag_id: str, run_id: str, task_id: str) -> TaskInstanceKey:
    return TaskInstanceKey(dag_id, run_id, task_id, request.args.get("map_index", -1, type=int))


@bp.route("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>")
@requires_dag(Perm.READ)
def task_instance(dag_id: str, run_id: str, task_id: str) -> Any:
    """A task instance: tries and logs, rendered fields, XComs, failed dependencies."""
    store = context.store()
    run = store.get_run(dag_id, run_id)
    page = DagPage(store.get_dag(dag_id), serialized_for(dag_id, run), run)
    key = _ti_key(dag_id, run_id, task_id)
    mapped = [t for t in store.list_task_instances(run.key) if t.task_id == task_id and t.map_index >= 0]
    if key.map_index < 0 and mapped:
        return render_dag("dag/mapped.html", page, "task", task_id=task_id, mapped=mapped)
    ti = store.get_task_instance(key)
    tries = try_rows(ti, store.list_tries(key))
    chosen = request.args.get("try", type=int) or (tries[-1].try_number if tries else 0)
    log = read_log(log_file(key, chosen), 0) if chosen else None
    xcoms = [x for x in store.list_xcoms(run.key, task_id) if x.map_index == key.map_index]
    return render_dag("dag/task_instance.html", page, "task", ti=ti, task=_task_spec(page.data, task_id),
                      tries=tries, chosen_try=chosen, log=log, xcoms=xcoms,
                      following=ti.state == TaskInstanceState.RUNNING.value and chosen == ti.try_number,
                      reasons=failed_dependencies(run, page.data, ti))


def failed_dependencies(run: DagRunRecord, data: Mapping[str, Any], ti: TaskInstanceRecord) -> list[str]:
    """Why the task instance is not running (empty when it runs, ran, or nothing holds it)."""
    if ti.state in QUIET_STATES:
        return []
    from flowctl.core.planner import Capacity, RunView, explain, task_graph

    store = context.store()
    states = {(t.task_id, t.map_index): t.state for t in store.list_task_instances(run.key)}
    earlier = [r for r in store.run_window(run.dag_id, 0, 50) if r.logical_date < run.logical_date]
    previous = ({(t.task_id, t.map_index): t.state for t in store.list_task_instances(earlier[0].key)}
                if earlier else None)
    pools = {u.pool: u.open_slots for u in store.pool_usage() if u.open_slots is not None and u.pool == ti.pool}
    view = RunView(key=run.key, graph=task_graph(data), states=states, run_state=run.state,
                   start_date=run.start_date, previous=previous, dag_paused=store.get_dag(run.dag_id).is_paused,
                   capacity=Capacity(pool_free=pools))
    return explain(view, ti.task_id, context.now())


def log_file(key: TaskInstanceKey, try_number: int) -> Path:
    """The log file of one try under ``[logging] base_log_folder`` (the task runner's layout)."""
    from flowctl.task_runner.logs import log_path

    return log_path(context.settings().base_log_folder, key, try_number)


@dataclass(frozen=True, slots=True)
class LogChunk:
    text: str
    offset: int
    exists: bool


def read_log(path: Path, offset: int, limit: int = LOG_CHUNK) -> LogChunk:
    """Up to ``limit`` bytes of a log from byte ``offset`` (whole lines only, unless one is huge)."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(offset, 0))
            data = handle.read(limit)
    except OSError:
        return LogChunk("", offset, False)
    if len(data) == limit and b"\n" in data:
        data = data[: data.rindex(b"\n") + 1]
    return LogChunk(data.decode("utf-8", errors="replace"), max(offset, 0) + len(data), True)


@bp.route("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>/log")
@requires_dag(Perm.READ)
def task_log(dag_id: str, run_id: str, task_id: str) -> Any:
    """JSON ``{text, offset, exists, running, state}`` of one try's log from ``?offset=``."""
    key = _ti_key(dag_id, run_id, task_id)
    ti = context.store().get_task_instance(key)
    chosen = request.args.get("try", type=int) or max(ti.try_number, 1)
    chunk = read_log(log_file(key, chosen), request.args.get("offset", 0, type=int) or 0)
    running = ti.state == TaskInstanceState.RUNNING.value and chosen == ti.try_number
    return jsonify({"text": chunk.text, "offset": chunk.offset, "exists": chunk.exists,
                    "running": running, "state": ti.state, "try": chosen})
