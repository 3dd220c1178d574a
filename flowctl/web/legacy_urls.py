"""Airflow 2's web UI addresses, redirected to flowctl's pages: bookmarks and alert links keep working.

Owns ``/home``, the Flask-AppBuilder list pages (``/variable/list/``, ``/connection/list/``,
``/pool/list/``, ``/log/list/``, ``/dagrun/list/``, ``/taskinstance/list/``, ``/users/list/``),
the per-DAG views by query (``/graph?dag_id=``, ``/tree``, ``/grid``, ``/gantt``, ``/code``,
``/duration``, ``/calendar``, ``/dag_details``), and ``/log`` / ``/task`` by ``dag_id``,
``task_id`` and ``execution_date`` (the run at that logical date). Airflow 2.7's
``/dags/<id>/grid?dag_run_id=…&task_id=…`` (what ``ti.log_url`` gives) is the grid's own route,
which sends it here (:func:`task_page_of_grid_link`). Each target checks its own permissions.
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, request

from flowctl.core import timezones
from flowctl.web import context
from flowctl.web.links import dag_url, ti_url

bp = Blueprint("legacy_urls", __name__)

#: Airflow's list page -> flowctl's page.
LIST_PAGES = {"/home": "/", "/variable/list/": "/admin/variables", "/connection/list/": "/admin/connections",
              "/pool/list/": "/admin/pools", "/log/list/": "/audit", "/dagrun/list/": "/browse/runs",
              "/taskinstance/list/": "/browse/task-instances", "/users/list/": "/admin/users"}
#: Airflow's per-DAG view (``/<view>?dag_id=``) -> the DAG's page.
DAG_VIEWS = {"graph": "graph", "tree": "grid", "grid": "grid", "gantt": "gantt", "code": "code",
             "duration": "duration", "calendar": "calendar", "dag_details": "details",
             "landing_times": "landing-times"}


def _list_page(target: str) -> Any:
    return lambda: redirect(target)


for _old, _new in LIST_PAGES.items():
    bp.add_url_rule(_old, f"list_{_old.strip('/').replace('/', '_') or 'home'}", _list_page(_new))


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
    runs = context.store().list_runs(dag_id, since=when, until=when, limit=1)
    if not runs:
        abort(404, description=f"DAG {dag_id!r} has no run at {when.isoformat()}")
    return redirect(ti_url(dag_id, runs[0].run_id, task_id, _map_index()))


def task_page_of_grid_link(dag_id: str) -> Any:
    """For the grid: Airflow 2.7's ``?dag_run_id=&task_id=[&map_index=&try_number=]`` link (``ti.log_url``)
    as a redirect to that task's page; None when the query is not such a link."""
    run_id, task_id = request.args.get("dag_run_id"), request.args.get("task_id")
    if not run_id or not task_id:
        return None
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
