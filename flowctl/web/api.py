"""JSON API under ``/api/v1``: what pages fetch and scripts call, in Airflow 2's REST shapes.

Owns the DAG endpoints: ``GET /dags`` (paged; Airflow's filters ``dag_id_pattern``
(an SQL LIKE pattern, case-insensitive; ``~`` every DAG), ``tags``, ``paused``,
``only_active``, ``order_by`` and the home page's ``search``, ``tag``, ``status``,
``last_run_state``), ``PATCH /dags?dag_id_pattern=`` (pause many),
``GET|PATCH|DELETE /dags/<dag_id>``, ``GET /dags/<dag_id>/details``,
``GET /dags/<dag_id>/tasks[/<task_id>]``; the run list ``GET /dags/<dag_id>/dagRuns``
(``~`` for every DAG the user may see); ``GET /importErrors`` (paged, ``order_by``)
and ``GET /importErrors/<import_error_id>``; ``GET /timeline`` and ``GET /health``.
A run's own endpoints: :mod:`flowctl.web.api_runs`; task instances:
:mod:`flowctl.web.api_task_instances`; ``/dagSources``: :mod:`flowctl.web.api_dag_sources`
(nested here). Unknown parameters and bad
values give 400 with a JSON body ``{"status", "title", "detail"}`` (the app's
error handler); a script that misspells a filter must not act on every DAG.
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from flask import Blueprint, abort, jsonify, request

from flowctl.core.errors import ImportErrorNotFound, TaskNotFound
from flowctl.db.dags import dag_body
from flowctl.db.records import DagRecord, ImportErrorRecord
from flowctl.db.web_queries import DAG_ORDER_FIELDS, RUN_FIELDS, DagQuery, Page, RunQuery
from flowctl.web import api_dag_sources, context
from flowctl.web.api_admin_params import order_arg, page_of
from flowctl.web.api_admin_params import paging as list_paging
from flowctl.web.api_params import (PAGING, bad, bool_arg, check_choices, check_known_args, choices_arg,
                                    date_ranges, json_body, list_arg, order_by_arg, paging, range_names)
from flowctl.web.api_dag_sources import file_token
from flowctl.web.api_shapes import DagExtras, dag_details_json, dag_json, iso, run_json, task_json
from flowctl.web.auth import dag_perms, hidden_dags, readable_import_errors, requires, requires_dag
from flowctl.web.browse import parse_when, window_start
from flowctl.web.formatting import RUN_STATES
from flowctl.web.health import health_payload
from flowctl.web.home import STATUSES, dag_query_from
from flowctl.web.links import ti_url
from flowctl.web.permissions import Perm

__all__ = ["bp", "iso", "run_json", "runs_response"]  # iso and run_json: older imports of this module
bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.register_blueprint(api_dag_sources.bp)
ALL = "~"  # Airflow's "every DAG" (or every run) in a path
HOME_ARGS = frozenset({"search", "tag", "status", "last_run_state"})
DAG_LIST_ARGS = PAGING | HOME_ARGS | {"dag_id_pattern", "tags", "paused", "only_active", "order_by"}
PATCH_DAGS_ARGS = PAGING | {"dag_id_pattern", "tags", "only_active", "update_mask"}
RUN_RANGES = ("execution_date", "start_date", "end_date", "updated_at")
RUN_LIST_ARGS = PAGING | range_names(RUN_RANGES) | {"state", "order_by"}
RUN_API_ORDER = "id"
TASK_ORDER_FIELDS = frozenset({"task_id", "operator", "owner", "pool", "queue", "priority_weight"})
IMPORT_ERROR_ORDER = {"import_error_id": "id", "timestamp": "timestamp", "filename": "filename"}


# --- DAGs ---------------------------------------------------------------------------------------------

def _dag_filters() -> DagQuery:
    """The list filters of ``GET /dags``: the home page's and Airflow's, each value checked."""
    args = request.args
    check_choices("status", [args["status"]] if "status" in args else [], STATUSES)
    check_choices("last_run_state", [v for v in [args.get("last_run_state")] if v], RUN_STATES)
    offset, limit = paging()
    query = dag_query_from(args, hidden_dags(), offset, limit)
    paused = bool_arg("paused")
    if paused is not None and "status" in args:
        bad("give paused or status, not both")
    only_active = bool_arg("only_active")
    return replace(query, dag_id_pattern=_pattern(args.get("dag_id_pattern", "")),
                   tags=list_arg("tags"), order_by=order_by_arg(DAG_ORDER_FIELDS),
                   status=query.status if paused is None else ("paused" if paused else "active"),
                   only_active=True if only_active is None else only_active)


def _pattern(raw: str) -> str:
    """``dag_id_pattern`` as the Store takes it: Airflow's SQL LIKE pattern ("": every DAG, as ``~``)."""
    pattern = raw.strip()
    return "" if pattern == ALL else pattern


def _extras(dag: DagRecord) -> DagExtras:
    """The file token and the configured limits a DAG object shows."""
    settings = context.settings()
    return DagExtras(file_token=file_token(dag.fileloc),
                     max_active_runs=int(settings.get("core", "max_active_runs_per_dag")),
                     max_active_tasks=int(settings.get("core", "max_active_tasks_per_dag")))


def _dag_items(page: Page[Any]) -> list[dict[str, Any]]:
    schedules = context.store().schedules([item.dag.dag_id for item in page.items])
    items = []
    for item in page.items:
        row = dag_json(item.dag, schedules.get(item.dag.dag_id), _extras(item.dag))
        row["last_run"] = run_json(item.last_run) if item.last_run else None
        row["task_state_counts"] = dict(item.task_counts)
        items.append(row)
    return items


@bp.route("/dags")
@requires(Perm.READ)
def dags() -> Any:
    check_known_args(DAG_LIST_ARGS)
    page = context.store().dag_page(_dag_filters())
    return jsonify({"dags": _dag_items(page), "total_entries": page.total})


def _is_paused_body() -> bool:
    mask = [m.strip() for m in request.args.get("update_mask", "is_paused").split(",") if m.strip()]
    if mask != ["is_paused"]:
        bad("update_mask may only name is_paused")
    body = json_body({"is_paused"}, required=("is_paused",))
    if not isinstance(body["is_paused"], bool):
        bad('send a JSON object like {"is_paused": true}')
    return bool(body["is_paused"])


def _set_paused(dag_id: str, paused: bool) -> None:
    context.store().set_paused(dag_id, paused)
    context.audit("pause" if paused else "unpause", dag_id=dag_id)


@bp.route("/dags", methods=["PATCH"])
@requires(Perm.DAG_EDIT)
def patch_dags() -> Any:
    """Pause or unpause every DAG matching ``dag_id_pattern`` (an SQL LIKE pattern, ``%`` or ``~``: all)
    that the user may change."""
    check_known_args(PATCH_DAGS_ARGS)
    pattern = request.args.get("dag_id_pattern", "").strip()
    if not pattern:
        bad("dag_id_pattern is required (part of the DAG ids to change; ~ for every DAG)")
    paused = _is_paused_body()
    offset, limit = paging()
    only_active = bool_arg("only_active")
    query = DagQuery(dag_id_pattern=_pattern(pattern), tags=list_arg("tags"),
                     only_active=True if only_active is None else only_active, hidden=hidden_dags(),
                     offset=offset, limit=limit)
    store = context.store()
    changed = [s.dag for s in store.dag_page(query).items if Perm.DAG_EDIT in dag_perms(s.dag.dag_id)]
    for dag in changed:
        _set_paused(dag.dag_id, paused)
    schedules = store.schedules([d.dag_id for d in changed])
    shown = [store.get_dag(d.dag_id) for d in changed]
    return jsonify({"dags": [dag_json(d, schedules.get(d.dag_id), _extras(d)) for d in shown],
                    "total_entries": len(changed)})


def _serialized(dag_id: str) -> Mapping[str, Any]:
    """The DAG's latest serialized body ({} when it has none: a DAG row without a parsed version)."""
    try:
        return dag_body(context.store().latest_serialized_dag(dag_id).data)
    except LookupError:
        return {}


@bp.route("/dags/<dag_id>")
@requires_dag(Perm.READ)
def get_dag(dag_id: str) -> Any:
    check_known_args(())
    dag = context.store().get_dag(dag_id)
    return jsonify(dag_json(dag, _serialized(dag_id), _extras(dag)))


@bp.route("/dags/<dag_id>", methods=["PATCH"])
@requires_dag(Perm.DAG_EDIT)
def patch_dag(dag_id: str) -> Any:
    check_known_args({"update_mask"})
    paused = _is_paused_body()
    context.store().get_dag(dag_id)  # DagNotFound -> 404
    _set_paused(dag_id, paused)
    dag = context.store().get_dag(dag_id)
    return jsonify(dag_json(dag, _serialized(dag_id), _extras(dag)))


@bp.route("/dags/<dag_id>", methods=["DELETE"])
@requires_dag(Perm.DAG_EDIT)
def delete_dag(dag_id: str) -> Any:
    """Delete the DAG's rows and history, as the UI's "delete history" does (it returns when parsed again)."""
    check_known_args(())
    counts = context.store().delete_dag(dag_id)  # DagNotFound -> 404
    context.audit("delete_history", dag_id=dag_id, extra={k: v for k, v in counts.items() if v})
    return "", 204


@bp.route("/dags/<dag_id>/details")
@requires_dag(Perm.READ)
def dag_details(dag_id: str) -> Any:
    check_known_args(())
    dag = context.store().get_dag(dag_id)
    return jsonify(dag_details_json(dag, _serialized(dag_id), _extras(dag)))


def _tasks(dag_id: str) -> list[dict[str, Any]]:
    """The DAG's tasks as Airflow's Task objects."""
    context.store().get_dag(dag_id)  # DagNotFound -> 404
    body = _serialized(dag_id)
    return [task_json(t, body) for t in body.get("tasks") or ()]


def check_task(dag_id: str, task_id: str) -> None:
    """TaskNotFound (a 404) naming the task unless the DAG's latest version has it."""
    if not any(t.get("task_id") == task_id for t in _serialized(dag_id).get("tasks") or ()):
        raise TaskNotFound(f"task {task_id!r} not found in DAG {dag_id!r}")


@bp.route("/dags/<dag_id>/tasks")
@requires_dag(Perm.READ)
def dag_tasks(dag_id: str) -> Any:
    check_known_args({"order_by"})
    order = order_by_arg(TASK_ORDER_FIELDS) or "task_id"
    field = order.removeprefix("-")
    tasks = _tasks(dag_id)
    if field == "operator":
        tasks.sort(key=lambda t: str(t["class_ref"]["class_name"]), reverse=order.startswith("-"))
    else:
        tasks.sort(key=lambda t: (t[field] is None, t[field]), reverse=order.startswith("-"))
    return jsonify({"tasks": tasks, "total_entries": len(tasks)})


@bp.route("/dags/<dag_id>/tasks/<task_id>")
@requires_dag(Perm.READ)
def dag_task(dag_id: str, task_id: str) -> Any:
    check_known_args(())
    found = [t for t in _tasks(dag_id) if t["task_id"] == task_id]
    if not found:
        raise TaskNotFound(f"task {task_id!r} not found in DAG {dag_id!r}")
    return jsonify(found[0])


# --- the run list -------------------------------------------------------------------------------------

def runs_response(query: RunQuery) -> Any:
    """``{"dag_runs", "total_entries"}`` of one page of runs, in ``id`` order without ``order_by`` (Airflow's
    default, so a script paging with ``offset`` gets Airflow's pages; the UI lists newest first)."""
    page = context.store().run_page(replace(query, order_by=query.order_by or RUN_API_ORDER))
    return jsonify({"dag_runs": [run_json(r) for r in page.items], "total_entries": page.total})


@bp.route("/dags/<dag_id>/dagRuns")
@requires_dag(Perm.READ)
def dag_runs(dag_id: str) -> Any:
    """A DAG's runs (``~``: every DAG's the user may see), filtered and ordered as Airflow's."""
    check_known_args(RUN_LIST_ARGS)
    offset, limit = paging()
    query = RunQuery(states=choices_arg("state", RUN_STATES), ranges=date_ranges(request.args, RUN_RANGES),
                     order_by=order_by_arg(RUN_FIELDS), offset=offset, limit=limit)
    if dag_id == ALL:
        return runs_response(replace(query, hidden=hidden_dags()))
    context.store().get_dag(dag_id)  # DagNotFound -> 404
    return runs_response(replace(query, dag_id=dag_id))


# --- import errors ------------------------------------------------------------------------------------

def import_error_json(error: ImportErrorRecord) -> dict[str, Any]:
    """Airflow's import error fields."""
    return {"import_error_id": error.id, "timestamp": iso(error.timestamp), "filename": error.filename,
            "stack_trace": error.stacktrace}


@bp.route("/importErrors")
@requires(Perm.READ)
def import_errors() -> Any:
    """The files that failed to import, by ``import_error_id`` unless ``order_by`` says otherwise."""
    check_known_args(PAGING | {"order_by"})
    order, page = order_arg(IMPORT_ERROR_ORDER, "import_error_id"), list_paging()
    every = readable_import_errors(context.store().list_import_errors())
    return jsonify({"import_errors": [import_error_json(e) for e in page_of(every, order, page)],
                    "total_entries": len(every)})


@bp.route("/importErrors/<int:import_error_id>")
@requires(Perm.READ)
def import_error(import_error_id: int) -> Any:
    check_known_args(())
    error = context.store().get_import_error(import_error_id)  # 404 when absent
    if not readable_import_errors([error]):  # one the user may not read looks like a missing one
        raise ImportErrorNotFound(f"import error {import_error_id} not found")
    return jsonify(import_error_json(error))


@bp.route("/timeline")
@requires(Perm.READ)
def timeline() -> Any:
    end = parse_when(request.args.get("end")) or context.now()
    start = parse_when(request.args.get("start")) or window_start(end)
    if start >= end:
        abort(400, description="start must be before end")
    bars = context.store().timeline(start, end, hidden_dags())
    return jsonify({"start": start.isoformat(), "end": end.isoformat(), "now": context.now().isoformat(),
                    "bars": [{"dag_id": b.dag_id, "run_id": b.run_id, "task_id": b.task_id,
                              "map_index": b.map_index, "try_number": b.try_number, "state": b.state,
                              "queued_at": iso(b.queued_at), "start_date": iso(b.start_date),
                              "end_date": iso(b.end_date), "hostname": b.hostname, "pool": b.pool,
                              "url": ti_url(b.dag_id, b.run_id, b.task_id, b.map_index, b.try_number)}
                             for b in bars]})


@bp.route("/health")
def health() -> Any:
    payload, status = health_payload()
    return jsonify(payload), status
