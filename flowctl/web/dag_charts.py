"""The per-DAG charts: Gantt of a run, task duration, landing times, calendar — blueprint ``dag_charts``.

Data is computed on the server (``dag_model``) from a bounded window and
handed to the page as JSON; Apache ECharts (vendored) draws it.
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, request

from flowctl.web import context
from flowctl.web.auth import requires_dag
from flowctl.web.dag_model import calendar_days, duration_series, gantt_bars, landing_series
from flowctl.web.dag_views import DagPage, dag_page, render_dag, serialized_for
from flowctl.web.permissions import Perm

bp = Blueprint("dag_charts", __name__)
CHART_DEFAULT_RUNS = 30
CHART_MAX_RUNS = 365


def _task_order(data: Any) -> list[str]:
    return [str(t["task_id"]) for t in data.get("tasks") or ()]


@bp.route("/dags/<dag_id>/gantt")
@requires_dag(Perm.READ)
def gantt(dag_id: str) -> Any:
    """Queued and running time of every try of the chosen run's task instances."""
    page = dag_page(dag_id)
    tries = context.store().run_tries(dag_id, page.run_id) if page.run else []
    bars = gantt_bars(_task_order(page.data), tries, context.now())
    recent = context.store().run_window(dag_id, 0, 25)
    return render_dag("dag/gantt.html", page, "gantt", bars=bars, recent_runs=recent)


def _chart_runs(dag_id: str) -> tuple[list[Any], int]:
    size = request.args.get("num_runs", CHART_DEFAULT_RUNS, type=int) or CHART_DEFAULT_RUNS
    size = min(max(size, 1), CHART_MAX_RUNS)
    return list(reversed(context.store().run_window(dag_id, 0, size))), size


def _chart_page(dag_id: str, runs: list[Any]) -> DagPage:
    store = context.store()
    newest = runs[-1] if runs else None
    return DagPage(store.get_dag(dag_id), serialized_for(dag_id, newest), None)


@bp.route("/dags/<dag_id>/duration")
@requires_dag(Perm.READ)
def duration(dag_id: str) -> Any:
    """How long each task took over the last runs."""
    runs, size = _chart_runs(dag_id)
    cells = context.store().task_cells(dag_id, [r.run_id for r in runs])
    return render_dag("dag/series.html", _chart_page(dag_id, runs), "duration", size=size,
                      series=duration_series(runs, cells), title="Task duration",
                      axis="duration", endpoint="dag_charts.duration")


@bp.route("/dags/<dag_id>/landing-times")
@requires_dag(Perm.READ)
def landing_times(dag_id: str) -> Any:
    """When each task finished, counted from the end of its run's data interval."""
    runs, size = _chart_runs(dag_id)
    cells = context.store().task_cells(dag_id, [r.run_id for r in runs])
    return render_dag("dag/series.html", _chart_page(dag_id, runs), "landing", size=size,
                      series=landing_series(runs, cells), title="Landing times",
                      axis="landing time", endpoint="dag_charts.landing_times")


@bp.route("/dags/<dag_id>/calendar")
@requires_dag(Perm.READ)
def calendar(dag_id: str) -> Any:
    """A year of daily run states (``?year=``, this year by default)."""
    now = context.now()
    year = request.args.get("year", now.year, type=int) or now.year
    year = min(max(year, 1970), 9998)
    start = datetime(year, 1, 1, tzinfo=timezone.utc)
    end = datetime(year + 1, 1, 1, tzinfo=timezone.utc)
    days = calendar_days(context.store().daily_run_states(dag_id, start, end))
    page = DagPage(context.store().get_dag(dag_id), serialized_for(dag_id, None), None)
    return render_dag("dag/calendar.html", page, "calendar", year=year, days=days)
