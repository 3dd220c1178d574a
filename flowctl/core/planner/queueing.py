"""Which scheduled task instances to queue now: a pure choice under pools and limits.

Candidates arrive in priority order (highest priority_weight first, then
oldest run). A candidate is taken when its pool has ``pool_slots`` free (a
pool with -1 slots is unlimited; an unknown pool has none), its DAG is under
max_active_tasks, its task under max_active_tis_per_dag (and, in its run, under
max_active_tis_per_dagrun), and the executor has an open slot. Pure: must not import outside flowctl.core.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flowctl.core.keys import TaskInstanceKey

UNLIMITED = -1


@dataclass(frozen=True, slots=True)
class Candidate:
    """A scheduled task instance that might be queued."""

    key: TaskInstanceKey
    pool: str
    pool_slots: int = 1
    priority_weight: int = 1


@dataclass(frozen=True, slots=True)
class Room:
    """Free room right now: per pool, per DAG, per (dag_id, task_id), executor slots, and per
    (dag_id, run_id, task_id) for the tasks with a max_active_tis_per_dagrun (absent: no limit)."""

    pool_free: Mapping[str, int]
    dag_free: Mapping[str, int]
    task_free: Mapping[tuple[str, str], int]
    slots: int
    run_task_free: Mapping[tuple[str, str, str], int] = field(default_factory=dict)


def choose_to_queue(candidates: list[Candidate], room: Room) -> list[Candidate]:
    """The candidates to queue, in order, without exceeding any limit."""
    pool_free = dict(room.pool_free)
    dag_free = dict(room.dag_free)
    task_free = dict(room.task_free)
    run_task_free = dict(room.run_task_free)
    slots = room.slots
    chosen: list[Candidate] = []
    for c in candidates:
        if slots <= 0:
            break
        pool = pool_free.get(c.pool, 0)
        task_key = (c.key.dag_id, c.key.task_id)
        run_task_key = (c.key.dag_id, c.key.run_id, c.key.task_id)
        if pool != UNLIMITED and pool < c.pool_slots:
            continue
        if dag_free.get(c.key.dag_id, 1) <= 0 or task_free.get(task_key, 1) <= 0:
            continue
        if run_task_free.get(run_task_key, 1) <= 0:
            continue
        chosen.append(c)
        slots -= 1
        if pool != UNLIMITED:
            pool_free[c.pool] = pool - c.pool_slots
        if c.key.dag_id in dag_free:
            dag_free[c.key.dag_id] -= 1
        if task_key in task_free:
            task_free[task_key] -= 1
        if run_task_key in run_task_free:
            run_task_free[run_task_key] -= 1
    return chosen
