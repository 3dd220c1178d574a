"""JSON API for what a task instance left behind: its logs per try and its XComs (Airflow 2's shapes).

Owns, under ``/api/v1/dags/<dag_id>/dagRuns/<dag_run_id>/taskInstances/<task_id>``:
``/logs/<try_number>`` (``?map_index=&full_content=&token=``; text/plain, or
``{"content", "continuation_token"}`` with ``Accept: application/json``, read
as the UI's log view reads it: :func:`flowctl.web.try_logs.try_log`, from a worker too) and
``/xcomEntries`` (entries without values, as Airflow's collection; ``~`` for the DAG, run
and / or task lists across them, hiding DAGs the user may not see) and
``/xcomEntries/<key>`` (the value as Airflow gives it: ``str()`` of the Python
value, or JSON with ``stringify=false``).
A blueprint nested in :mod:`flowctl.web.api_task_instances`' (registered there).
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from flowctl.core.errors import TaskInstanceNotFound
from flowctl.core.keys import TaskInstanceKey
from flowctl.db.xcom import XComQuery
from flowctl.web import context
from flowctl.web.api import ALL
from flowctl.web.api_params import PAGING, bad, bool_arg, check_known_args, map_index_arg, paging
from flowctl.web.api_shapes import xcom_entry_json, xcom_json, xcom_native, xcom_text
from flowctl.web.auth import hidden_dags, requires_dag
from flowctl.web.permissions import Perm
from flowctl.web.run_views import current_try
from flowctl.web.try_logs import LogChunk, parse_log_offset, try_log

bp = Blueprint("logs", __name__)
TI_URL = "/dags/<dag_id>/dagRuns/<run_id>/taskInstances/<task_id>"
MAX_FULL_LOG = 64 * 1024 * 1024  # full_content stops here: a runaway log must not fill the worker's memory


def _offset(token: str | None) -> int:
    """The byte offset a continuation token carries (this API's tokens are plain offsets); 400 for
    one no answer can have carried, as Airflow's for a token it did not sign."""
    try:
        return parse_log_offset(token)
    except ValueError:
        bad("token must be a continuation_token this API returned")


def _read_rest(key: TaskInstanceKey, try_number: int, ti: Any, offset: int) -> LogChunk:
    """The log from ``offset`` to its end (up to MAX_FULL_LOG bytes), chunk by chunk."""
    chunk, _ = try_log(key, try_number, ti, offset)
    if not chunk.exists:
        return chunk
    parts = [chunk.text]
    while chunk.exists and chunk.text and chunk.offset - offset < MAX_FULL_LOG:
        chunk, _ = try_log(key, try_number, ti, chunk.offset)
        parts.append(chunk.text if chunk.exists else "")
    return LogChunk("".join(parts), chunk.offset, True)


@bp.route(TI_URL + "/logs/<int:try_number>")
@requires_dag(Perm.READ)
def task_log(dag_id: str, run_id: str, task_id: str, try_number: int) -> Any:
    """One try's log from the token's offset (the start without one); the whole rest with full_content."""
    check_known_args({"map_index", "full_content", "token"})
    key = TaskInstanceKey(dag_id, run_id, task_id, map_index_arg())
    context.store().get_run(dag_id, run_id)  # DagRunNotFound -> 404
    ti = context.store().get_task_instance(key)  # TaskInstanceNotFound -> 404
    last = current_try(ti)  # a sensor between pokes: the try being poked, as the UI shows it
    if not 1 <= try_number <= last:
        abort(404, description=f"{task_id} has no try {try_number} (its tries: 1 to {last})")
    offset = _offset(request.args.get("token"))
    chunk = _read_rest(key, try_number, ti, offset) if bool_arg("full_content") else \
        try_log(key, try_number, ti, offset)[0]
    if not chunk.exists:
        reason = chunk.text.strip().strip("*").strip()
        abort(404, description=f"no log file for try {try_number} of {task_id}" + (f" ({reason})" if reason else ""))
    if request.accept_mimetypes.best_match(["text/plain", "application/json"]) == "application/json":
        return jsonify({"content": chunk.text, "continuation_token": str(chunk.offset)})
    return Response(chunk.text, mimetype="text/plain")


def _xcom_run(dag_id: str, run_id: str, task_id: str) -> Any:
    store = context.store()
    run = store.get_run(dag_id, run_id)  # DagRunNotFound -> 404
    if not any(t.task_id == task_id for t in store.list_task_instances(run.key)):
        raise TaskInstanceNotFound(f"task {task_id!r} has no instance in run {run_id!r} of DAG {dag_id!r}")
    return run


def _xcom_scope(dag_id: str, run_id: str, task_id: str) -> XComQuery:
    """The DAG, run and task of an XCom list, each ``~`` for any (404 for a named one that does not exist)."""
    store = context.store()
    if dag_id != ALL:
        store.get_dag(dag_id)  # DagNotFound -> 404
    if ALL not in (dag_id, run_id, task_id):
        _xcom_run(dag_id, run_id, task_id)
    elif dag_id != ALL and run_id != ALL:
        store.get_run(dag_id, run_id)  # DagRunNotFound -> 404
    named = {name: None if value == ALL else value
             for name, value in (("dag_id", dag_id), ("run_id", run_id), ("task_id", task_id))}
    return XComQuery(**named, hidden=hidden_dags())


@bp.route(TI_URL + "/xcomEntries")
@requires_dag(Perm.READ)
def xcom_entries(dag_id: str, run_id: str, task_id: str) -> Any:
    """The task's XComs in this run (``map_index``, ``xcom_key`` narrow them), without values; ``~`` for the
    DAG, the run and / or the task lists across them (the DAGs the user may see)."""
    check_known_args(PAGING | {"map_index", "xcom_key"})
    offset, limit = paging()
    map_index = map_index_arg() if "map_index" in request.args else None
    query = replace(_xcom_scope(dag_id, run_id, task_id), map_index=map_index,
                    key=request.args.get("xcom_key") or None, offset=offset, limit=limit)
    store = context.store()
    page = store.xcom_page(query)
    dates = store.logical_dates({(x.dag_id, x.run_id) for x in page.items})
    return jsonify({"xcom_entries": [xcom_entry_json(x, dates.get((x.dag_id, x.run_id))) for x in page.items],
                    "total_entries": page.total})


@bp.route(TI_URL + "/xcomEntries/<key>")
@requires_dag(Perm.READ)
def xcom_entry(dag_id: str, run_id: str, task_id: str, key: str) -> Any:
    """One XCom: its value is ``str()`` of the Python value, as Airflow's, or the JSON value with
    ``stringify=false``. ``deserialize`` is accepted: flowctl's values are always deserialized."""
    check_known_args({"map_index", "deserialize", "stringify"})
    bool_arg("deserialize")  # checked; no custom XCom backend, nothing expensive to skip
    shown = xcom_native if bool_arg("stringify") is False else xcom_text
    map_index = map_index_arg()
    run = _xcom_run(dag_id, run_id, task_id)
    found = [x for x in context.store().list_xcoms(run.key, task_id) if x.key == key and x.map_index == map_index]
    if not found:
        abort(404, description=f"no XCom {key!r} of {task_id} (map_index {map_index}) in run {run_id!r}")
    return jsonify(xcom_json(found[0], run.logical_date, shown(found[0].value)))
