"""The per-DAG read pages: overview (docs), graph, grid, code — blueprint ``dag``.

Every page reads the DAG's serialized version (the one the chosen run ran
with, when there is a run) and a bounded window of runs; the chosen run is
``?run_id=`` and every link a page makes carries it. Charts (Gantt, duration,
landing times, calendar) are in ``dag_charts.py``; runs and task instances in
``run_views.py``; POST actions in ``dag_actions.py``.
Must not import flowctl.cli or flowctl.scheduler; never imports DAG files.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote
from typing import Any

from flask import Blueprint, render_template, request
from markupsafe import Markup

from flowctl.db.dags import dag_body
from flowctl.db.records import DagRecord, DagRunRecord
from flowctl.web import context
from flowctl.web.auth import dag_perms, requires_dag
from flowctl.web.dag_model import graph_payload, grid_rows
from flowctl.web.links import dag_url, run_url
from flowctl.web.markdown_docs import render_markdown
from flowctl.web.permissions import Perm

bp = Blueprint("dag", __name__)
GRID_DEFAULT_RUNS = 25
GRID_MAX_RUNS = 100
MAX_CODE_BYTES = 2_000_000
#: Run states that make the grid, graph and run pages refresh themselves (``dag/_auto_refresh.html``).
ACTIVE_RUN_STATES = frozenset({"queued", "running"})


def is_active(runs: Any) -> bool:
    """Whether any of these runs (None ignored) is queued or running."""
    return any(r is not None and r.state in ACTIVE_RUN_STATES for r in runs)


@dataclass(frozen=True, slots=True)
class DagPage:
    """What every per-DAG page starts from: the dag row, its serialized body and the chosen run."""

    dag: DagRecord
    data: Mapping[str, Any]
    run: DagRunRecord | None

    @property
    def run_id(self) -> str | None:
        return None if self.run is None else self.run.run_id


def serialized_for(dag_id: str, run: DagRunRecord | None) -> Mapping[str, Any]:
    """The serialized DAG body a run ran with (the latest version when no run or version)."""
    store = context.store()
    if run is not None and run.serialized_dag_id:
        try:
            return dag_body(store.get_serialized_dag(run.serialized_dag_id).data)
        except LookupError:
            pass
    return dag_body(store.latest_serialized_dag(dag_id).data)


def chosen_run(dag_id: str, run_id: str | None) -> DagRunRecord | None:
    """``?run_id=``'s run (DagRunNotFound if it does not exist), else the newest run, else None."""
    store = context.store()
    if run_id:
        return store.get_run(dag_id, run_id)  # type: ignore[no-any-return]
    newest = store.run_window(dag_id, 0, 1)
    return newest[0] if newest else None


def dag_page(dag_id: str, run_id: str | None = None) -> DagPage:
    """The dag row, the chosen run and the serialized body that run used."""
    dag = context.store().get_dag(dag_id)
    run = chosen_run(dag_id, run_id if run_id is not None else request.args.get("run_id"))
    return DagPage(dag, serialized_for(dag_id, run), run)


def render_dag(template: str, page: DagPage, tab: str, **values: Any) -> str:
    """Render a per-DAG page with the header, tabs and the user's rights on the DAG."""
    perms = dag_perms(page.dag.dag_id)
    return render_template(template, dag=page.dag, data=page.data, run=page.run, run_id=page.run_id,
                           tab=tab, can_edit=Perm.DAG_EDIT in perms, **values)


@bp.route("/dags/<dag_id>")
@requires_dag(Perm.READ)
def overview(dag_id: str) -> Any:
    """The DAG: schedule, owners, docs, recent runs and the actions."""
    page = dag_page(dag_id)
    runs = context.store().run_window(dag_id, 0, 10)
    docs = render_markdown(page.data.get("doc_md"))
    return render_dag("dag/overview.html", page, "overview", runs=runs, docs=docs,
                      run_count=context.store().count_runs(dag_id),
                      params=page.data.get("params") or {}, limits=_limits(page.dag))


def _limits(dag: Any) -> tuple[int, int]:
    """(max_active_runs, max_active_tasks): the DAG's own, or the configured default it runs under."""
    settings = context.settings()
    runs = dag.max_active_runs if dag.max_active_runs is not None else settings.get("core", "max_active_runs_per_dag")
    tasks = dag.max_active_tasks if dag.max_active_tasks is not None else settings.get("core",
                                                                                       "max_active_tasks_per_dag")
    return int(runs), int(tasks)


@bp.route("/dags/<dag_id>/graph")
@requires_dag(Perm.READ)
def graph(dag_id: str) -> Any:
    """Tasks and groups laid out in layers, coloured by the chosen run's states."""
    page = dag_page(dag_id)
    cells = context.store().task_cells(dag_id, [page.run_id]) if page.run else []
    payload = graph_payload(page.data, cells)
    payload.update(dag_id=dag_id, run_id=page.run_id)
    recent = context.store().run_window(dag_id, 0, 25)
    return render_dag("dag/graph.html", page, "graph", graph=payload, recent_runs=recent,
                      active=is_active([page.run]))


def _grid_window() -> tuple[int, int]:
    size = request.args.get("num_runs", GRID_DEFAULT_RUNS, type=int) or GRID_DEFAULT_RUNS
    offset = request.args.get("offset", 0, type=int) or 0
    return max(offset, 0), min(max(size, 1), GRID_MAX_RUNS)


@bp.route("/dags/<dag_id>/grid")
@requires_dag(Perm.READ)
def grid(dag_id: str) -> Any:
    """Tasks (and groups) by a window of runs, oldest to newest; older runs a page away."""
    from flowctl.web.legacy_urls import task_page_of_grid_link

    link = task_page_of_grid_link(dag_id)  # Airflow 2.7's link to a task's log (ti.log_url)
    if link is not None:
        return link
    store = context.store()
    offset, size = _grid_window()
    runs = list(reversed(store.run_window(dag_id, offset, size)))
    run_ids = [r.run_id for r in runs]
    selected = request.args.get("run_id") or (run_ids[-1] if run_ids else None)
    run = next((r for r in runs if r.run_id == selected), None)
    if run is None and selected:
        run = chosen_run(dag_id, selected)
    page = DagPage(store.get_dag(dag_id), serialized_for(dag_id, runs[-1] if runs else None), run)
    rows = grid_rows(page.data, run_ids, store.task_states(dag_id, run_ids))
    total = store.count_runs(dag_id)
    # URLs are built once per run and per task, not once per cell: 2,500 cells stay cheap.
    links = {"ti_paths": [run_url(dag_id, r) + "/tasks/" for r in run_ids],
             "grid_links": [dag_url(dag_id, "grid", run_id=r) for r in run_ids],
             "segs": {row.node_id: quote(row.node_id, safe="") for row in rows},
             "chosen_attr": [Markup(' class="chosen"') if r == selected else "" for r in run_ids]}
    return render_dag("dag/grid.html", page, "grid", runs=runs, rows=rows, offset=offset, size=size,
                      total=total, older=offset + size < total, newer=offset > 0, active=is_active([*runs, run]),
                      **links)


@bp.route("/dags/<dag_id>/code")
@requires_dag(Perm.READ)
def code(dag_id: str) -> Any:
    """The DAG file's source, read from its stored location."""
    page = dag_page(dag_id)
    fileloc = page.dag.fileloc or str(page.data.get("fileloc") or "")
    source, problem = read_source(fileloc)
    return render_dag("dag/code.html", page, "code", fileloc=fileloc, source=source, problem=problem)


def read_source(fileloc: str) -> tuple[str | None, str | None]:
    """(text, None) or (None, why it cannot be shown)."""
    if not fileloc:
        return None, "this DAG has no file location"
    path = Path(fileloc)
    try:
        if path.stat().st_size > MAX_CODE_BYTES:
            return None, f"{fileloc} is larger than {MAX_CODE_BYTES // 1_000_000} MB"
        return path.read_text(encoding="utf-8", errors="replace"), None
    except OSError as exc:
        return None, f"cannot read {fileloc}: {exc.strerror or exc}"

