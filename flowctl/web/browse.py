"""Browse pages: every run, every task instance (filters + bulk actions), the jobs, and the timeline.

Owns ``/browse/runs``, ``/browse/task-instances`` (and their POST ``/action``),
``/browse/jobs`` (scheduler, triggerer, ... processes and their heartbeats)
and ``/timeline`` (one Gantt across every DAG for a time window; the chart
fetches ``/api/v1/timeline``). Lists are paged in SQL.
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from flowctl.core import timezones
from flowctl.core.errors import FlowctlError
from flowctl.db.jobs import JOB_STATES
from flowctl.db.records import JOB_TYPES, RUN_TYPES
from flowctl.db.web_queries import RunQuery, TaskInstanceQuery
from flowctl.web import bulk, context, ui_time
from flowctl.web.auth import hidden_dags, requires
from flowctl.web.formatting import RUN_STATES, TI_STATES
from flowctl.web.links import local_path
from flowctl.web.permissions import Perm

bp = Blueprint("browse", __name__)
DEFAULT_WINDOW = timedelta(hours=24)
EARLIEST = datetime.min.replace(tzinfo=timezone.utc)


def parse_when(text: str | None) -> datetime | None:
    """An ISO date or datetime of an API request (naive means UTC); None when empty. Pages read
    theirs in the page's zone (``ui_time.parse_form_moment``)."""
    if not text or not text.strip():
        return None
    try:
        return timezones.parse_moment(text)
    except ValueError as error:
        raise FlowctlError(str(error)) from None


def window_start(end: datetime) -> datetime:
    """The timeline's start when none is given: :data:`DEFAULT_WINDOW` before ``end``, or the first
    moment there is when that is nearer."""
    return end - min(DEFAULT_WINDOW, end - EARLIEST)


def _only(value: str, allowed: tuple[str, ...] | frozenset[str]) -> str:
    return value if value in allowed else ""


@bp.route("/browse/runs")
@requires(Perm.READ)
def runs() -> Any:
    paging = context.page_args(50)
    args = request.args
    query = RunQuery(dag_id=args.get("dag_id", "").strip(), state=_only(args.get("state", ""), RUN_STATES),
                     run_type=_only(args.get("run_type", ""), frozenset(RUN_TYPES)),
                     start=ui_time.parse_form_moment(args.get("start")),
                     end=ui_time.parse_form_moment(args.get("end")),
                     hidden=hidden_dags(), offset=paging.offset, limit=paging.size)
    page = context.store().run_page(query)
    filters = {k: args.get(k) for k in ("dag_id", "state", "run_type", "start", "end") if args.get(k)}
    return render_template("browse_runs.html", page=page, query=query, filters=filters,
                           run_types=sorted(RUN_TYPES), actions=bulk.ACTIONS, key_json=_run_key_json)


@bp.route("/browse/task-instances")
@requires(Perm.READ)
def task_instances() -> Any:
    paging = context.page_args(50)
    args = request.args
    query = TaskInstanceQuery(dag_id=args.get("dag_id", "").strip(), run_id=args.get("run_id", "").strip(),
                              task_id=args.get("task_id", "").strip(), state=_only(args.get("state", ""), TI_STATES),
                              pool=args.get("pool", "").strip(), hidden=hidden_dags(),
                              offset=paging.offset, limit=paging.size)
    store = context.store()
    page = store.task_instance_page(query)
    dates = store.logical_dates({(t.dag_id, t.run_id) for t in page.items})
    filters = {k: args.get(k) for k in ("dag_id", "run_id", "task_id", "state", "pool") if args.get(k)}
    return render_template("browse_task_instances.html", page=page, query=query, filters=filters, dates=dates,
                           actions=bulk.ACTIONS, key_json=_ti_key_json)


#: The jobs page shows this many, newest heartbeat first (ended jobs pile up until ``flowctl db clean``).
JOBS_SHOWN = 200


@bp.route("/browse/jobs")
@requires(Perm.READ)
def jobs() -> Any:
    """Scheduler, triggerer, DAG processor and worker jobs with their heartbeats (Airflow 2's Browse > Jobs)."""
    job_type = _only(request.args.get("job_type", ""), JOB_TYPES)
    state = _only(request.args.get("state", ""), JOB_STATES)
    listed = context.store().list_jobs(job_type or None, state or None)
    return render_template("browse_jobs.html", jobs=listed[:JOBS_SHOWN], total=len(listed), job_type=job_type,
                           state=state, job_types=sorted(JOB_TYPES), job_states=sorted(JOB_STATES))


def _ti_key_json(ti: Any) -> str:
    return json.dumps([ti.dag_id, ti.run_id, ti.task_id, ti.map_index])


def _run_key_json(run: Any) -> str:
    return json.dumps([run.dag_id, run.run_id])


def _back(endpoint: str) -> Any:
    target = local_path(request.form.get("next"))
    return redirect(target if target and target.startswith("/browse/") else url_for(endpoint))


@bp.route("/browse/task-instances/action", methods=["POST"])
@requires(Perm.DAG_EDIT)
def task_instances_action() -> Any:
    keys = bulk.parse_ti_keys(request.form.getlist("ti"))
    flash(bulk.apply_to_task_instances(request.form.get("action", ""), keys), "success")
    return _back("browse.task_instances")


@bp.route("/browse/runs/action", methods=["POST"])
@requires(Perm.DAG_EDIT)
def runs_action() -> Any:
    keys = bulk.parse_run_keys(request.form.getlist("run"))
    flash(bulk.apply_to_runs(request.form.get("action", ""), keys), "success")
    return _back("browse.runs")


@bp.route("/timeline")
@requires(Perm.READ)
def timeline() -> Any:
    end = ui_time.parse_form_moment(request.args.get("end")) or context.now()
    start = ui_time.parse_form_moment(request.args.get("start")) or window_start(end)
    return render_template("timeline.html", start=start, end=end)
