"""JSON API under ``/api/v1`` for task instances, in Airflow 2's REST shapes.

Owns, under ``/dags/<dag_id>/dagRuns/<dag_run_id>/taskInstances``: the list (``~``
for every DAG and/or run the user may see; filters ``state``, ``pool``, ``queue``,
``…_gte`` / ``…_lte`` dates and durations, ``order_by``), ``/<task_id>`` and
``/<task_id>/<map_index>`` (GET, and PATCH ``{"new_state", "dry_run"}``; a map index
no task instance can have is a 404), ``PATCH …/setNote`` of either (``{"note"}``),
``/<task_id>/listMapped``; ``POST /dags/~/dagRuns/~/taskInstances/list`` (filters
in the body), ``POST /dags/<dag_id>/clearTaskInstances`` and
``POST /dags/<dag_id>/updateTaskInstancesState``. Logs and XComs are
:mod:`flowctl.web.api_task_logs`' (a blueprint nested in this one). Changes go
through the Store verbs the UI's actions use and are audited (source ``api``).
A deferred task instance shows its ``trigger`` and the ``triggerer_job`` running it (:func:`tis_json`).
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from flask import Blueprint, jsonify, request

from flowctl.core.keys import TaskInstanceKey
from flowctl.core.states import TaskInstanceState
from flowctl.db.operations import MARK_TARGETS, ClearSpec
from flowctl.db.records import DagRunRecord, TaskInstanceRecord
from flowctl.db.web_queries import Page, TaskInstanceQuery, TI_FIELDS
from flowctl.web import api_task_logs, context
from flowctl.web.api import ALL, check_task
from flowctl.web.api_params import (PAGING, bad, body_bool, body_int, body_number, body_page_limit, body_str,
                                    body_strs, check_choices, check_known_args, check_map_index, choices_arg,
                                    date_ranges, json_body, list_arg, note_body, number_arg, order_by_arg, paging,
                                    range_names, when)
from flowctl.web.api_shapes import ti_json, ti_ref_json
from flowctl.web.auth import hidden_dags, requires, requires_dag
from flowctl.web.formatting import TI_STATES
from flowctl.web.permissions import Perm

bp = Blueprint("api_task_instances", __name__, url_prefix="/api/v1")
bp.register_blueprint(api_task_logs.bp)
TIS_URL = "/dags/<dag_id>/dagRuns/<run_id>/taskInstances"
TI_RANGES = ("execution_date", "start_date", "end_date", "updated_at")
LIST_ARGS = PAGING | range_names(TI_RANGES + ("duration",)) | {"state", "pool", "queue", "order_by"}
BODY_LIST_FIELDS = (frozenset({"dag_ids", "dag_run_ids", "task_ids", "state", "pool", "queue", "order_by",
                               "page_offset", "page_limit"}) | range_names(TI_RANGES + ("duration",)))
MARK_STATES = tuple(sorted(s.value for s in MARK_TARGETS))
CLEAR_FIELDS = frozenset({"dry_run", "task_ids", "dag_run_id", "start_date", "end_date", "only_failed",
                          "only_running", "include_upstream", "include_downstream", "include_future",
                          "include_past", "reset_dag_runs", "include_subdags", "include_parentdag"})
UPDATE_FIELDS = frozenset({"dry_run", "task_id", "execution_date", "dag_run_id", "include_upstream",
                           "include_downstream", "include_future", "include_past", "new_state"})


# --- lists ------------------------------------------------------------------------------------------

def _duration(low: float | None, high: float | None) -> tuple[tuple[str, Any, Any], ...]:
    return (("duration", low, high),) if low is not None or high is not None else ()


def _arg_ranges() -> tuple[tuple[str, Any, Any], ...]:
    """The date and duration ranges of the query string."""
    return date_ranges(request.args, TI_RANGES) + _duration(number_arg("duration_gte"), number_arg("duration_lte"))


def _body_ranges(body: Mapping[str, Any]) -> tuple[tuple[str, Any, Any], ...]:
    """The date and duration ranges of a list body (durations JSON numbers, as Airflow's schema has them)."""
    return date_ranges(body, TI_RANGES) + _duration(body_number(body, "duration_gte"),
                                                    body_number(body, "duration_lte"))


def tis_json(tis: Sequence[TaskInstanceRecord],
             dates: Mapping[tuple[str, str], datetime | None]) -> list[dict[str, Any]]:
    """Airflow's TaskInstance objects, each with its run's logical date from ``dates``; a deferred one
    with its trigger and triggerer job (one query for them all, none when no task instance is deferred)."""
    deferred = TaskInstanceState.DEFERRED.value
    ids = sorted({t.trigger_id for t in tis if t.state == deferred and t.trigger_id is not None})
    triggers = context.store().triggers_with_jobs(ids) if ids else {}
    return [ti_json(t, dates.get((t.dag_id, t.run_id)),
                    *(triggers.get(t.trigger_id, (None, None)) if t.state == deferred else (None, None)))
            for t in tis]


def tis_response(query: TaskInstanceQuery) -> Any:
    """``{"task_instances", "total_entries"}`` of one page, each with its run's logical date."""
    store = context.store()
    page: Page[TaskInstanceRecord] = store.task_instance_page(query)
    dates = store.logical_dates({(t.dag_id, t.run_id) for t in page.items})
    return jsonify({"task_instances": tis_json(page.items, dates), "total_entries": page.total})


def _query_from_args() -> TaskInstanceQuery:
    check_known_args(LIST_ARGS)
    offset, limit = paging()
    return TaskInstanceQuery(states=choices_arg("state", TI_STATES) or None, pools=list_arg("pool") or None,
                             queues=list_arg("queue") or None, ranges=_arg_ranges(),
                             order_by=order_by_arg(TI_FIELDS), hidden=hidden_dags(), offset=offset, limit=limit)


@bp.route(TIS_URL)
@requires_dag(Perm.READ)
def task_instances(dag_id: str, run_id: str) -> Any:
    """A run's task instances; ``~`` for the DAG and/or the run lists across them."""
    query = _query_from_args()
    store = context.store()
    if dag_id == ALL and run_id != ALL:
        bad("a run id needs its DAG id: use ~ for both or neither")
    if dag_id != ALL:
        store.get_dag(dag_id)  # DagNotFound -> 404
        query = replace(query, dag_id=dag_id)
    if run_id != ALL:
        store.get_run(dag_id, run_id)  # DagRunNotFound -> 404
        query = replace(query, run_id=run_id, order_by=query.order_by or "task_id")
    return tis_response(query)


@bp.route("/dags/~/dagRuns/~/taskInstances/list", methods=["POST"])
@requires(Perm.READ)
def list_task_instances() -> Any:
    """Task instances across DAGs and runs the user may see, filters in the body."""
    check_known_args(())
    body = json_body(BODY_LIST_FIELDS)
    states = body_strs(body, "state")
    query = TaskInstanceQuery(
        dag_ids=body_strs(body, "dag_ids"), run_ids=body_strs(body, "dag_run_ids"),
        task_ids=body_strs(body, "task_ids"), pools=body_strs(body, "pool"), queues=body_strs(body, "queue"),
        states=None if states is None else check_choices("state", states, TI_STATES), ranges=_body_ranges(body),
        order_by=order_by_arg(TI_FIELDS, body_str(body, "order_by") or ""), hidden=hidden_dags(),
        offset=body_int(body, "page_offset", 0, 0, 10**9), limit=body_page_limit(body))
    return tis_response(query)


@bp.route(TIS_URL + "/<task_id>/listMapped")
@requires_dag(Perm.READ)
def list_mapped(dag_id: str, run_id: str, task_id: str) -> Any:
    """The mapped instances (map_index 0, 1, …) of one task in a run."""
    query = _query_from_args()
    context.store().get_run(dag_id, run_id)  # DagRunNotFound -> 404
    check_task(dag_id, task_id)  # TaskNotFound -> 404
    return tis_response(replace(query, dag_id=dag_id, run_id=run_id, task_id=task_id,
                                ranges=query.ranges + (("map_index", 0, None),),
                                order_by=query.order_by or "map_index"))


# --- one task instance ------------------------------------------------------------------------------

def _one(dag_id: str, run_id: str, task_id: str, map_index: int) -> tuple[DagRunRecord, TaskInstanceRecord]:
    check_map_index(map_index)
    store = context.store()
    run = store.get_run(dag_id, run_id)  # DagRunNotFound -> 404
    return run, store.get_task_instance(TaskInstanceKey(dag_id, run_id, task_id, map_index))


@bp.route(TIS_URL + "/<task_id>")
@bp.route(TIS_URL + "/<task_id>/<int(signed=True):map_index>")
@requires_dag(Perm.READ)
def get_task_instance(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
    check_known_args(())
    run, ti = _one(dag_id, run_id, task_id, map_index)
    return jsonify(tis_json([ti], {(run.dag_id, run.run_id): run.logical_date})[0])


@bp.route(TIS_URL + "/<task_id>", methods=["PATCH"])
@bp.route(TIS_URL + "/<task_id>/<int(signed=True):map_index>", methods=["PATCH"])
@requires_dag(Perm.DAG_EDIT)
def patch_task_instance(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
    """Mark one task instance success, failed or skipped (``dry_run``, the default: change nothing)."""
    check_known_args(())
    body = json_body({"dry_run", "new_state"}, required=("new_state",))
    new_state = check_choices("new_state", [str(body["new_state"])], MARK_STATES)[0]
    dry_run = body_bool(body, "dry_run", True)
    run, ti = _one(dag_id, run_id, task_id, map_index)
    if not dry_run:
        report = context.store().mark_task_instances([ti.key], new_state, context.now())
        context.audit(f"mark_{new_state}", dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index,
                      extra={"task_instances": len(report.task_instances)})
    return jsonify(ti_ref_json(ti, run.logical_date))


@bp.route(TIS_URL + "/<task_id>/setNote", methods=["PATCH"])
@bp.route(TIS_URL + "/<task_id>/<int(signed=True):map_index>/setNote", methods=["PATCH"])
@requires_dag(Perm.DAG_EDIT)
def set_note(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
    """Replace the task instance's note (``{"note": null}`` removes it); returns the task instance."""
    check_known_args(())
    note = note_body()
    run, ti = _one(dag_id, run_id, task_id, map_index)
    context.store().set_task_instance_note(ti.key, note, context.now())
    context.audit("set_note", dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index,
                  extra={"note": note})
    fresh = context.store().get_task_instance(ti.key)
    return jsonify(tis_json([fresh], {(run.dag_id, run.run_id): run.logical_date})[0])


# --- clear and set state, Airflow's bulk forms ---------------------------------------------------------

def _spec(dag_id: str, body: Mapping[str, Any], task_ids: Sequence[str] | None, **flags: bool) -> ClearSpec:
    """The ClearSpec of a body's run (or dates), task ids, relatives and past / future runs."""
    start, end = when("start_date", body.get("start_date")), when("end_date", body.get("end_date"))
    run_id = body_str(body, "dag_run_id")
    logical = when("execution_date", body.get("execution_date"))
    if run_id is not None:
        logical = context.store().get_run(dag_id, run_id).logical_date  # DagRunNotFound -> 404
    if logical is not None:
        start = end = logical
    past, future = body_bool(body, "include_past", False), body_bool(body, "include_future", False)
    single_run = run_id is not None and not (past or future)
    regex = None if task_ids is None else "^(" + "|".join(re.escape(t) for t in task_ids) + ")$"
    return ClearSpec(task_regex=regex, upstream=body_bool(body, "include_upstream", False),
                     downstream=body_bool(body, "include_downstream", False),
                     start_date=None if past else start, end_date=None if future else end,
                     run_id=run_id if single_run else None, **flags)


def _refs(tis: Sequence[TaskInstanceRecord]) -> Any:
    dates: Mapping[tuple[str, str], datetime] = context.store().logical_dates({(t.dag_id, t.run_id) for t in tis})
    return jsonify({"task_instances": [ti_ref_json(t, dates.get((t.dag_id, t.run_id))) for t in tis],
                    "total_entries": len(tis)})


@bp.route("/dags/<dag_id>/clearTaskInstances", methods=["POST"])
@requires_dag(Perm.DAG_EDIT)
def clear_task_instances(dag_id: str) -> Any:
    """Clear the chosen task instances (``dry_run``, the default: list them); their runs are queued again."""
    check_known_args(())
    body = json_body(CLEAR_FIELDS)
    if not body_bool(body, "reset_dag_runs", True):
        bad("reset_dag_runs must be true: flowctl always queues the runs of cleared task instances again")
    for name in ("include_subdags", "include_parentdag"):
        body_bool(body, name, False)  # no subDAGs in flowctl: checked, nothing to include
    store = context.store()
    store.get_dag(dag_id)  # DagNotFound -> 404
    spec = _spec(dag_id, body, body_strs(body, "task_ids"), only_failed=body_bool(body, "only_failed", True),
                 only_running=body_bool(body, "only_running", False))
    tis = store.task_instances_to_clear(dag_id, spec)
    if not body_bool(body, "dry_run", True):
        report = store.clear_task_instances([t.key for t in tis], context.now())
        context.audit("clear", dag_id=dag_id, extra={"task_instances": len(report.task_instances)})
    return _refs(tis)


@bp.route("/dags/<dag_id>/updateTaskInstancesState", methods=["POST"])
@requires_dag(Perm.DAG_EDIT)
def update_task_instances_state(dag_id: str) -> Any:
    """Mark a task (and its relatives, past / future runs) success, failed or skipped."""
    check_known_args(())
    body = json_body(UPDATE_FIELDS, required=("task_id", "new_state"))
    new_state = check_choices("new_state", [str(body["new_state"])], MARK_STATES)[0]
    task_id = body_str(body, "task_id") or bad("task_id must be a task id")
    if body.get("dag_run_id") is None and body.get("execution_date") is None:
        bad("give dag_run_id or execution_date")
    if body.get("dag_run_id") is not None and body.get("execution_date") is not None:
        bad("give dag_run_id or execution_date, not both")
    store = context.store()
    store.get_dag(dag_id)  # DagNotFound -> 404
    check_task(dag_id, task_id)  # TaskNotFound -> 404
    tis = [t for t in store.task_instances_to_clear(dag_id, _spec(dag_id, body, [task_id])) if t.state != new_state]
    if not body_bool(body, "dry_run", True):
        report = store.mark_task_instances([t.key for t in tis], new_state, context.now())
        context.audit(f"mark_{new_state}", dag_id=dag_id, task_id=task_id,
                      extra={"task_instances": len(report.task_instances)})
    return _refs(tis)
