"""What the planner sees of one DAG run: its task graph, its task-instance states, the past.

The scheduler builds a :class:`RunView` from Store records; tests build one by
hand. Pure: must not import anything outside flowctl.core and the standard library.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.core.planner.graph import TaskGraph

#: (task_id, map_index) -> state
StateMap = Mapping[tuple[str, int], str]


@dataclass(frozen=True, slots=True)
class Capacity:
    """Free room for queued work, for :func:`explain` (all optional)."""

    pool_free: Mapping[str, int] = field(default_factory=dict)
    dag_free: int | None = None
    task_free: Mapping[str, int] = field(default_factory=dict)
    #: Every pool's size (negative: unlimited), and the pool and pool_slots the explained task
    #: needs: a missing pool or too few slots in all means it can never run.
    pool_sizes: Mapping[str, int] | None = None
    needs: tuple[str, int] | None = None


@dataclass(frozen=True, slots=True)
class RunView:
    """One run as the planner sees it.

    ``previous`` holds the states of the previous run (by logical date) of the
    same DAG, for depends_on_past / wait_for_downstream; None when there is no
    previous run. ``map_lengths`` holds, for mapped tasks ready to expand, how
    many instances the upstream XCom asks for (the scheduler reads it);
    ``missing_inputs`` the mapped tasks ready to expand whose input never came
    (an unmapped upstream they map over finished without pushing it).
    ``remap_lengths`` holds the same for expanded mapped tasks whose map indexes
    are all pending again (cleared) and no longer match their input's length.
    """

    key: RunKey
    graph: TaskGraph
    states: StateMap
    run_state: str = "running"
    start_date: datetime | None = None
    previous: StateMap | None = None
    map_lengths: Mapping[str, int] = field(default_factory=dict)
    missing_inputs: frozenset[str] = frozenset()
    remap_lengths: Mapping[str, int] = field(default_factory=dict)
    dag_paused: bool = False
    capacity: Capacity | None = None
    #: A queued manual run's logical date: it starts no earlier (None for other runs).
    starts_at: datetime | None = None

    def ti_key(self, task_id: str, map_index: int) -> TaskInstanceKey:
        """The key of one of this run's task instances."""
        return TaskInstanceKey(self.key.dag_id, self.key.run_id, task_id, map_index)

    def indexes(self, task_id: str) -> list[int]:
        """The map indexes this run has for ``task_id`` (-1 for an unmapped task)."""
        return sorted(mi for (t, mi) in self.states if t == task_id)

    def timed_out(self, now: datetime) -> bool:
        """True when the run has been running longer than the DAG's dagrun_timeout."""
        timeout = self.graph.dagrun_timeout
        return timeout is not None and self.start_date is not None and now - self.start_date > timeout
