"""Store verb that moves scheduled task instances to queued under pools and limits.

``queue_scheduled_tasks`` is one transaction: it first moves the task
instances the scheduler's examination just decided to run pending ->
scheduled (so deciding and queueing cost one commit), then reads the free room (pool
slots minus queued and running pool_slots, DAG max_active_tasks, per-task
max_active_tis_per_dag), picks candidates in priority order with the pure
``core.planner.choose_to_queue``, and moves each scheduled -> queued with a
compare-and-set. On PostgreSQL the pool rows are locked ``FOR UPDATE`` (so
concurrent schedulers never over-fill a pool) and candidate rows are taken
``FOR UPDATE SKIP LOCKED`` (so they never queue the same task instance).
Must not import flowctl packages above ``flowctl.db``.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection

from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.core.planner.queueing import UNLIMITED, Candidate, Room, choose_to_queue
from flowctl.core.states import TaskInstanceState, check_ti_transition
from flowctl.db.base import StoreCore
from flowctl.db.tables import DagRow, DagRunRow, PoolRow, TaskInstanceRow

_ACTIVE = ("queued", "running")
#: A finished run's scheduled task instances are teardowns a person's mark left to run (``run_marks.py``).
_QUEUEING_RUN_STATES = ("running", "success", "failed")


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


_TI = TaskInstanceRow.__table__
_POOLS = select(PoolRow.pool, PoolRow.slots).order_by(PoolRow.pool)
_POOLS_LOCKED = _POOLS.with_for_update()
#: Unfinished TIs counted per (dag, pool, state), with the DAG's max_active_tasks.
_USAGE = (select(_TI.c.dag_id, _TI.c.pool, _TI.c.state, func.count(), func.sum(_TI.c.pool_slots),
                 DagRow.max_active_tasks)
          .select_from(_TI.outerjoin(DagRow.__table__, DagRow.dag_id == _TI.c.dag_id))
          .where(_TI.c.state.in_((*_ACTIVE, "scheduled")))
          .group_by(_TI.c.dag_id, _TI.c.pool, _TI.c.state, DagRow.max_active_tasks))
_TASK_ACTIVE = (select(_TI.c.dag_id, _TI.c.task_id, func.count())
                .where(_TI.c.state.in_(_ACTIVE), _TI.c.dag_id.in_(bindparam("dag_ids", expanding=True)))
                .group_by(_TI.c.dag_id, _TI.c.task_id))
_RUN_TASK_ACTIVE = (select(_TI.c.dag_id, _TI.c.run_id, _TI.c.task_id, func.count())
                    .where(_TI.c.state.in_(_ACTIVE), _TI.c.dag_id.in_(bindparam("dag_ids", expanding=True)),
                           _TI.c.run_id.in_(bindparam("run_ids", expanding=True)),
                           _TI.c.task_id.in_(bindparam("task_ids", expanding=True)))
                    .group_by(_TI.c.dag_id, _TI.c.run_id, _TI.c.task_id))
_ANY_SCHEDULED = select(_TI.c.id).where(_TI.c.state == "scheduled").limit(1)
_SCHEDULE = (update(_TI).where(_TI.c.dag_id == bindparam("b_dag_id"), _TI.c.run_id == bindparam("b_run_id"),
                               _TI.c.map_index == bindparam("b_map_index"),
                               _TI.c.task_id.in_(bindparam("b_task_ids", expanding=True)), _TI.c.state == "pending")
             .values(state="scheduled", updated_at=bindparam("b_now")))
_QUEUE = (update(_TI).where(_TI.c.id.in_(bindparam("ids", expanding=True)), _TI.c.state == "scheduled")
          .values(state="queued", queued_at=bindparam("now"), queued_by_job_id=bindparam("job_id"),
                  updated_at=bindparam("now"))
          .returning(_TI.c.id))
_CANDIDATES: dict[tuple[bool, bool, tuple[str, ...], bool], Any] = {}


def _room(conn: Connection, lock: bool, default_max_active_tasks: int) -> tuple[dict[str, int], dict[str, int]]:
    """(free slots per pool, free task slots per DAG) from one aggregate over unfinished TIs."""
    pool_free, dag_free, _ = room_and_scheduled(conn, lock, default_max_active_tasks)
    return pool_free, dag_free


def room_and_scheduled(conn: Connection, lock: bool,
                       default_max_active_tasks: int) -> tuple[dict[str, int], dict[str, int], int]:
    """:func:`_room`, and how many task instances are scheduled in all (the same aggregate)."""
    slots = {name: int(n) for name, n in conn.execute(_POOLS_LOCKED if lock else _POOLS)}
    # lock: concurrent schedulers queue one after the other, so pools are never over-filled
    pool_used: dict[str, int] = {}
    dag_active: dict[str, int] = {}
    limits: dict[str, int | None] = {}
    scheduled = 0
    for dag_id, pool, state, count, pool_slots, limit in conn.execute(_USAGE):
        dag_active.setdefault(dag_id, 0)
        limits[dag_id] = limit
        if state == "scheduled":
            scheduled += int(count)
        else:
            pool_used[pool] = pool_used.get(pool, 0) + int(pool_slots or 0)
            dag_active[dag_id] += int(count)
    pool_free = {name: (UNLIMITED if n < 0 else n - pool_used.get(name, 0)) for name, n in slots.items()}
    dag_free = {d: (limits.get(d) or default_max_active_tasks) - n for d, n in dag_active.items()}
    return pool_free, dag_free, scheduled


def _schedule(conn: Connection, schedule: Mapping[RunKey, Collection[TaskInstanceKey]], now: datetime) -> None:
    # In one order for every scheduler (runs, then map indexes, then task ids): two schedulers
    # writing the same decisions lock the rows one after the other, never each other's first.
    for run in sorted(schedule, key=lambda r: (r.dag_id, r.run_id)):
        by_index: dict[int, list[str]] = {}
        for key in schedule[run]:
            by_index.setdefault(key.map_index, []).append(key.task_id)
        for map_index, task_ids in sorted(by_index.items()):
            task_ids = sorted(task_ids)
            conn.execute(_SCHEDULE, {"b_dag_id": run.dag_id, "b_run_id": run.run_id, "b_map_index": map_index,
                                     "b_task_ids": task_ids, "b_now": now})


def _task_free(conn: Connection, task_limits: Mapping[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    if not task_limits:
        return {}
    dag_ids = sorted({d for d, _ in task_limits})
    active = {(d, t): int(n) for d, t, n in conn.execute(_TASK_ACTIVE, {"dag_ids": dag_ids})}
    return {k: limit - active.get(k, 0) for k, limit in task_limits.items()}


def _run_task_free(conn: Connection, limits: Mapping[tuple[str, str], int],
                   candidates: Collection[TaskInstanceKey]) -> dict[tuple[str, str, str], int]:
    """(dag_id, run_id, task_id) -> free room under max_active_tis_per_dagrun, for the candidates' runs."""
    wanted = {(k.dag_id, k.run_id, k.task_id) for k in candidates if (k.dag_id, k.task_id) in limits}
    if not wanted:
        return {}
    active = {(d, r, t): int(n) for d, r, t, n in conn.execute(_RUN_TASK_ACTIVE, {
        "dag_ids": sorted({d for d, _, _ in wanted}), "run_ids": sorted({r for _, r, _ in wanted}),
        "task_ids": sorted({t for _, _, t in wanted})}) if (d, r, t) in wanted}
    return {(d, r, t): limits[(d, t)] - active.get((d, r, t), 0) for d, r, t in wanted}


@dataclass(frozen=True, slots=True)
class UnrunnableTask:
    """A scheduled task instance that no pool can ever hold, and why."""

    key: TaskInstanceKey
    pool: str
    reason: str


_UNRUNNABLE = (select(_TI.c.dag_id, _TI.c.run_id, _TI.c.task_id, _TI.c.map_index, _TI.c.pool, _TI.c.pool_slots,
                      PoolRow.pool.label("found"), PoolRow.slots)
               .select_from(_TI.outerjoin(PoolRow.__table__, PoolRow.pool == _TI.c.pool))
               .where(_TI.c.state == "scheduled",
                      PoolRow.pool.is_(None) | ((PoolRow.slots >= 0) & (_TI.c.pool_slots > PoolRow.slots)))
               .order_by(_TI.c.dag_id, _TI.c.run_id, _TI.c.task_id, _TI.c.map_index)
               .limit(bindparam("limit")))


class TaskQueueVerbs(StoreCore):
    """queue_scheduled_tasks, unrunnable_scheduled."""

    def unrunnable_scheduled(self, limit: int = 100) -> list[UnrunnableTask]:
        """Scheduled task instances no pool can ever hold: their pool does not exist, or they need
        more slots than it has in all. They wait (as in Airflow) until a person creates or grows the
        pool, or changes the task; the scheduler warns about them."""
        with self._read_engine.begin() as conn:
            rows = conn.execute(_UNRUNNABLE, {"limit": limit}).all()
        return [UnrunnableTask(TaskInstanceKey(r.dag_id, r.run_id, r.task_id, r.map_index), r.pool,
                               f"pool {r.pool!r} does not exist" if r.found is None else
                               f"it needs {r.pool_slots} slots of pool {r.pool!r}, which has {r.slots} in all")
                for r in rows]

    def queue_scheduled_tasks(self, now: datetime, slots: int, *, job_id: int | None = None,
                              default_max_active_tasks: int = 16,
                              task_limits: Callable[[set[int]], Mapping[tuple[str, str], int]] | None = None,
                              run_task_limits: Callable[[set[int]], Mapping[tuple[str, str], int]] | None = None,
                              paused_run_types: Collection[str] = (), limit: int = 512,
                              known_scheduled: bool = False,
                              schedule: Mapping[RunKey, Collection[TaskInstanceKey]] | None = None,
                              ) -> list[QueuedTask]:
        """scheduled -> queued for up to ``slots`` TIs of running runs (and teardowns of marked ones),
        best priority first.

        ``schedule``: pending -> scheduled first, in the same transaction, for these TIs
        (compare-and-set: one that moved on meanwhile is left alone), as ``apply_decisions``
        would. ``known_scheduled``: the caller has just seen scheduled TIs, so the cheap probe
        that spares an idle scheduler the write transaction is skipped. ``task_limits``: the
        ``max_active_tis_per_dag`` of the tasks of some DAG versions (serialized DAG ids), asked
        for the versions of the candidates' runs, whichever runs the caller examined;
        ``run_task_limits`` the same for ``max_active_tis_per_dagrun`` (counted in each run).
        """
        if schedule:
            check_ti_transition(TaskInstanceState.PENDING, TaskInstanceState.SCHEDULED)
        elif slots <= 0:
            return []
        check_ti_transition(TaskInstanceState.SCHEDULED, TaskInstanceState.QUEUED)
        postgres = self.dialect == "postgresql"
        # Core statements built once, not the ORM: the scheduler calls this every round.
        if not known_scheduled and not schedule:
            with self._read_engine.begin() as conn:  # the common idle case: nothing scheduled, no write transaction
                if conn.scalar(_ANY_SCHEDULED) is None:
                    return []
        with self.engine.begin() as conn:
            _schedule(conn, schedule or {}, now)
            if slots <= 0:
                return []
            pool_free, dag_free = _room(conn, postgres, default_max_active_tasks)
            room = Room(pool_free=pool_free, dag_free=dag_free, task_free={}, slots=slots)
            rows = conn.execute(*_candidates(room, paused_run_types, min(limit, max(slots * 4, 64)), postgres)).all()
            versions = {r.serialized_dag_id for r in rows if r.serialized_dag_id is not None}
            if task_limits is not None and versions:
                room = replace(room, task_free=_task_free(conn, task_limits(versions)))
            by_key = {TaskInstanceKey(r.dag_id, r.run_id, r.task_id, r.map_index): r for r in rows}
            run_limits = run_task_limits(versions) if run_task_limits is not None and versions else None
            if run_limits:  # only DAGs that set max_active_tis_per_dagrun pay for it
                room = replace(room, run_task_free=_run_task_free(conn, run_limits, by_key))
            chosen = choose_to_queue([Candidate(k, r.pool, r.pool_slots, r.priority_weight)
                                      for k, r in by_key.items()], room)
            if not chosen:
                return []
            ids = [by_key[c.key].id for c in chosen]
            won = set(conn.scalars(_QUEUE, {"ids": ids, "now": now, "job_id": job_id}).all())
            return [QueuedTask(c.key, int(r.try_number), r.fileloc or "", r.queue, int(r.priority_weight), r.pool,
                               int(r.pool_slots))
                    for c in chosen if (r := by_key[c.key]).id in won]


def _candidates(room: Room, paused_run_types: Collection[str], limit: int,
                postgres: bool) -> tuple[Any, dict[str, Any]]:
    """The candidates statement (one per shape, built once) and its parameters."""
    full_pools = [p for p, free in room.pool_free.items() if free == 0]
    full_dags = [d for d, free in room.dag_free.items() if free <= 0]
    shape = (bool(full_pools), bool(full_dags), tuple(sorted(paused_run_types)), postgres)
    query = _CANDIDATES.get(shape)
    if query is None:
        if len(_CANDIDATES) > 64:
            _CANDIDATES.clear()
        query = _CANDIDATES[shape] = _candidates_query(*shape)
    return query, {"limit": limit, "full_pools": full_pools, "full_dags": full_dags}


def _candidates_query(full_pools: bool, full_dags: bool, paused_run_types: tuple[str, ...], postgres: bool) -> Any:
    ti = _TI.c
    paused_ok = DagRow.is_paused.is_(False)
    if paused_run_types:
        paused_ok = paused_ok | DagRunRow.run_type.in_(list(paused_run_types))
    # Joined to its pool: a task instance no pool can ever hold (its pool does not exist, or it needs
    # more slots than the pool has) is never a candidate, so it cannot crowd out the others every
    # round; unrunnable_scheduled() lists those for the scheduler to warn about.
    query = (select(ti.id, ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number, ti.queue, ti.pool,
                    ti.pool_slots, ti.priority_weight, DagRow.fileloc, DagRunRow.serialized_dag_id)
             .select_from(_TI.join(DagRunRow.__table__, (DagRunRow.dag_id == ti.dag_id) & (DagRunRow.run_id == ti.run_id))
                          .join(DagRow.__table__, DagRow.dag_id == ti.dag_id)
                          .join(PoolRow.__table__, PoolRow.pool == ti.pool))
             .where(ti.state == "scheduled", DagRunRow.state.in_(_QUEUEING_RUN_STATES), paused_ok,
                    (PoolRow.slots < 0) | (ti.pool_slots <= PoolRow.slots))
             .order_by(ti.priority_weight.desc(), DagRunRow.logical_date, ti.id).limit(bindparam("limit")))
    if full_pools:
        query = query.where(ti.pool.not_in(bindparam("full_pools", expanding=True)))
    if full_dags:
        query = query.where(ti.dag_id.not_in(bindparam("full_dags", expanding=True)))
    if postgres:
        query = query.with_for_update(of=_TI, skip_locked=True)
    return query
