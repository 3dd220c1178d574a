"""What marking a whole run success or failed does to its task instances: a pure decision.

As Airflow 2.10.5+ documents ("teardown will also be carried out if the DAG
run is manually set to failed or success"), teardowns are left to run:

* failed: unfinished work (every task but teardowns) stops as ``kill-runs``
  stops it -- queued and running tries fail, the rest is skipped; finished
  task instances stay as they are.
* success: every task instance but teardowns that is not success becomes success.
* a teardown already running or finished is left alone; an unfinished one is
  left for the scheduler (:attr:`RunMark.teardowns_left`), whose trigger rule
  ``all_done_setup_success`` then runs it if one of its setups succeeded --
  except that a teardown none of whose setups had started (pending, scheduled,
  queued, skipped, upstream_failed) is skipped now: marking success makes such
  a setup success without it having made anything, and nothing is to be cleaned up.

The run itself takes the chosen state at once and keeps it; the scheduler
still decides the teardowns left (see ``decide.plan``). Pure: must not import
anything outside flowctl.core and the standard library.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flowctl.core.planner.graph import TaskGraph
from flowctl.core.planner.view import StateMap
from flowctl.core.states import TI_FINISHED, DagRunState, TaskInstanceState

S = TaskInstanceState
_FINISHED = frozenset(s.value for s in TI_FINISHED)
_STOPPED_AS_FAILED = frozenset({S.QUEUED.value, S.RUNNING.value})
_NEVER_STARTED = frozenset({S.PENDING.value, S.SCHEDULED.value, S.QUEUED.value, S.SKIPPED.value,
                            S.UPSTREAM_FAILED.value, S.REMOVED.value})
TiId = tuple[str, int]


@dataclass(frozen=True, slots=True)
class RunMark:
    """The task instances marking a run changes (to the given state), and the unfinished teardowns it
    leaves alone (to run, or running already)."""

    changes: Mapping[TiId, TaskInstanceState] = field(default_factory=dict)
    teardowns_left: frozenset[TiId] = frozenset()


def _work_target(state: str, chosen: DagRunState) -> TaskInstanceState | None:
    if chosen is DagRunState.SUCCESS:
        return None if state == S.SUCCESS.value else S.SUCCESS
    if state in _FINISHED:
        return None
    return S.FAILED if state in _STOPPED_AS_FAILED else S.SKIPPED


def _setups_started(graph: TaskGraph, task_id: str, states: StateMap) -> bool:
    """True when the teardown has no setups, or one of them got at least as far as running."""
    setups = graph.tasks[task_id].setups
    return not setups or any(state not in _NEVER_STARTED for (t, _), state in states.items() if t in setups)


def run_mark(graph: TaskGraph | None, states: StateMap, chosen: DagRunState | str) -> RunMark:
    """What marking the run ``chosen`` (success or failed) does, given its task-instance states now;
    without a task graph (its DAG version is gone) every task counts as work."""
    chosen = DagRunState(chosen)
    if chosen not in (DagRunState.SUCCESS, DagRunState.FAILED):
        raise ValueError(f"a run is marked success or failed, not {chosen.value}")
    tasks = graph.tasks if graph is not None else {}
    changes: dict[TiId, TaskInstanceState] = {}
    left: set[TiId] = set()
    for ti_id, state in sorted(states.items()):
        spec = tasks.get(ti_id[0])
        if spec is None or not spec.is_teardown:
            target = _work_target(state, chosen)
            if target is not None:
                changes[ti_id] = target
        elif state in _FINISHED:
            continue
        elif state == S.RUNNING.value or (graph is not None and _setups_started(graph, ti_id[0], states)):
            left.add(ti_id)
        else:
            changes[ti_id] = S.SKIPPED
    return RunMark(changes, frozenset(left))
