"""What the per-DAG pages draw, computed from a serialized DAG and task cells: pure functions.

Owns the grid rows (tasks and task groups by runs, the Airflow tree view),
the graph payload (nodes, groups, edges and the chosen run's states, laid out
in the browser by dagre), the Gantt bars, duration and landing-time series
and the calendar days. A mapped task or a task group shows the most urgent
state among its instances (:func:`summary_state`).
Pure: no Flask, no database. Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

#: Most urgent first: a group with one failed task shows failed.
STATE_PRIORITY: tuple[str, ...] = (
    "failed", "upstream_failed", "up_for_retry", "up_for_reschedule", "running", "deferred", "queued",
    "scheduled", "pending", "removed", "skipped", "success")


class Cell(Protocol):
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    state: str
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None


def summary_state(states: Iterable[str | None]) -> str | None:
    """The most urgent of several states (None when there are none)."""
    present = {s for s in states if s}
    for state in STATE_PRIORITY:
        if state in present:
            return state
    return next(iter(sorted(present)), None)


def group_tree(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """The serialized task-group tree (a flat root group when the DAG has none)."""
    tree = data.get("task_group")
    if isinstance(tree, Mapping):
        return tree
    return {"group_id": None, "children": [str(t["task_id"]) for t in data.get("tasks") or ()]}


def _label(node_id: str, parent: str | None) -> str:
    prefix = f"{parent}." if parent else ""
    return node_id[len(prefix):] if prefix and node_id.startswith(prefix) else node_id


@dataclass(frozen=True, slots=True)
class GridRow:
    """One row of the grid: a task or a task group, its depth and its state in each run."""

    node_id: str
    label: str
    depth: int
    is_group: bool
    parent: str | None
    states: tuple[str | None, ...]
    tries: tuple[int, ...]
    mapped: bool = False
    counts: tuple[str, ...] = ()  # a mapped task's instances by state in each run ("" for none)


def topological_rank(data: Mapping[str, Any]) -> dict[str, int]:
    """task_id -> its place in a topological order (ties in definition order)."""
    tasks = [(str(t["task_id"]), {str(u) for u in t.get("upstream_task_ids") or ()}) for t in data.get("tasks") or ()]
    placed: dict[str, int] = {}
    while len(placed) < len(tasks):
        ready = [t for t, ups in tasks if t not in placed and ups <= placed.keys()]
        if not ready:  # a cycle cannot be stored, but never loop forever
            ready = [t for t, _ups in tasks if t not in placed]
        for task_id in ready:
            placed[task_id] = len(placed)
    return placed


def _walk(tree: Mapping[str, Any], depth: int,
          rank: Mapping[str, int] | None = None) -> Iterable[tuple[str, str | None, int, bool, list[str]]]:
    """(id, parent group, depth, is_group, task ids below), depth first, each level in topological order."""
    parent = tree.get("group_id")
    rank = rank or {}

    def place(child: Any) -> int:
        below = _tasks_below(child) if isinstance(child, Mapping) else [str(child)]
        return min((rank.get(t, len(rank)) for t in below), default=len(rank))

    for child in sorted(tree.get("children") or (), key=place):
        if isinstance(child, Mapping):
            below = list(_tasks_below(child))
            yield str(child["group_id"]), parent, depth, True, below
            yield from _walk(child, depth + 1, rank)
        else:
            yield str(child), parent, depth, False, [str(child)]


def _tasks_below(tree: Mapping[str, Any]) -> Iterable[str]:
    for child in tree.get("children") or ():
        if isinstance(child, Mapping):
            yield from _tasks_below(child)
        else:
            yield str(child)


def cell_index(cells: Iterable[Cell]) -> dict[tuple[str, str], list[Cell]]:
    """(run_id, task_id) -> the cells of that task in that run (several when mapped)."""
    out: dict[tuple[str, str], list[Cell]] = {}
    for cell in cells:
        out.setdefault((cell.run_id, cell.task_id), []).append(cell)
    return out


def grid_rows(data: Mapping[str, Any], run_ids: Sequence[str], cells: Iterable[Cell]) -> list[GridRow]:
    """Rows for every group and task (depth first) with one state per run in ``run_ids``."""
    index = cell_index(cells)
    mapped = {str(t["task_id"]) for t in data.get("tasks") or () if t.get("is_mapped")}
    rows = []
    for node_id, parent, depth, is_group, below in _walk(group_tree(data), 0, topological_rank(data)):
        states, tries, counts = [], [], []
        is_mapped = not is_group and node_id in mapped
        for run_id in run_ids:
            found = [c for t in below for c in index.get((run_id, t), ())]
            states.append(summary_state(c.state for c in found))
            tries.append(max((c.try_number for c in found), default=0))
            if is_mapped:
                counts.append(mapped_counts(found))
        rows.append(GridRow(node_id, _label(node_id, parent), depth, is_group, parent, tuple(states), tuple(tries),
                            is_mapped, tuple(counts)))
    return rows


def mapped_counts(found: Sequence[Cell]) -> str:
    """``4 mapped: 3 success, 1 failed`` (most urgent state first), as Airflow's grid tooltip counts them."""
    if not found:
        return ""
    by_state: dict[str, int] = {}
    for cell in found:
        by_state[cell.state or "none"] = by_state.get(cell.state or "none", 0) + 1
    order = sorted(by_state, key=lambda s: STATE_PRIORITY.index(s) if s in STATE_PRIORITY else len(STATE_PRIORITY))
    return f"{len(found)} mapped: " + ", ".join(f"{by_state[s]} {s}" for s in order)


def graph_payload(data: Mapping[str, Any], cells: Iterable[Cell]) -> dict[str, Any]:
    """Nodes (tasks), groups (with parents) and edges, with each task's state in the chosen run."""
    by_task: dict[str, list[Cell]] = {}
    for cell in cells:
        by_task.setdefault(cell.task_id, []).append(cell)
    groups: list[dict[str, Any]] = []
    parents: dict[str, str | None] = {}
    for node_id, parent, _depth, is_group, _below in _walk(group_tree(data), 0):
        parents[node_id] = parent
        if is_group:
            groups.append({"id": node_id, "label": _label(node_id, parent), "parent": parent})
    nodes = []
    for task in data.get("tasks") or ():
        task_id = str(task["task_id"])
        found = by_task.get(task_id, [])
        nodes.append({"id": task_id, "label": _label(task_id, parents.get(task_id)), "group": parents.get(task_id),
                      "operator": task.get("task_type") or task.get("operator") or "",
                      "state": summary_state(c.state for c in found),
                      "mapped": bool(task.get("is_mapped")), "instances": len(found),
                      "ui_color": task.get("ui_color"), "role": _role(task)})
    edges = [[str(up), str(t["task_id"])] for t in data.get("tasks") or () for up in t.get("upstream_task_ids") or ()]
    roles = {node["id"]: node["role"] for node in nodes}
    # a setup's edge to its teardown is drawn dotted, as Airflow draws it
    setup_edges = [e for e in edges if roles.get(e[0]) == "setup" and roles.get(e[1]) == "teardown"]
    return {"nodes": nodes, "groups": groups, "edges": edges, "setup_edges": setup_edges,
            "edge_labels": _edge_labels(data, edges)}


def _edge_labels(data: Mapping[str, Any], edges: list[list[str]]) -> list[list[str]]:
    """[upstream, downstream, label] of each edge a ``Label`` named (the DAG's ``edge_info``)."""
    info = data.get("edge_info") or {}
    found = ((up, down, ((info.get(up) or {}).get(down) or {}).get("label")) for up, down in edges)
    return [[up, down, str(label)] for up, down, label in found if label]


def _role(task: Mapping[str, Any]) -> str | None:
    """``setup``, ``teardown`` or None (Airflow 2.7's setup and teardown tasks)."""
    return "setup" if task.get("is_setup") else "teardown" if task.get("is_teardown") else None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def gantt_bars(task_order: Sequence[str], tries: Iterable[Cell], now: datetime) -> list[dict[str, Any]]:
    """One bar per try: queued (queued_at..start) and running (start..end, or now while running)."""
    rank = {t: i for i, t in enumerate(task_order)}
    bars = []
    for c in sorted(tries, key=lambda c: (rank.get(c.task_id, len(rank)), c.map_index, c.try_number)):
        if c.start_date is None and c.queued_at is None:
            continue
        end = c.end_date or (now if c.state == "running" else c.start_date)
        label = c.task_id if c.map_index < 0 else f"{c.task_id}[{c.map_index}]"
        bars.append({"task": label, "task_id": c.task_id, "map_index": c.map_index, "try": c.try_number,
                     "state": c.state, "queued": _iso(c.queued_at), "start": _iso(c.start_date),
                     "end": _iso(end)})
    return bars


def _seconds(cell: Cell) -> float | None:
    if cell.duration is not None:
        return float(cell.duration)
    if cell.start_date is not None and cell.end_date is not None:
        return (cell.end_date - cell.start_date).total_seconds()
    return None


def duration_series(runs: Sequence[Any], cells: Iterable[Cell]) -> dict[str, Any]:
    """Per task, its duration (seconds, longest map index) in each run, runs oldest first."""
    index = cell_index(cells)
    task_ids = sorted({t for (_r, t) in index})
    series = {}
    for task_id in task_ids:
        points = []
        for run in runs:
            values = [s for c in index.get((run.run_id, task_id), ()) if (s := _seconds(c)) is not None]
            points.append(max(values) if values else None)
        series[task_id] = points
    return {"runs": [r.run_id for r in runs], "dates": [_iso(r.logical_date) for r in runs], "series": series}


def landing_series(runs: Sequence[Any], cells: Iterable[Cell]) -> dict[str, Any]:
    """Per task, seconds from the end of the run's data interval (or logical date) to the task's end."""
    index = cell_index(cells)
    task_ids = sorted({t for (_r, t) in index})
    series = {}
    for task_id in task_ids:
        points = []
        for run in runs:
            base = run.data_interval_end or run.logical_date
            ends = [c.end_date for c in index.get((run.run_id, task_id), ()) if c.end_date is not None]
            points.append((max(ends) - base).total_seconds() if ends and base is not None else None)
        series[task_id] = points
    return {"runs": [r.run_id for r in runs], "dates": [_iso(r.logical_date) for r in runs], "series": series}


def calendar_days(daily: Iterable[tuple[str, str, int]]) -> list[dict[str, Any]]:
    """One entry per day with runs: the most urgent run state and the counts per state."""
    days: dict[str, dict[str, int]] = {}
    for day, state, count in daily:
        days.setdefault(day[:10], {})[state] = days.get(day[:10], {}).get(state, 0) + count
    return [{"date": day, "state": summary_state(counts), "counts": counts} for day, counts in sorted(days.items())]


def selected_task_ids(data: Mapping[str, Any], node_id: str) -> list[str]:
    """The task ids a grid/graph node stands for: itself, or every task below a group."""
    for nid, _parent, _depth, is_group, below in _walk(group_tree(data), 0):
        if nid == node_id:
            return below if is_group else [nid]
    return []
