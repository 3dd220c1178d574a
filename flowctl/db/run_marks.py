"""Store verb for a person marking a whole run success or failed (UI, REST API, browse pages).

``mark_run`` asks the pure ``core.planner.run_mark`` what marking does to each
task instance, given the run's task graph: the work stops (failed: queued and
running tries fail and get a kill request, the rest is skipped) or becomes
success, while the teardowns whose setups ran are left to run, as Airflow
documents. The run takes the chosen state at once and keeps it: the
scheduler still examines a finished run while task instances of it are
unfinished (``runs_to_examine``), schedules only its teardowns and never
finishes it again. All of it is one transaction of compare-and-sets
checked against the manual tables of ``core/states.py``.
Must not import above ``db``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from flowctl.core.errors import DagRunNotFound
from flowctl.core.planner import TaskGraph, run_mark, task_graph
from flowctl.core.states import DagRunState, TaskInstanceState
from flowctl.db.base import StoreCore
from flowctl.db.operations import CHANGED_WAKE, _cas_run_row, _cas_ti_row, _key, _record_kills, _serialized_of
from flowctl.db.records import RunKey, TaskInstanceKey
from flowctl.db.tables import DagRunRow, TaskInstanceRow


@dataclass(frozen=True, slots=True)
class RunMarkReport:
    """What marking a run changed, the tries it stopped, and the unfinished teardowns it left alone."""

    task_instances: tuple[TaskInstanceKey, ...]
    runs: tuple[RunKey, ...]
    killed: tuple[TaskInstanceKey, ...]
    teardowns_left: tuple[TaskInstanceKey, ...]


def _graph_of(s: Session, run: DagRunRow) -> TaskGraph | None:
    serialized = _serialized_of(s, run)
    return task_graph(serialized) if serialized else None


class RunMarkVerbs(StoreCore):
    """mark_run."""

    def mark_run(self, run: RunKey, state: DagRunState | str, now: datetime) -> RunMarkReport:
        """Mark the whole run success or failed (its teardowns left to run); DagRunNotFound names it."""
        new = DagRunState(state)
        with self._session() as s:
            row = s.scalars(select(DagRunRow).where(DagRunRow.dag_id == run.dag_id,
                                                    DagRunRow.run_id == run.run_id)).first()
            if row is None:
                raise DagRunNotFound(f"DAG run {run.run_id!r} of DAG {run.dag_id!r} not found")
            tis = list(s.scalars(select(TaskInstanceRow).where(
                TaskInstanceRow.dag_id == run.dag_id, TaskInstanceRow.run_id == run.run_id)
                .order_by(TaskInstanceRow.task_id, TaskInstanceRow.map_index)))
            decision = run_mark(_graph_of(s, row), {(t.task_id, t.map_index): t.state for t in tis}, new)
            changed: list[TaskInstanceKey] = []
            killed: list[TaskInstanceKey] = []
            for ti in tis:
                target = decision.changes.get((ti.task_id, ti.map_index))
                was = ti.state
                if target is not None and _cas_ti_row(s, ti, target, {"end_date": ti.end_date or now,
                                                                      "updated_at": now}):
                    changed.append(_key(ti))
                    if was == TaskInstanceState.RUNNING.value:
                        killed.append(_key(ti))
            _record_kills(s, killed, now, f"run marked {new.value}")
            moved = row.state != new.value and _cas_run_row(s, row, new, {"end_date": now, "updated_at": now})
        left = tuple(TaskInstanceKey(run.dag_id, run.run_id, t, m) for t, m in sorted(decision.teardowns_left))
        report = RunMarkReport(tuple(changed), (run,) if moved else (), tuple(killed), left)
        wake = getattr(self, "notify_scheduler", None)
        if wake is not None and (report.task_instances or report.runs):
            wake(CHANGED_WAKE)
        return report
