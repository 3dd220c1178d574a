"""Store verb that moves scheduled task instances to queued under pools and limits.

``queue_scheduled_tasks`` is one transaction: it reads the free room (pool
slots minus queued and running pool_slots, DAG max_active_tasks, per-task
max_active_tis_per_dag), picks candidates in priority order with the pure
``core.planner.choose_to_queue``, and moves each scheduled -> queued with a
compare-and-set. On PostgreSQL the pool rows are locked ``FOR UPDATE`` (so
concurrent schedulers never over-fill a pool) and candidate rows are taken
``FOR UPDATE SKIP LOCKED`` (so they never queue the same task instance).
Must not import flowctl packages above ``flowctl.db``.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from flowctl.core.keys import TaskInstanceKey
from flowctl.core.planner.queueing import UNLIMITED, Candidate, Room, choose_to_queue
from flowctl.core.states import TaskInstanceState, check_ti_transition
from flowctl.db.base import StoreCore
from flowctl.db.tables import DagRow, DagRunRow, PoolRow, TaskInstanceRow

_ACTIVE = ("queued", "running")


@dataclass(frozen=True, slots=True)
class QueuedTask:
    """A task instance this call queued: what the executor's Workload needs."""

    key: TaskInstanceKey
    try_number: int
    fileloc: str
    queue: str
    priority_weight: int
    pool: str
    pool_slots: int


def _room(s: Session, lock: bool, default_max_active_tasks: int) -> tuple[dict[str, int], dict[str, int]]:
    """(free slots per pool, free task slots per DAG) from one aggregate over unfinished TIs."""
    pools = select(PoolRow.pool, PoolRow.slots).order_by(PoolRow.pool)
    if lock:  # concurrent schedulers queue one after the other, so pools are never over-filled
        pools = pools.with_for_update()
    slots = {name: int(n) for name, n in s.execute(pools)}
    ti = TaskInstanceRow
    rows = s.execute(select(ti.dag_id, ti.pool, ti.state, func.count(), func.sum(ti.pool_slots))
                     .where(ti.state.in_((*_ACTIVE, "scheduled"))).group_by(ti.dag_id, ti.pool, ti.state)).all()
    pool_used: dict[str, int] = {}
    dag_active: dict[str, int] = {}
    for dag_id, pool, state, count, pool_slots in rows:
        dag_active.setdefault(dag_id, 0)
        if state != "scheduled":
            pool_used[pool] = pool_used.get(pool, 0) + int(pool_slots or 0)
            dag_active[dag_id] += int(count)
    limits = dict(s.execute(select(DagRow.dag_id, DagRow.max_active_tasks)
                            .where(DagRow.dag_id.in_(list(dag_active)))).all()) if dag_active else {}
    pool_free = {name: (UNLIMITED if n < 0 else n - pool_used.get(name, 0)) for name, n in slots.items()}
    dag_free = {d: (limits.get(d) or default_max_active_tasks) - n for d, n in dag_active.items()}
    return pool_free, dag_free


def _task_free(s: Session, task_limits: Mapping[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    if not task_limits:
        return {}
    ti = TaskInstanceRow
    dag_ids = sorted({d for d, _ in task_limits})
    active = dict(((d, t), int(n)) for d, t, n in s.execute(
        select(ti.dag_id, ti.task_id, func.count()).where(ti.state.in_(_ACTIVE), ti.dag_id.in_(dag_ids))
        .group_by(ti.dag_id, ti.task_id)))
    return {k: limit - active.get(k, 0) for k, limit in task_limits.items()}


class TaskQueueVerbs(StoreCore):
    """queue_scheduled_tasks."""

    def queue_scheduled_tasks(self, now: datetime, slots: int, *, job_id: int | None = None,
                              default_max_active_tasks: int = 16,
                              task_limits: Mapping[tuple[str, str], int] | None = None,
                              paused_run_types: Collection[str] = (), limit: int = 512) -> list[QueuedTask]:
        """scheduled -> queued for up to ``slots`` TIs of running runs, best priority first."""
        if slots <= 0:
            return []
        check_ti_transition(TaskInstanceState.SCHEDULED, TaskInstanceState.QUEUED)
        postgres = self.dialect == "postgresql"
        with self._read() as s:  # the common idle case: nothing scheduled, no write transaction
            if s.scalar(select(TaskInstanceRow.id).where(TaskInstanceRow.state == "scheduled").limit(1)) is None:
                return []
        with self._session() as s:
            pool_free, dag_free = _room(s, postgres, default_max_active_tasks)
            room = Room(pool_free=pool_free, dag_free=dag_free, task_free=_task_free(s, task_limits or {}), slots=slots)
            rows = s.execute(self._candidates(room, paused_run_types, min(limit, max(slots * 4, 64)), postgres)).all()
            by_key = {TaskInstanceKey(r.dag_id, r.run_id, r.task_id, r.map_index): r for r in rows}
            chosen = choose_to_queue([Candidate(k, r.pool, r.pool_slots, r.priority_weight)
                                      for k, r in by_key.items()], room)
            if not chosen:
                return []
            ids = [by_key[c.key].id for c in chosen]
            won = set(s.scalars(update(TaskInstanceRow)
                                .where(TaskInstanceRow.id.in_(ids), TaskInstanceRow.state == "scheduled")
                                .values(state="queued", queued_at=now, queued_by_job_id=job_id, updated_at=now)
                                .returning(TaskInstanceRow.id).execution_options(synchronize_session=False)).all())
            return [QueuedTask(c.key, int(r.try_number), r.fileloc or "", r.queue, int(r.priority_weight), r.pool,
                               int(r.pool_slots))
                    for c in chosen if (r := by_key[c.key]).id in won]

    @staticmethod
    def _candidates(room: Room, paused_run_types: Collection[str], limit: int, postgres: bool):  # type: ignore[no-untyped-def]
        ti = TaskInstanceRow
        full_pools = [p for p, free in room.pool_free.items() if free == 0]
        full_dags = [d for d, free in room.dag_free.items() if free <= 0]
        paused_ok = DagRow.is_paused.is_(False)
        if paused_run_types:
            paused_ok = paused_ok | DagRunRow.run_type.in_(list(paused_run_types))
        query = (select(ti.id, ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number, ti.queue, ti.pool,
                        ti.pool_slots, ti.priority_weight, DagRow.fileloc)
                 .join(DagRunRow, (DagRunRow.dag_id == ti.dag_id) & (DagRunRow.run_id == ti.run_id))
                 .join(DagRow, DagRow.dag_id == ti.dag_id)
                 .where(ti.state == "scheduled", DagRunRow.state == "running", paused_ok)
                 .order_by(ti.priority_weight.desc(), DagRunRow.logical_date, ti.id).limit(limit))
        if full_pools:
            query = query.where(ti.pool.not_in(full_pools))
        if full_dags:
            query = query.where(ti.dag_id.not_in(full_dags))
        if postgres:
            query = query.with_for_update(of=ti, skip_locked=True)
        return query
