"""Store verbs for SLA misses: the candidates the scheduler checks, recording each miss once, the
batch a DAG's sla_miss_callback receives, and the web page's list.

The candidate query reads only scheduled runs of the given DAGs that are still active (the
``(state, dag_id)`` index) or whose data interval ended inside the caller's window, and only
task instances with no recorded miss yet; deciding which of them missed is the scheduler's pure
rule (``flowctl.scheduler.sla``). A miss is unique per (dag_id, task_id, run_id): recording is an
insert that skips existing rows, so several schedulers record it once. Their callback children
take turns per DAG (:meth:`SlaVerbs.sla_notification_turn`), so each batch is called once.
Must not import above ``db``.
"""
from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import and_, exists, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from flowctl.db.base import StoreCore
from flowctl.db.records import TaskInstanceRecord, record_from
from flowctl.db.tables import DagRow, DagRunRow, SerializedDagRow, SlaMissRow, TaskInstanceRow
from flowctl.db.web_queries import Page

_ACTIVE_RUN = ("queued", "running")
_FINISHED_RUN = ("success", "failed")


@dataclass(frozen=True, slots=True)
class SlaMissRecord:
    """One recorded SLA miss (Airflow's SlaMiss, with ``execution_date`` as an alias)."""

    id: int
    dag_id: str
    task_id: str
    run_id: str
    logical_date: datetime
    timestamp: datetime
    notification_sent: bool
    description: str | None

    @property
    def execution_date(self) -> datetime:
        """Airflow 2's name for the logical date."""
        return self.logical_date


@dataclass(frozen=True, slots=True)
class SlaCandidate:
    """A task instance of a scheduled run whose SLA may have been missed (no miss recorded yet)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    state: str
    end_date: datetime | None
    logical_date: datetime
    data_interval_end: datetime


class MissToRecord(Protocol):
    """A miss to record (the scheduler's ``SlaMiss``): the task of one run."""

    @property
    def dag_id(self) -> str: ...
    @property
    def task_id(self) -> str: ...
    @property
    def run_id(self) -> str: ...
    @property
    def logical_date(self) -> datetime: ...


class SlaVerbs(StoreCore):
    """sla_dag_versions, sla_candidates, record_sla_misses, sla_notification_turn, unnotified_sla_misses,
    mark_sla_misses_notified, sla_blocking_task_instances, sla_miss_page."""

    def sla_dag_versions(self) -> dict[str, int]:
        """dag_id -> latest serialized version id, for the active, unpaused DAGs."""
        query = (select(SerializedDagRow.dag_id, func.max(SerializedDagRow.id))
                 .join(DagRow, DagRow.dag_id == SerializedDagRow.dag_id)
                 .where(DagRow.is_active.is_(True), DagRow.is_paused.is_(False))
                 .group_by(SerializedDagRow.dag_id))
        with self._read() as s:
            return {dag_id: sid for dag_id, sid in s.execute(query).all()}

    def sla_candidates(self, dag_ids: Collection[str], task_ids: Collection[str], *,
                       interval_end_after: datetime, interval_end_before: datetime) -> list[SlaCandidate]:
        """Task instances (of ``task_ids``) of scheduled runs of ``dag_ids`` with no recorded miss,
        whose data interval ended by ``interval_end_before``, in runs still active or whose data
        interval ended after ``interval_end_after``."""
        if not dag_ids or not task_ids:
            return []
        ti, run = TaskInstanceRow, DagRunRow
        recorded = exists().where(SlaMissRow.dag_id == ti.dag_id, SlaMissRow.task_id == ti.task_id,
                                  SlaMissRow.run_id == ti.run_id)
        query = (select(ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.state, ti.end_date,
                        run.logical_date, run.data_interval_end)
                 .join(run, and_(run.dag_id == ti.dag_id, run.run_id == ti.run_id))
                 .where(run.dag_id.in_(list(dag_ids)), run.state.in_(_ACTIVE_RUN + _FINISHED_RUN),
                        run.run_type == "scheduled", run.data_interval_end <= interval_end_before,
                        or_(run.state.in_(_ACTIVE_RUN), run.data_interval_end > interval_end_after),
                        ti.task_id.in_(list(task_ids)), ~recorded))
        with self._read() as s:
            return [SlaCandidate(*row) for row in s.execute(query).all()]

    def record_sla_misses(self, misses: Sequence[MissToRecord], now: datetime) -> list[SlaMissRecord]:
        """Record each miss unless it is recorded already; the ones this call recorded."""
        if not misses:
            return []
        insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        values = [{"dag_id": m.dag_id, "task_id": m.task_id, "run_id": m.run_id, "logical_date": m.logical_date,
                   "timestamp": now, "notification_sent": False} for m in misses]
        statement = (insert(SlaMissRow).values(values)
                     .on_conflict_do_nothing(index_elements=["dag_id", "task_id", "run_id"])
                     .returning(SlaMissRow.id))
        with self._session() as s:
            ids = list(s.scalars(statement).all())
            rows = s.scalars(select(SlaMissRow).where(SlaMissRow.id.in_(ids)).order_by(SlaMissRow.id)).all()
            return [record_from(SlaMissRecord, r) for r in rows]

    @contextmanager
    def sla_notification_turn(self, dag_id: str) -> Iterator[None]:
        """Wait until no other process notifies ``dag_id``'s misses, and hold that turn inside the block.

        On PostgreSQL, where several schedulers run, a session-level advisory lock on a connection of
        its own, held with no transaction open (a process that dies releases it with its connection):
        the next caller then reads only the misses the previous one left unnotified. SQLite has one
        scheduler, so one such child per DAG at a time (``flowctl.scheduler.callbacks``).
        """
        if self.dialect != "postgresql":
            yield
            return
        key = int.from_bytes(hashlib.blake2b(f"flowctl.sla_miss:{dag_id}".encode(), digest_size=8).digest(),
                             "big", signed=True)
        with self.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()

    def unnotified_sla_misses(self, dag_id: str) -> list[SlaMissRecord]:
        """The DAG's misses no notification was sent for, oldest first."""
        query = (select(SlaMissRow).where(SlaMissRow.dag_id == dag_id, SlaMissRow.notification_sent.is_(False))
                 .order_by(SlaMissRow.logical_date, SlaMissRow.task_id))
        with self._read() as s:
            return [record_from(SlaMissRecord, r) for r in s.scalars(query).all()]

    def mark_sla_misses_notified(self, ids: Collection[int]) -> int:
        """Set notification_sent on these misses; how many changed."""
        if not ids:
            return 0
        with self._session() as s:
            result: Any = s.execute(update(SlaMissRow).where(SlaMissRow.id.in_(list(ids)),
                                                             SlaMissRow.notification_sent.is_(False))
                                    .values(notification_sent=True))
            return int(result.rowcount)

    def sla_blocking_task_instances(self, dag_id: str, run_ids: Collection[str]) -> list[TaskInstanceRecord]:
        """The task instances of these runs that have not succeeded (Airflow's blocking_tis)."""
        if not run_ids:
            return []
        query = (select(TaskInstanceRow)
                 .where(TaskInstanceRow.dag_id == dag_id, TaskInstanceRow.run_id.in_(list(run_ids)),
                        TaskInstanceRow.state != "success")
                 .order_by(TaskInstanceRow.run_id, TaskInstanceRow.task_id, TaskInstanceRow.map_index))
        with self._read() as s:
            return [record_from(TaskInstanceRecord, r) for r in s.scalars(query).all()]

    def sla_miss_page(self, *, dag_id: str = "", hidden: Collection[str] = (), offset: int = 0,
                      limit: int = 50) -> Page[SlaMissRecord]:
        """One page of recorded misses, newest first; ``dag_id`` narrows to one DAG, ``hidden`` DAGs are left out."""
        where = [SlaMissRow.dag_id.not_in(list(hidden))] if hidden else []
        if dag_id:
            where.append(SlaMissRow.dag_id == dag_id)
        query = (select(SlaMissRow).where(*where).order_by(SlaMissRow.timestamp.desc(), SlaMissRow.id.desc())
                 .offset(offset).limit(limit))
        with self._read() as s:
            total = int(s.scalar(select(func.count()).select_from(SlaMissRow).where(*where)) or 0)
            items = tuple(record_from(SlaMissRecord, r) for r in s.scalars(query).all())
        return Page(items, total, offset, limit)
