"""``db clean``: purge old finished runs (with their task instances, tries, XCom) and audit rows.

Deletes in small batches, each its own short transaction, so the scheduler
never waits long for a lock. A run is eligible when it finished (success or
failed) and its logical date is before the cut-off: a queued or running run is
never deleted. :meth:`CleanVerbs.clean_with_archive` copies each batch into
archive tables first (see ``clean_archive``); :meth:`CleanVerbs.clean` keeps
no copy. Must not import above ``db``.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Table, exists, func, select
from sqlalchemy.orm import Session

from flowctl.core.errors import FlowctlError
from flowctl.core.states import RUN_FINISHED
from flowctl.db.clean_archive import ArchiveVerbs, ArchivingDelete, PlainDelete
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
#: The tables ``db clean`` purges, by the names its report uses.
CLEANABLE_TABLES = ("dag_run", "task_instance", "task_instance_history", "task_reschedule", "xcom", "log", "job")
#: Tables whose rows a clean archives: the report's, and the links of runs to dataset events.
ARCHIVED_TABLES = (*CLEANABLE_TABLES, "dag_run_dataset_event")
#: Rows that go with a table's rows (their foreign keys cascade): cleaning a table cleans these too.
_GOES_WITH = {"dag_run": ("task_instance",), "task_instance": ("task_instance_history", "task_reschedule", "xcom")}
#: Children of a run, deleted before it, children of a task instance first.
_RUN_CHILDREN: tuple[Any, ...] = (XComRow, TaskRescheduleRow, TaskInstanceHistoryRow, TaskInstanceRow)
_FINISHED = [s.value for s in RUN_FINISHED]

#: Told each table's count of a batch once that batch is committed (``db clean --verbose``).
Progress = Callable[[str, int], None]


class UnknownCleanTable(FlowctlError, ValueError):
    """A table name ``db clean`` does not purge; the message lists the ones it does."""


class _Remover(Protocol):
    def remove(self, s: Session, table: Table, where: list[Any]) -> int: ...


def clean_tables(names: Iterable[str] | None = None) -> tuple[str, ...]:
    """The tables a clean of ``names`` (all when None) purges: each with the tables whose rows go with it."""
    if names is None:
        return CLEANABLE_TABLES
    requested = list(names)
    unknown = sorted(set(requested) - set(CLEANABLE_TABLES))
    if unknown:
        raise UnknownCleanTable(f"unknown table {', '.join(unknown)}: "
                                f"db clean purges {', '.join(CLEANABLE_TABLES)}")
    chosen: set[str] = set()
    while requested:
        name = requested.pop()
        if name not in chosen:
            chosen.add(name)
            requested.extend(_GOES_WITH.get(name, ()))
    return tuple(t for t in CLEANABLE_TABLES if t in chosen)


def _old_runs(older_than: datetime) -> Any:
    return select(DagRunRow.id).where(DagRunRow.state.in_(_FINISHED), DagRunRow.logical_date < older_than)


def _of_runs(table: Any, run_ids: Any) -> Any:
    return exists().where(DagRunRow.id.in_(run_ids), DagRunRow.dag_id == table.dag_id,
                          DagRunRow.run_id == table.run_id)


def _old_jobs(older_than: datetime) -> list[Any]:
    return [JobRow.state != "running", JobRow.latest_heartbeat < older_than]


def _simple_tables(older_than: datetime) -> list[tuple[Any, list[Any]]]:
    """The tables cleaned on their own rows' age, with the condition that makes a row old."""
    return [(LogRow, [LogRow.dttm < older_than]), (JobRow, _old_jobs(older_than))]


class CleanVerbs(ArchiveVerbs):
    """preview_clean, clean, clean_with_archive (and the archive verbs)."""

    def preview_clean(self, older_than: datetime, tables: Iterable[str] | None = None) -> CleanReport:
        """How many rows a clean would delete, per table (``--dry-run``)."""
        chosen = clean_tables(tables)
        runs = _old_runs(older_than)
        counts: dict[str, int] = {}
        with self._read() as s:
            for table in _RUN_CHILDREN:
                if table.__tablename__ in chosen:
                    counts[table.__tablename__] = _count(s, select(func.count()).select_from(table)
                                                         .where(_of_runs(table, runs)))
            if "dag_run" in chosen:
                counts["dag_run"] = _count(s, select(func.count()).select_from(runs.subquery()))
            for row, where in _simple_tables(older_than):
                if row.__tablename__ in chosen:
                    counts[row.__tablename__] = _count(s, select(func.count()).select_from(row).where(*where))
        return CleanReport(counts)

    def clean(self, older_than: datetime, batch_size: int | None = None, *,
              tables: Iterable[str] | None = None, progress: Progress | None = None) -> CleanReport:
        """Delete old finished runs and their rows, old audit rows and ended jobs, keeping no copy."""
        return self._clean(older_than, batch_size, clean_tables(tables), PlainDelete(), progress)

    def clean_with_archive(self, older_than: datetime, archived_at: datetime, batch_size: int | None = None, *,
                           tables: Iterable[str] | None = None, progress: Progress | None = None) -> CleanReport:
        """As :meth:`clean`, each batch first copied into ``_flowctl_deleted__<table>__<archived_at>``."""
        return self._clean(older_than, batch_size, clean_tables(tables), ArchivingDelete(archived_at), progress)

    def _clean(self, older_than: datetime, batch_size: int | None, chosen: tuple[str, ...],
               remover: _Remover, progress: Progress | None) -> CleanReport:
        size = batch_size or DEFAULT_BATCH
        totals: Counter[str] = Counter({t: 0 for t in chosen})
        run_tables = [t for t in _RUN_CHILDREN if t.__tablename__ in chosen]
        if run_tables or "dag_run" in chosen:
            after = 0
            while after >= 0:
                after = self._clean_run_batch(older_than, after, size, chosen, remover, totals, progress)
        for row, where in _simple_tables(older_than):
            if row.__tablename__ in chosen:
                after = 0
                while after >= 0:
                    after = self._clean_simple_batch(row, where, after, size, remover, totals, progress)
        return CleanReport(dict(totals))

    def _clean_run_batch(self, older_than: datetime, after: int, size: int, chosen: tuple[str, ...],
                         remover: _Remover, totals: Counter[str], progress: Progress | None) -> int:
        """Clean the chosen rows of the next ``size`` old runs with ids above ``after``; the last id, -1 at the end."""
        batch: dict[str, int] = {}
        with self._session() as s:
            # Locked (on PostgreSQL) so no task instance or XCom of these runs appears mid-batch.
            ids = list(s.scalars(_old_runs(older_than).where(DagRunRow.id > after).order_by(DagRunRow.id)
                                 .limit(size).with_for_update(skip_locked=True)))
            if not ids:
                return -1
            s.execute(select(TaskInstanceRow.id).where(_of_runs(TaskInstanceRow, ids)).with_for_update()).all()
            for table in _RUN_CHILDREN:
                if table.__tablename__ in chosen:
                    batch[table.__tablename__] = remover.remove(s, table.__table__, [_of_runs(table, ids)])
            if "dag_run" in chosen:
                # The links to dataset events would cascade; archived too, not counted (not a report table).
                remover.remove(s, DagRunDatasetEventRow.__table__, [DagRunDatasetEventRow.dag_run_id.in_(ids)])
                batch["dag_run"] = remover.remove(s, DagRunRow.__table__, [DagRunRow.id.in_(ids)])
        _tally(batch, totals, progress)
        return ids[-1]

    def _clean_simple_batch(self, row: Any, where: list[Any], after: int, size: int, remover: _Remover,
                            totals: Counter[str], progress: Progress | None) -> int:
        """Clean the next ``size`` old rows of ``row``'s table with ids above ``after``; the last id, -1 at the end."""
        with self._session() as s:
            ids = list(s.scalars(select(row.id).where(*where, row.id > after).order_by(row.id).limit(size)
                                 .with_for_update(skip_locked=True)))
            if not ids:
                return -1
            removed = remover.remove(s, row.__table__, [row.id.in_(ids)])
        _tally({row.__tablename__: removed}, totals, progress)
        return ids[-1]


def _tally(batch: dict[str, int], totals: Counter[str], progress: Progress | None) -> None:
    for table, removed in batch.items():
        totals[table] += removed
        if progress is not None:
            progress(table, removed)


def _count(s: Session, query: Any) -> int:
    return int(s.execute(query).scalar_one())
