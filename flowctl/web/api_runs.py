"""JSON API for scripts that drive runs, in Airflow 2's REST shapes: trigger a run, poll it, its task instances.

Owns ``POST /api/v1/dags/<dag_id>/dagRuns`` (body ``{"dag_run_id", "logical_date"
(or "execution_date"), "conf", "note"}``, all optional; 409 if the run id or
logical date is taken, 400 for a bad body or a conf its params refuse),
``GET /api/v1/dags/<dag_id>/dagRuns/<dag_run_id>`` and
``GET /api/v1/dags/<dag_id>/dagRuns/<dag_run_id>/taskInstances``. The run list
(``GET …/dagRuns``) is :mod:`flowctl.web.api`'s. A trigger is audited (source
``api``) and wakes the scheduler (``context.wake_scheduler``).
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, request

from flowctl.core.errors import AlreadyExistsError
from flowctl.core.keys import RunKey
from flowctl.db.records import TaskInstanceRecord
from flowctl.web import context
from flowctl.web.api import iso, run_json
from flowctl.web.auth import requires_dag
from flowctl.web.browse import parse_when
from flowctl.web.dag_actions import TRIGGER_EVENT
from flowctl.web.permissions import Perm

bp = Blueprint("api_runs", __name__, url_prefix="/api/v1")
TRIGGER_FIELDS = frozenset({"dag_run_id", "logical_date", "execution_date", "conf", "note"})


def ti_json(ti: TaskInstanceRecord) -> dict[str, Any]:
    return {"dag_id": ti.dag_id, "dag_run_id": ti.run_id, "task_id": ti.task_id, "map_index": ti.map_index,
            "state": ti.state, "try_number": ti.try_number, "max_tries": ti.max_tries,
            "start_date": iso(ti.start_date), "end_date": iso(ti.end_date), "duration": ti.duration,
            "hostname": ti.hostname, "pool": ti.pool, "pool_slots": ti.pool_slots, "queue": ti.queue,
            "priority_weight": ti.priority_weight, "operator": ti.operator, "queued_when": iso(ti.queued_at),
            "note": ti.note}


def _trigger_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None and not request.get_data():
        body = {}
    if not isinstance(body, dict):
        abort(400, description="send a JSON object, e.g. {\"conf\": {}}")
    unknown = sorted(set(body) - TRIGGER_FIELDS)
    if unknown:
        abort(400, description=f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(TRIGGER_FIELDS))}")
    if "logical_date" in body and "execution_date" in body:
        abort(400, description="give logical_date or its older name execution_date, not both")
    if not isinstance(body.get("conf", {}), dict):
        abort(400, description="conf must be a JSON object")
    for name in ("dag_run_id", "note"):
        if body.get(name) is not None and not isinstance(body[name], str):
            abort(400, description=f"{name} must be a string")
    return body


@bp.route("/dags/<dag_id>/dagRuns", methods=["POST"])
@requires_dag(Perm.DAG_EDIT)
def trigger_run(dag_id: str) -> Any:
    body = _trigger_body()
    when = body.get("logical_date", body.get("execution_date"))
    when = parse_when(None if when is None else str(when))  # FlowctlError -> 400
    conf = body.get("conf") or {}
    try:
        run = context.store().trigger_dag(dag_id, now=context.now(), run_id=body.get("dag_run_id") or None,
                                          logical_date=when, conf=conf, note=body.get("note"))
    except AlreadyExistsError as exc:
        abort(409, description=str(exc))
    context.audit(TRIGGER_EVENT, dag_id=dag_id, run_id=run.run_id, extra={"conf": conf})
    return jsonify(run_json(run))


@bp.route("/dags/<dag_id>/dagRuns/<run_id>")
@requires_dag(Perm.READ)
def get_run(dag_id: str, run_id: str) -> Any:
    return jsonify(run_json(context.store().get_run(dag_id, run_id)))  # DagRunNotFound -> 404


@bp.route("/dags/<dag_id>/dagRuns/<run_id>/taskInstances")
@requires_dag(Perm.READ)
def task_instances(dag_id: str, run_id: str) -> Any:
    context.store().get_run(dag_id, run_id)  # DagRunNotFound -> 404
    tis = context.store().list_task_instances(RunKey(dag_id, run_id))
    return jsonify({"task_instances": [ti_json(ti) for ti in tis], "total_entries": len(tis)})
