"""Run details and task-instance pages, and the log endpoints behind them — blueprint ``runs``.

``/dags/<dag_id>/runs/<run_id>`` (type, conf, data interval, timings, task
list) and ``/dags/<dag_id>/runs/<run_id>/tasks/<task_id>?try=N&map_index=M``
(every try with its log, rendered template fields, XComs, and why it is not
running, from the pure planner's ``explain``). ``…/log?try=&offset=`` returns
the log from a byte offset, one chunk at a time: the page fetches chunk after
chunk to the end of a long log and polls a running try. ``…/log/download?try=``
sends the whole file as plain text (what the page shows: the task runner
masked the secrets as it wrote each line). A sensor in reschedule mode holds
``try_number - 1`` between pokes, as in Airflow: the pages show the try being
poked (:func:`shown_try`).
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from flask import Blueprint, Response, abort, jsonify, request

from flowctl.core.deferral import describe_wait
from flowctl.core.keys import TaskInstanceKey
from flowctl.core.states import TaskInstanceState
from flowctl.db.records import DagRunRecord, TaskInstanceRecord
from flowctl.web import context
from flowctl.web.api_params import check_map_index
from flowctl.web.auth import requires_dag
from flowctl.web.dag_views import DagPage, is_active, render_dag, serialized_for
from flowctl.web.permissions import Perm
from flowctl.web.try_logs import log_file, parse_log_offset, try_log, whole_log

bp = Blueprint("runs", __name__)
DOWNLOAD_BLOCK = 64 * 1024
#: States a reschedule-mode sensor passes through between pokes, its try_number one behind.
BETWEEN_POKES = frozenset({TaskInstanceState.SCHEDULED.value, TaskInstanceState.QUEUED.value})
#: States between two runs of one try (its row holds try_number - 1 until the next claim).
_BETWEEN_RUNS_OF_A_TRY = frozenset({TaskInstanceState.UP_FOR_RESCHEDULE.value, TaskInstanceState.DEFERRED.value})
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
    return render_dag("dag/run.html", page, "run", tis=tis, active=is_active([run]),
                      try_of=lambda ti: shown_try(ti.state, ti.try_number, poked=False))


def _task_spec(data: Mapping[str, Any], task_id: str) -> Mapping[str, Any]:
    return next((t for t in data.get("tasks") or () if str(t["task_id"]) == task_id), {})


def shown_try(state: str, try_number: int, *, poked: bool) -> int:
    """The try a task instance is in. A reschedule-mode sensor between pokes holds ``try_number - 1``
    (the next claim adds one back): up_for_reschedule, and scheduled / queued when the next try
    was already ``poked``, show ``try_number + 1``, the try whose log the pokes append to."""
    if state in _BETWEEN_RUNS_OF_A_TRY or (poked and state in BETWEEN_POKES):
        return try_number + 1
    return try_number


def current_try(ti: TaskInstanceRecord) -> int:
    """:func:`shown_try` of a stored task instance (one look at its pokes when it is scheduled or queued;
    a deferred task that is to resume, next_method set, is still in its try too)."""
    poked = (ti.state in BETWEEN_POKES
             and (ti.next_method is not None or context.store().reschedule_history(ti.key, ti.try_number + 1)[1] > 0))
    return shown_try(ti.state, ti.try_number, poked=poked)


def log_grows(ti: TaskInstanceRecord, chosen: int, current: int) -> bool:
    """Whether try ``chosen``'s log may still grow (the page follows it): it is the ``current`` try and
    runs, or is between runs of itself (deferred: the triggerer adds its trigger's lines; a sensor
    between pokes; a resumed try not started yet)."""
    return chosen == current and (ti.state == TaskInstanceState.RUNNING.value or current > ti.try_number)


def try_rows(ti: TaskInstanceRecord, history: list[Any], current: int) -> list[TryRow]:
    """Finished tries from history plus the ``current`` one (when history does not hold it yet)."""
    rows = [TryRow(h.try_number, h.state, h.start_date, h.end_date, h.duration, h.hostname) for h in history]
    if current > 0 and all(r.try_number != current for r in rows):
        rows.append(TryRow(current, ti.state, ti.start_date, ti.end_date, ti.duration, ti.hostname))
    return sorted(rows, key=lambda r: r.try_number)


def _ti_key(dag_id: str, run_id: str, task_id: str) -> TaskInstanceKey:
    map_index = request.args.get("map_index", -1, type=int)
    check_map_index(map_index)  # 404, never an integer the database cannot hold
    return TaskInstanceKey(dag_id, run_id, task_id, map_index)


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
    current = current_try(ti)
    tries = try_rows(ti, store.list_tries(key), current)
    chosen = request.args.get("try", type=int) or (tries[-1].try_number if tries else 0)
    log, size = try_log(key, chosen, ti, 0) if chosen else (None, 0)
    xcoms = [x for x in store.list_xcoms(run.key, task_id) if x.map_index == key.map_index]
    return render_dag("dag/task_instance.html", page, "task", ti=ti, task=_task_spec(page.data, task_id),
                      tries=tries, chosen_try=chosen, current_try=current, log=log,
                      log_size=size, xcoms=xcoms,
                      following=log_grows(ti, chosen, current),
                      reasons=failed_dependencies(run, page.data, ti))


def failed_dependencies(run: DagRunRecord, data: Mapping[str, Any], ti: TaskInstanceRecord) -> list[str]:
    """Why the task instance is not running (empty when it runs, ran, or nothing holds it)."""
    if ti.state in QUIET_STATES:
        return []
    from flowctl.core.planner import Capacity, RunView, explain, task_graph

    store = context.store()
    if ti.state == TaskInstanceState.DEFERRED.value:
        deferral = store.deferral_of(ti.key)
        return [] if deferral is None else [describe_wait(deferral.classpath, deferral.next_method,
                                                          deferral.trigger_timeout, deferral.triggerer_id is not None)]
    states = {(t.task_id, t.map_index): t.state for t in store.list_task_instances(run.key)}
    earlier = [r for r in store.run_window(run.dag_id, 0, 50) if r.logical_date < run.logical_date]
    previous = ({(t.task_id, t.map_index): t.state for t in store.list_task_instances(earlier[0].key)}
                if earlier else None)
    pools = {u.pool: u.open_slots for u in store.pool_usage() if u.open_slots is not None and u.pool == ti.pool}
    view = RunView(key=run.key, graph=task_graph(data), states=states, run_state=run.state,
                   start_date=run.start_date, previous=previous, dag_paused=store.get_dag(run.dag_id).is_paused,
                   capacity=Capacity(pool_free=pools),
                   starts_at=run.logical_date if run.state == "queued" and run.run_type == "manual" else None)
    return explain(view, ti.task_id, context.now())


@bp.route("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>/log")
@requires_dag(Perm.READ)
def task_log(dag_id: str, run_id: str, task_id: str) -> Any:
    """JSON ``{text, offset, size, more, exists, running, state, try}`` of one try's log from ``?offset=``
    (``more``: the file goes on past this chunk; ask again from ``offset``; ``running``: the try is not
    over, its log may grow, a deferred one's too)."""
    key = _ti_key(dag_id, run_id, task_id)
    ti = context.store().get_task_instance(key)
    current = current_try(ti)
    chosen = request.args.get("try", type=int) or max(current, 1)
    try:
        offset = parse_log_offset(request.args.get("offset"))
    except ValueError as error:
        abort(400, description=str(error))
    chunk, size = try_log(key, chosen, ti, offset)
    running = log_grows(ti, chosen, current)
    return jsonify({"text": chunk.text, "offset": chunk.offset, "size": size, "more": chunk.offset < size,
                    "exists": chunk.exists, "running": running, "state": ti.state, "try": chosen})


@bp.route("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>/log/download")
@requires_dag(Perm.READ)
def download_log(dag_id: str, run_id: str, task_id: str) -> Any:
    """One try's whole log file as ``text/plain`` (an attachment), streamed from disk."""
    key = _ti_key(dag_id, run_id, task_id)
    ti = context.store().get_task_instance(key)  # TaskInstanceNotFound -> 404
    current = current_try(ti)
    chosen = request.args.get("try", type=int) or current
    remote = None
    try:
        if not 1 <= chosen <= current:
            raise FileNotFoundError(chosen)
        handle = log_file(key, chosen).open("rb")
    except OSError:
        remote = whole_log(key, chosen, ti) if 1 <= chosen <= current else None
        if remote is None:
            abort(404, description=f"no log file for try {chosen} of {task_id} (its tries: 1 to {current})")
    if remote is not None:  # the worker that ran the try has it
        response = Response(remote, mimetype="text/plain")
        size = len(remote)
    else:
        size = os.fstat(handle.fileno()).st_size
        response = Response(_blocks(handle, size), mimetype="text/plain")
        response.call_on_close(handle.close)  # also when the body is never read
    response.headers["Content-Length"] = str(size)
    response.headers["Content-Disposition"] = f'attachment; filename="{download_name(key, chosen)}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _blocks(handle: BinaryIO, size: int) -> Iterator[bytes]:
    """The first ``size`` bytes of an open file, 64 KB at a time: a running try's log grows
    meanwhile, and the response sends the length it announced."""
    left = size
    while left > 0:
        block = handle.read(min(DOWNLOAD_BLOCK, left))
        if not block:
            return
        left -= len(block)
        yield block


def download_name(key: TaskInstanceKey, try_number: int) -> str:
    """``<dag_id>__<run_id>__<task_id>[__<map_index>]__attempt=<n>.log``, with only safe characters."""
    parts = [key.dag_id, key.run_id, key.task_id] + ([str(key.map_index)] if key.map_index >= 0 else [])
    name = "__".join(parts + [f"attempt={try_number}"])
    return re.sub(r"[^A-Za-z0-9._=+-]", "_", name) + ".log"
