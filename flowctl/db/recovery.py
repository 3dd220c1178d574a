"""Store verbs that keep work from getting stuck: due retries, zombies, orphans, the next timer.

* ``requeue_due_waits``: up_for_retry / up_for_reschedule -> scheduled once due;
* ``find_zombies``: running TIs whose heartbeat stopped;
* ``fail_dead_try``: a try that died without recording its end becomes failed
  or up_for_retry (a queued, never-claimed try counts as a try too);
* ``requeue_orphaned_tasks``: queued TIs whose scheduler job is gone go back to
  scheduled, to be queued again (the runner's claim keeps it exactly-once);
* ``next_timer``: the earliest future moment something becomes due.
Must not import flowctl packages above ``flowctl.db``.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select, update

from flowctl.core.errors import TaskInstanceNotFound
from flowctl.core.keys import TaskInstanceKey
from flowctl.core.states import TaskInstanceState, check_ti_transition
from flowctl.db.base import StoreCore
from flowctl.db.records import TaskInstanceRecord, record_from
from flowctl.db.tables import DagRow, DagRunRow, JobRow, TaskInstanceRow
from flowctl.db.task_instances import _upsert_history, ti_where

TI = TaskInstanceState
#: Waits come due in running runs, and in finished ones for the teardowns a person's mark left to run.
_RETRYING_RUN_STATES = ("running", "success", "failed")


class RecoveryVerbs(StoreCore):
    """requeue_due_waits, find_zombies, fail_dead_try, requeue_orphaned_tasks, next_timer."""

    def requeue_due_waits(self, now: datetime) -> int:
        """up_for_retry (next_retry_at passed) and up_for_reschedule (reschedule_date passed) -> scheduled,
        in running runs and in finished ones (teardowns a person's mark left to run)."""
        ti = TaskInstanceRow
        changed = 0
        with self._read() as s:  # the common case: nothing waiting is due, no write transaction
            due = s.scalar(select(ti.id).where(or_(
                (ti.state == TI.UP_FOR_RETRY.value) & or_(ti.next_retry_at.is_(None), ti.next_retry_at <= now),
                (ti.state == TI.UP_FOR_RESCHEDULE.value)
                & or_(ti.reschedule_date.is_(None), ti.reschedule_date <= now))).limit(1))
            if due is None:
                return 0
        with self._session() as s:
            for state, column in ((TI.UP_FOR_RETRY, ti.next_retry_at), (TI.UP_FOR_RESCHEDULE, ti.reschedule_date)):
                check_ti_transition(state, TI.SCHEDULED)
                result = s.execute(
                    update(ti).where(ti.state == state.value, or_(column.is_(None), column <= now),
                                     select(DagRunRow.id).where(
                                         DagRunRow.dag_id == ti.dag_id, DagRunRow.run_id == ti.run_id,
                                         DagRunRow.state.in_(_RETRYING_RUN_STATES)).exists())
                    .values(state=TI.SCHEDULED.value, updated_at=now)
                    .execution_options(synchronize_session=False))
                changed += int(result.rowcount)  # type: ignore[attr-defined]
        return changed

    def find_zombies(self, heartbeat_before: datetime, limit: int = 500) -> list[TaskInstanceRecord]:
        """Running TIs whose last heartbeat is older than ``heartbeat_before``."""
        ti = TaskInstanceRow
        beat = func.coalesce(ti.last_heartbeat_at, ti.start_date)
        query = select(ti).where(ti.state == TI.RUNNING.value, or_(beat.is_(None), beat < heartbeat_before)).limit(limit)
        with self._read() as s:
            return [record_from(TaskInstanceRecord, r) for r in s.scalars(query).all()]

    def fail_dead_try(self, key: TaskInstanceKey, expected: TaskInstanceState | str, new: TaskInstanceState | str,
                      now: datetime, *, seen_try: int, next_retry_at: datetime | None = None,
                      note: str = "") -> bool:
        """queued|running -> failed|up_for_retry for a try that died; records the try in history.

        Only if the row is still in ``expected`` with try_number ``seen_try`` (what the
        caller saw): the row is locked first, so a worker claiming the try, or a newer
        try started after a clear, is never overwritten. A queued try that never ran
        counts as a try (its try_number goes up), so a task whose worker keeps
        crashing still runs out of retries.
        """
        check_ti_transition(expected, new)
        ti = TaskInstanceRow
        with self._session() as s:
            row = s.scalars(select(ti).where(*ti_where(key)).with_for_update()).first()
            if row is None:
                raise TaskInstanceNotFound(f"task instance {key} not found")
            if row.state != TaskInstanceState(expected).value or row.try_number != seen_try:
                return False
            if row.state == TI.QUEUED.value:
                row.try_number += 1
                row.start_date = row.start_date or now
            row.state = TaskInstanceState(new).value
            row.end_date, row.updated_at, row.next_retry_at = now, now, next_retry_at
            if row.start_date is not None:
                row.duration = (now - row.start_date).total_seconds()
            row.note = note or row.note
            if row.next_method is not None:  # a resumed try that died: the next try starts afresh
                row.next_method, row.next_kwargs = None, None
            s.flush()
            _upsert_history(s, row)
            return True

    def requeue_orphaned_tasks(self, alive_after: datetime, own_job_id: int | None, now: datetime) -> list[TaskInstanceKey]:
        """queued TIs whose queuing job ended or stopped heartbeating -> scheduled again."""
        check_ti_transition(TI.QUEUED, TI.SCHEDULED)
        ti = TaskInstanceRow
        live_jobs = select(JobRow.id).where(JobRow.state == "running", JobRow.latest_heartbeat > alive_after)
        orphaned = [ti.state == TI.QUEUED.value,
                    or_(ti.queued_by_job_id.is_(None), ti.queued_by_job_id.not_in(live_jobs))]
        if own_job_id is not None:
            orphaned.append(or_(ti.queued_by_job_id.is_(None), ti.queued_by_job_id != own_job_id))
        with self._session() as s:
            rows = s.execute(select(ti.id, ti.dag_id, ti.run_id, ti.task_id, ti.map_index).where(*orphaned)).all()
            keys = []
            for row in rows:
                won = s.execute(update(ti).where(ti.id == row.id, ti.state == TI.QUEUED.value)
                                .values(state=TI.SCHEDULED.value, queued_by_job_id=None, updated_at=now)
                                .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
                if won == 1:
                    keys.append(TaskInstanceKey(row.dag_id, row.run_id, row.task_id, row.map_index))
            return keys

    def next_timer(self, now: datetime) -> datetime | None:
        """The earliest moment after ``now`` when a run (to create, or a manual one queued for a future logical date),
        retry or reschedule becomes due."""
        ti = TaskInstanceRow
        with self._read() as s:
            moments = [
                s.scalar(select(func.min(DagRow.next_dagrun_create_after)).where(
                    DagRow.is_active.is_(True), DagRow.is_paused.is_(False), DagRow.next_dagrun_create_after > now)),
                s.scalar(select(func.min(ti.next_retry_at)).where(ti.state == TI.UP_FOR_RETRY.value,
                                                                  ti.next_retry_at > now)),
                s.scalar(select(func.min(ti.reschedule_date)).where(ti.state == TI.UP_FOR_RESCHEDULE.value,
                                                                    ti.reschedule_date > now)),
                s.scalar(select(func.min(DagRunRow.logical_date)).where(
                    DagRunRow.state == "queued", DagRunRow.run_type == "manual", DagRunRow.logical_date > now)),
            ]
        found = [m for m in moments if m is not None]
        return min(found) if found else None
