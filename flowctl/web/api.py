"""JSON API under ``/api/v1``: what pages fetch, in Airflow's REST shapes where one exists.

Owns ``GET /api/v1/dags`` (paged, filtered), ``PATCH /api/v1/dags/<dag_id>``
(``{"is_paused": bool}``), ``GET /api/v1/dags/<dag_id>/dagRuns``,
``GET /api/v1/importErrors``, ``GET /api/v1/pools``, ``GET /api/v1/timeline``
and ``GET /api/v1/health`` (triggering and polling a run: :mod:`flowctl.web.api_runs`). Bad parameters give 400 with a JSON body
``{"status", "title", "detail"}`` (the app's error handler).
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, request

from flowctl.db.records import DagRecord, DagRunRecord
from flowctl.db.web_queries import RunQuery
from flowctl.web import context
from flowctl.web.auth import hidden_dags, requires, requires_dag
from flowctl.web.browse import DEFAULT_WINDOW, parse_when
from flowctl.web.formatting import RUN_STATES
from flowctl.web.health import health_payload
from flowctl.web.home import dag_query_from
from flowctl.web.links import ti_url
from flowctl.web.permissions import Perm

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_LIMIT = 1_000


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(400, description=f"{name} must be a whole number, not {raw[:20]!r}")
    if not low <= value <= high:
        abort(400, description=f"{name} must be between {low} and {high}")
    return value


def iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def dag_json(dag: DagRecord) -> dict[str, Any]:
    return {"dag_id": dag.dag_id, "is_paused": dag.is_paused, "is_active": dag.is_active, "owners": dag.owners,
            "tags": [{"name": t} for t in dag.tags], "timetable_summary": dag.timetable_summary,
            "description": dag.description, "fileloc": dag.fileloc, "has_import_errors": dag.has_import_errors,
            "next_dagrun": iso(dag.next_dagrun), "last_parsed_time": iso(dag.last_parsed_time)}


def run_json(run: DagRunRecord) -> dict[str, Any]:
    return {"dag_id": run.dag_id, "dag_run_id": run.run_id, "run_type": run.run_type, "state": run.state,
            "logical_date": iso(run.logical_date), "execution_date": iso(run.logical_date),
            "data_interval_start": iso(run.data_interval_start),
            "data_interval_end": iso(run.data_interval_end), "start_date": iso(run.start_date),
            "end_date": iso(run.end_date), "conf": dict(run.conf), "external_trigger": run.external_trigger,
            "note": run.note}


@bp.route("/dags")
@requires(Perm.READ)
def dags() -> Any:
    limit = _int_arg("limit", 100, 1, MAX_LIMIT)
    offset = _int_arg("offset", 0, 0, 10**9)
    page = context.store().dag_page(dag_query_from(request.args, hidden_dags(), offset, limit))
    items = []
    for item in page.items:
        row = dag_json(item.dag)
        row["last_run"] = run_json(item.last_run) if item.last_run else None
        row["task_state_counts"] = dict(item.task_counts)
        items.append(row)
    return jsonify({"dags": items, "total_entries": page.total})


@bp.route("/dags/<dag_id>", methods=["PATCH"])
@requires_dag(Perm.DAG_EDIT)
def patch_dag(dag_id: str) -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("is_paused"), bool):
        abort(400, description='send a JSON object like {"is_paused": true}')
    context.store().set_paused(dag_id, body["is_paused"])
    context.audit("pause" if body["is_paused"] else "unpause", dag_id=dag_id)
    return jsonify(dag_json(context.store().get_dag(dag_id)))


@bp.route("/dags/<dag_id>/dagRuns")
@requires_dag(Perm.READ)
def dag_runs(dag_id: str) -> Any:
    limit = _int_arg("limit", 100, 1, MAX_LIMIT)
    offset = _int_arg("offset", 0, 0, 10**9)
    state = request.args.get("state", "")
    if state and state not in RUN_STATES:
        abort(400, description=f"state must be one of {', '.join(RUN_STATES)}")
    context.store().get_dag(dag_id)  # DagNotFound -> 404
    page = context.store().run_page(RunQuery(dag_id=dag_id, state=state, offset=offset, limit=limit))
    return jsonify({"dag_runs": [run_json(r) for r in page.items], "total_entries": page.total})


@bp.route("/importErrors")
@requires(Perm.READ)
def import_errors() -> Any:
    errors = context.store().list_import_errors()
    return jsonify({"import_errors": [{"filename": e.filename, "stack_trace": e.stacktrace,
                                      "timestamp": iso(e.timestamp)} for e in errors],
                    "total_entries": len(errors)})


@bp.route("/pools")
@requires(Perm.READ)
def pools() -> Any:
    usage = context.store().pool_usage()
    return jsonify({"pools": [{"name": u.pool, "slots": u.slots, "running_slots": u.running,
                               "queued_slots": u.queued, "deferred_slots": u.deferred,
                               "open_slots": u.open_slots} for u in usage], "total_entries": len(usage)})


@bp.route("/timeline")
@requires(Perm.READ)
def timeline() -> Any:
    end = parse_when(request.args.get("end")) or context.now()
    start = parse_when(request.args.get("start")) or end - DEFAULT_WINDOW
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
