"""``db clean``: purge old finished runs (with their task instances, tries, XCom) and audit rows.

Deletes in small batches, each its own short transaction, so the scheduler
never waits long for a lock. A run is eligible when it finished (success or
failed) and its logical date is before the cut-off: a queued or running run is
never deleted. Must not import above ``db``.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from flowctl.core.states import RUN_FINISHED
from flowctl.db.base import StoreCore
from flowctl.db.records import CleanReport
from flowctl.db.tables import (
    DagRunDatasetEventRow,
    DagRunRow,
    JobRow,
    LogRow,
    TaskInstanceHistoryRow,
    TaskInstanceRow,
    TaskRescheduleRow,
    XComRow,
)

DEFAULT_BATCH = 500
#: Children of a run, deleted before it (explicitly, so counts are exact on every database).
_RUN_CHILDREN: tuple[Any, ...] = (XComRow, TaskRescheduleRow, TaskInstanceHistoryRow, TaskInstanceRow)
_FINISHED = [s.value for s in RUN_FINISHED]


def _old_runs(older_than: datetime) -> Any:
    return select(DagRunRow.id).where(DagRunRow.state.in_(_FINISHED), DagRunRow.logical_date < older_than)


def _of_runs(table: Any, run_ids: Any) -> Any:
    return exists().where(DagRunRow.id.in_(run_ids), DagRunRow.dag_id == table.dag_id,
                          DagRunRow.run_id == table.run_id)


class CleanVerbs(StoreCore):
    """clean, preview_clean."""

    def preview_clean(self, older_than: datetime) -> CleanReport:
        """How many rows :meth:`clean` would delete, per table (``--dry-run``)."""
        runs = _old_runs(older_than)
        counts: dict[str, int] = {}
        with self._read() as s:
            for table in _RUN_CHILDREN:
                counts[table.__tablename__] = _count(s, select(func.count()).select_from(table)
                                                     .where(_of_runs(table, runs)))
            counts["dag_run"] = _count(s, select(func.count()).select_from(runs.subquery()))
            counts["log"] = _count(s, select(func.count()).where(LogRow.dttm < older_than))
            counts["job"] = _count(s, select(func.count()).select_from(JobRow).where(*_old_jobs(older_than)))
        return CleanReport(counts)

    def clean(self, older_than: datetime, batch_size: int = DEFAULT_BATCH) -> CleanReport:
        """Delete old finished runs and their rows, old audit rows and ended jobs; counts per table."""
        totals: Counter[str] = Counter({t.__tablename__: 0 for t in _RUN_CHILDREN})
        totals.update({"dag_run": 0, "log": 0, "job": 0})
        while self._clean_run_batch(older_than, batch_size, totals):
            pass
        while self._clean_simple_batch(LogRow, [LogRow.dttm < older_than], batch_size, totals):
            pass
        while self._clean_simple_batch(JobRow, _old_jobs(older_than), batch_size, totals):
            pass
        return CleanReport(dict(totals))

    def _clean_run_batch(self, older_than: datetime, batch_size: int, totals: Counter[str]) -> bool:
        with self._session() as s:
            ids = list(s.scalars(_old_runs(older_than).order_by(DagRunRow.id).limit(batch_size)))
            if not ids:
                return False
            for table in _RUN_CHILDREN:
                result = s.execute(delete(table).where(_of_runs(table, ids))
                                   .execution_options(synchronize_session=False))
                totals[table.__tablename__] += int(result.rowcount)  # type: ignore[attr-defined]
            s.execute(delete(DagRunDatasetEventRow).where(DagRunDatasetEventRow.dag_run_id.in_(ids)))
            result = s.execute(delete(DagRunRow).where(DagRunRow.id.in_(ids))
                               .execution_options(synchronize_session=False))
            totals["dag_run"] += int(result.rowcount)  # type: ignore[attr-defined]
            return len(ids) == batch_size

    def _clean_simple_batch(self, table: Any, where: list[Any], batch_size: int, totals: Counter[str]) -> bool:
        with self._session() as s:
            ids = list(s.scalars(select(table.id).where(*where).order_by(table.id).limit(batch_size)))
            if ids:
                result = s.execute(delete(table).where(table.id.in_(ids)).execution_options(synchronize_session=False))
                totals[table.__tablename__] += int(result.rowcount)  # type: ignore[attr-defined]
            return len(ids) == batch_size


def _old_jobs(older_than: datetime) -> list[Any]:
    return [JobRow.state != "running", JobRow.latest_heartbeat < older_than]


def _count(s: Session, query: Any) -> int:
    return int(s.execute(query).scalar_one())
