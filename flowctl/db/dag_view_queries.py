"""Store read verbs for the per-DAG pages of the web UI: run windows, grid cells, tries, daily states.

Owns :class:`TaskCell` (one task instance, or one try, reduced to what the
grid, graph, Gantt and duration charts draw) and :class:`DagViewVerbs`, the
Store mixin. Every verb reads a bounded window (a page of runs, one run, a
date range) so a DAG with 10,000 runs costs the same as one with ten.
Must not import web, cli or scheduler.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select

from flowctl.db.base import StoreCore
from flowctl.db.records import DagRunRecord
from flowctl.db.runs import run_record
from flowctl.db.tables import DagRunRow, SerializedDagRow, TaskInstanceHistoryRow, TaskInstanceRow

MAX_WINDOW = 500


@dataclass(frozen=True, slots=True)
class TaskCell:
    """One task instance (or one of its tries) as the charts draw it."""

    run_id: str
    task_id: str
    map_index: int
    try_number: int
    state: str
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    hostname: str | None


_CELL_COLUMNS = ("run_id", "task_id", "map_index", "try_number", "state", "queued_at", "start_date",
                 "end_date", "duration", "hostname")


def _cells(rows: Any) -> list[TaskCell]:
    return [TaskCell(*row) for row in rows]


class DagViewVerbs(StoreCore):
    """run_window, count_runs, task_cells, task_states, run_tries, daily_run_states, schedules."""

    def schedules(self, dag_ids: Collection[str]) -> dict[str, Mapping[str, Any]]:
        """dag_id -> ``{"timetable", "timetable_description", "dag_display_name"}`` of each DAG's latest
        serialized version (only these keys are read, not the task lists: a page of 100 DAGs stays one
        small query)."""
        if not dag_ids:
            return {}
        sd = SerializedDagRow
        latest = (select(sd.dag_id, func.max(sd.version_number).label("v"))
                  .where(sd.dag_id.in_(sorted(dag_ids))).group_by(sd.dag_id).subquery())
        query = (select(sd.dag_id, sd.data["timetable"], sd.data["timetable_description"],
                        sd.data["dag_display_name"])
                 .join(latest, and_(latest.c.dag_id == sd.dag_id, latest.c.v == sd.version_number)))
        with self._read() as s:
            return {d: {"timetable": t, "timetable_description": desc, "dag_display_name": shown}
                    for d, t, desc, shown in s.execute(query)}

    def run_window(self, dag_id: str, offset: int = 0, limit: int = 25) -> list[DagRunRecord]:
        """``limit`` runs of a DAG starting ``offset`` from the newest, newest first."""
        limit = max(1, min(limit, MAX_WINDOW))
        query = (select(DagRunRow).where(DagRunRow.dag_id == dag_id)
                 .order_by(DagRunRow.logical_date.desc()).offset(max(offset, 0)).limit(limit))
        with self._read() as s:
            return [run_record(r) for r in s.scalars(query).all()]

    def count_runs(self, dag_id: str) -> int:
        """How many runs a DAG has."""
        with self._read() as s:
            return int(s.scalar(select(func.count()).select_from(DagRunRow)
                                .where(DagRunRow.dag_id == dag_id)) or 0)

    def task_cells(self, dag_id: str, run_ids: Collection[str]) -> list[TaskCell]:
        """The task instances of these runs (current try), by run, task and map index."""
        if not run_ids:
            return []
        ti = TaskInstanceRow
        query = (select(*(getattr(ti, c) for c in _CELL_COLUMNS))
                 .where(ti.dag_id == dag_id, ti.run_id.in_(sorted(run_ids)))
                 .order_by(ti.run_id, ti.task_id, ti.map_index))
        with self._read() as s:
            return _cells(s.execute(query).all())

    def task_states(self, dag_id: str, run_ids: Collection[str]) -> list[TaskCell]:
        """Like :meth:`task_cells` with only keys, state and try number (the grid's cheap read)."""
        if not run_ids:
            return []
        ti = TaskInstanceRow
        query = (select(ti.run_id, ti.task_id, ti.map_index, ti.try_number, ti.state)
                 .where(ti.dag_id == dag_id, ti.run_id.in_(sorted(run_ids))))
        with self._read() as s:
            rows = s.execute(query).all()
        return [TaskCell(r, t, m, n, st, None, None, None, None, None) for r, t, m, n, st in rows]

    def run_tries(self, dag_id: str, run_id: str) -> list[TaskCell]:
        """Every try of every task instance of a run: finished tries from history, then the current one.

        The current try is left out when history already holds that try number.
        """
        h, ti = TaskInstanceHistoryRow, TaskInstanceRow
        past = (select(*(getattr(h, c) for c in _CELL_COLUMNS))
                .where(h.dag_id == dag_id, h.run_id == run_id)
                .order_by(h.task_id, h.map_index, h.try_number))
        now = (select(*(getattr(ti, c) for c in _CELL_COLUMNS))
               .where(ti.dag_id == dag_id, ti.run_id == run_id).order_by(ti.task_id, ti.map_index))
        with self._read() as s:
            history = _cells(s.execute(past).all())
            current = _cells(s.execute(now).all())
        seen = {(c.task_id, c.map_index, c.try_number) for c in history}
        extra = [c for c in current if (c.task_id, c.map_index, c.try_number) not in seen]
        return sorted(history + extra, key=lambda c: (c.task_id, c.map_index, c.try_number))

    def daily_run_states(self, dag_id: str, start: datetime, end: datetime) -> list[tuple[str, str, int]]:
        """(YYYY-MM-DD, state, count) of the DAG's runs with logical dates in ``[start, end)``."""
        day = func.date(DagRunRow.logical_date)
        query = (select(day, DagRunRow.state, func.count())
                 .where(DagRunRow.dag_id == dag_id, DagRunRow.logical_date >= start,
                        DagRunRow.logical_date < end)
                 .group_by(day, DagRunRow.state).order_by(day))
        with self._read() as s:
            return [(str(d), str(state), int(n)) for d, state, n in s.execute(query).all()]
