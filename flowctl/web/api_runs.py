"""JSON API for scripts that drive runs, in Airflow 2's REST shapes: trigger, poll, mark, clear, note, delete.

Owns ``POST /api/v1/dags/<dag_id>/dagRuns`` (body ``{"dag_run_id", "logical_date"
(or "execution_date"), "conf", "note"}``, all optional; 409 if the run id or
logical date is taken, 400 for a bad body or a conf its params refuse),
``GET|PATCH|DELETE /api/v1/dags/<dag_id>/dagRuns/<dag_run_id>`` (PATCH
``{"state": "success"|"failed"|"queued"}`` marks the run as the UI does; DELETE, as on the
run's page, needs the Op role or above),
``POST …/<dag_run_id>/clear`` (``{"dry_run": true}`` by default: the task
instances it would clear), ``PATCH …/<dag_run_id>/setNote`` and
``POST /api/v1/dags/~/dagRuns/list`` (filters in the body). The run list
(``GET …/dagRuns``) is :mod:`flowctl.web.api`'s; task instances are
:mod:`flowctl.web.api_task_instances`'. Every change is audited (source ``api``).
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify

from flowctl.core.errors import AlreadyExistsError
from flowctl.core.keys import RunKey
from flowctl.core.states import DagRunState
from flowctl.db.operations import ClearSpec
from flowctl.db.web_queries import RUN_FIELDS, RunQuery
from flowctl.web import context
from flowctl.web.api import RUN_RANGES, runs_response
from flowctl.web.api_params import (body_bool, body_int, body_page_limit, body_str, body_strs,
                                    check_choices, check_known_args, date_ranges, json_body, note_body,
                                    order_by_arg, range_names)
from flowctl.web.api_shapes import run_json
from flowctl.web.api_task_instances import tis_json
from flowctl.web.auth import hidden_dags, requires, requires_dag
from flowctl.web.browse import parse_when
from flowctl.web.dag_actions import TRIGGER_EVENT
from flowctl.web.formatting import RUN_STATES
from flowctl.web.permissions import Perm
from flowctl.web.run_actions import check_may_delete_run, mark_run

bp = Blueprint("api_runs", __name__, url_prefix="/api/v1")
TRIGGER_FIELDS = frozenset({"dag_run_id", "logical_date", "execution_date", "conf", "note"})
RUN_URL = "/dags/<dag_id>/dagRuns/<run_id>"
SETTABLE_STATES = (DagRunState.SUCCESS.value, DagRunState.FAILED.value, DagRunState.QUEUED.value)
LIST_FIELDS = frozenset({"order_by", "page_offset", "page_limit", "dag_ids", "states"}) | range_names(RUN_RANGES)


def _trigger_body() -> dict[str, Any]:
    body = json_body(TRIGGER_FIELDS)
    if "logical_date" in body and "execution_date" in body:
        abort(400, description="give logical_date or its older name execution_date, not both")
    if not isinstance(body.get("conf", {}), dict):
        abort(400, description="conf must be a JSON object")
    for name in ("dag_run_id", "note"):
        body_str(body, name)
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


@bp.route(RUN_URL)
@requires_dag(Perm.READ)
def get_run(dag_id: str, run_id: str) -> Any:
    check_known_args(())
    return jsonify(run_json(context.store().get_run(dag_id, run_id)))  # DagRunNotFound -> 404


@bp.route(RUN_URL, methods=["PATCH"])
@requires_dag(Perm.DAG_EDIT)
def patch_run(dag_id: str, run_id: str) -> Any:
    """Mark the run success or failed as the UI does (its task instances too, its teardowns whose setups
    ran left to run), or queue it again."""
    check_known_args(())
    body = json_body({"state"}, required=("state",))
    state = check_choices("state", [str(body["state"])], SETTABLE_STATES)[0]
    store, now = context.store(), context.now()
    run = store.get_run(dag_id, run_id)
    if state == DagRunState.QUEUED.value:
        changed = 0
        if run.state != state:
            store.set_run_state_manually(run.key, run.state, state, queued_at=now, end_date=None, updated_at=now)
    else:
        changed = len(mark_run(run, state).task_instances)
    context.audit(f"mark_{state}", dag_id=dag_id, run_id=run_id, extra={"task_instances": changed,
                                                                       "whole_run": True})
    return jsonify(run_json(store.get_run(dag_id, run_id)))


@bp.route(RUN_URL, methods=["DELETE"])
@requires_dag(Perm.DAG_EDIT)
def delete_run(dag_id: str, run_id: str) -> Any:
    """Delete the run, its task instances, tries and XComs (204); Op or Admin only, as on the run's page."""
    check_may_delete_run()
    check_known_args(())
    counts = context.store().delete_run(RunKey(dag_id, run_id))  # DagRunNotFound -> 404
    context.audit("delete_run", dag_id=dag_id, run_id=run_id, extra={k: v for k, v in counts.items() if v})
    return "", 204


@bp.route(RUN_URL + "/clear", methods=["POST"])
@requires_dag(Perm.DAG_EDIT)
def clear_run(dag_id: str, run_id: str) -> Any:
    """Clear every task instance of the run (``dry_run``, the default: only list them); returns the run."""
    check_known_args(())
    dry_run = body_bool(json_body({"dry_run"}), "dry_run", True)
    store = context.store()
    run = store.get_run(dag_id, run_id)
    tis = store.task_instances_to_clear(dag_id, ClearSpec(run_id=run_id))
    if dry_run:
        return jsonify({"task_instances": tis_json(tis, {(run.dag_id, run.run_id): run.logical_date}),
                        "total_entries": len(tis)})
    report = store.clear_task_instances([t.key for t in tis], context.now())
    context.audit("clear", dag_id=dag_id, run_id=run_id, extra={"task_instances": len(report.task_instances)})
    return jsonify(run_json(store.get_run(dag_id, run_id)))


@bp.route(RUN_URL + "/setNote", methods=["PATCH"])
@requires_dag(Perm.DAG_EDIT)
def set_note(dag_id: str, run_id: str) -> Any:
    check_known_args(())
    note = note_body()
    store = context.store()
    store.get_run(dag_id, run_id)  # DagRunNotFound -> 404
    store.set_run_note(RunKey(dag_id, run_id), note, context.now())
    context.audit("set_note", dag_id=dag_id, run_id=run_id, extra={"note": note})
    return jsonify(run_json(store.get_run(dag_id, run_id)))


@bp.route("/dags/~/dagRuns/list", methods=["POST"])
@requires(Perm.READ)
def list_runs() -> Any:
    """Runs of several DAGs (``dag_ids``; all the user may see when absent), filters in the body."""
    check_known_args(())
    body = json_body(LIST_FIELDS)
    states = check_choices("states", body_strs(body, "states") or (), RUN_STATES)
    dag_ids = body_strs(body, "dag_ids")
    query = RunQuery(states=states, dag_ids=dag_ids, ranges=date_ranges(body, RUN_RANGES), hidden=hidden_dags(),
                     order_by=order_by_arg(RUN_FIELDS, body_str(body, "order_by") or ""),
                     offset=body_int(body, "page_offset", 0, 0, 10**9),
                     limit=body_page_limit(body))
    return runs_response(query)

