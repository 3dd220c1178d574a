"""Airflow 2's web UI addresses, redirected to flowctl's pages: bookmarks and alert links keep working.

Owns ``/home`` (its ``tags``, ``status``, ``search``, ``lastrun`` and 0-based ``page`` become the
home page's filters), the Flask-AppBuilder list pages (``/variable/list/``, ``/connection/list/``,
``/pool/list/``, ``/log/list/``, ``/dagrun/list/``, ``/taskinstance/list/``, ``/users/list/``,
``/importerror/list/``, ``/slamiss/list/``, ``/job/list/``, and ``/xcom/list/``, whose XComs flowctl shows on each
task instance's page: the task instance list), keeping the ``_flt_<n>_<field>=`` filters the target
understands, the per-DAG views by query (``/graph?dag_id=``, ``/tree``, ``/grid``, ``/gantt``, ``/code``,
``/duration``, ``/calendar``, ``/dag_details`` (the DAG's page), ``/trigger``), and ``/log`` / ``/task`` by ``dag_id``,
``task_id`` and ``execution_date`` (the run at that logical date). Airflow 2.7's
``/dags/<id>/grid?dag_run_id=…&task_id=…`` (what ``ti.log_url`` gives) is the grid's own route,
which sends it here (:func:`task_page_of_grid_link`). Each target checks its own permissions; ``/log``
finds runs only of a DAG the user may see (a hidden DAG answers as a missing one).
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, redirect, request

from flowctl.core import timezones
from flowctl.web import context
from flowctl.web.auth import dag_visible
from flowctl.web.links import dag_url, ti_url

bp = Blueprint("legacy_urls", __name__)

#: Airflow's list page -> (flowctl's page, the fields of Flask-AppBuilder's ``_flt_<n>_<field>=`` filters it takes).
LIST_PAGES: Mapping[str, tuple[str, Sequence[str]]] = {
    "/variable/list/": ("/admin/variables", ()), "/connection/list/": ("/admin/connections", ()),
    "/pool/list/": ("/admin/pools", ()), "/log/list/": ("/audit", ("dag_id", "event", "owner")),
    "/dagrun/list/": ("/browse/runs", ("dag_id", "state", "run_type")),
    "/taskinstance/list/": ("/browse/task-instances", ("dag_id", "run_id", "task_id", "state", "pool")),
    "/users/list/": ("/admin/users", ()), "/importerror/list/": ("/import-errors", ()),
    "/slamiss/list/": ("/browse/sla-misses", ("dag_id",)), "/job/list/": ("/browse/jobs", ("job_type", "state")),
    "/xcom/list/": ("/browse/task-instances", ("dag_id", "run_id", "task_id")),
}
#: Airflow's per-DAG view (``/<view>?dag_id=``) -> the DAG's page ("" is its overview).
DAG_VIEWS = {"graph": "graph", "tree": "grid", "grid": "grid", "gantt": "gantt", "code": "code",
             "duration": "duration", "calendar": "calendar", "dag_details": "", "trigger": "trigger",
             "landing_times": "landing-times"}
#: Airflow's home filters: ``status`` and ``lastrun`` values flowctl's home understands.
HOME_STATUSES = ("active", "paused")
HOME_LAST_RUN = ("queued", "running", "success", "failed")
_FAB_FILTER = re.compile(r"_flt_\d+_(\w+)")


def fab_filters(args: Mapping[str, str], fields: Sequence[str]) -> dict[str, str]:
    """``{"_flt_0_dag_id": "x", "_flt_3_state": ""}`` -> ``{"dag_id": "x"}`` for the named fields
    (whatever the operator number; the first value of a field wins)."""
    out: dict[str, str] = {}
    for name, value in args.items():
        found = _FAB_FILTER.fullmatch(name)
        if found and found.group(1) in fields and value.strip():
            out.setdefault(found.group(1), value.strip())
    return out


def home_filters(args: Any) -> dict[str, str]:
    """Airflow 2's ``/home`` query as flowctl's home filters (one tag: the first of ``tags``)."""
    out: dict[str, str] = {}
    tags = [t.strip() for t in args.getlist("tags") if t.strip()]
    if tags:
        out["tag"] = tags[0]
    if args.get("search", "").strip():
        out["search"] = args["search"].strip()
    if args.get("status") in HOME_STATUSES:
        out["status"] = args["status"]
    if args.get("lastrun") in HOME_LAST_RUN:
        out["last_run_state"] = args["lastrun"]
    page = args.get("page", 0, type=int) or 0
    if page > 0:
        out["page"] = str(page + 1)  # Airflow's pages count from 0, flowctl's from 1
    return out


@bp.route("/home")
def home() -> Any:
    """Airflow's DAG list, with its filters."""
    query = home_filters(request.args)
    return redirect("/" + ("?" + urlencode(query) if query else ""))


def _list_page(target: str, fields: Sequence[str]) -> Any:
    def view() -> Any:
        query = fab_filters(request.args, fields)
        return redirect(target + ("?" + urlencode(query) if query else ""))
    return view


for _old, (_new, _fields) in LIST_PAGES.items():
    bp.add_url_rule(_old, f"list_{_old.strip('/').replace('/', '_')}", _list_page(_new, _fields))


def _dag_view(page: str) -> Any:
    def view() -> Any:
        return redirect(dag_url(_required("dag_id"), page))
    return view


for _view, _page in DAG_VIEWS.items():
    bp.add_url_rule(f"/{_view}", f"view_{_view}", _dag_view(_page))


@bp.route("/log")
@bp.route("/task")
def task_by_date() -> Any:
    """``/log?dag_id=&task_id=&execution_date=[&map_index=]``: that run's task page."""
    dag_id, task_id = _required("dag_id"), _required("task_id")
    try:
        when = timezones.parse_moment(_required("execution_date"))
    except ValueError as error:
        abort(400, description=str(error))
    visible = dag_visible(dag_id)  # a DAG the user may not see has no runs for them, as a missing one
    runs = context.store().list_runs(dag_id, since=when, until=when, limit=1) if visible else []
    if not runs:
        abort(404, description=f"DAG {dag_id!r} has no run at {when.isoformat()}")
    return redirect(ti_url(dag_id, runs[0].run_id, task_id, _map_index()))


def task_page_of_grid_link(dag_id: str) -> Any:
    """For the grid: Airflow 2.7's ``?dag_run_id=&task_id=[&map_index=&try_number=]`` link (``ti.log_url``)
    as a redirect to that task's page; None when the query is not such a link."""
    run_id, task_id = request.args.get("dag_run_id"), request.args.get("task_id")
    if not run_id or not task_id:
        return None
    context.store().get_dag(dag_id)  # DagNotFound -> 404: a missing DAG answers as one the user may not see
    tried = request.args.get("try_number", "")
    return redirect(ti_url(dag_id, run_id, task_id, _map_index(), int(tried) if tried.isdigit() else None))


def _required(name: str) -> str:
    value = request.args.get(name, "").strip()
    if not value:
        abort(400, description=f"{name} is required")
    return value


def _map_index() -> int:
    raw = request.args.get("map_index", "-1")
    try:
        return int(raw)
    except ValueError:
        abort(400, description=f"map_index must be a whole number, not {raw[:20]!r}")
