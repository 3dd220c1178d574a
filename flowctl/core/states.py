"""Task-instance and DAG-run states and their allowed transitions, as data.

Nothing else in flowctl decides whether a state change is legal: the Store
asks :func:`check_ti_transition` / :func:`check_run_transition` and then
performs the change as a compare-and-set. Pure: no I/O.
"""
from __future__ import annotations

from enum import Enum

from flowctl.core.errors import IllegalTransitionError


class TaskInstanceState(str, Enum):
    """Every state a task instance can be in; ``None`` never is one."""

    PENDING = "pending"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"
    UP_FOR_RESCHEDULE = "up_for_reschedule"
    DEFERRED = "deferred"
    SKIPPED = "skipped"
    UPSTREAM_FAILED = "upstream_failed"
    REMOVED = "removed"

    def __str__(self) -> str:
        return self.value


class DagRunState(str, Enum):
    """Every state a DAG run can be in."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


TI = TaskInstanceState
R = DagRunState

#: Try states that end a task instance (until somebody clears it).
TI_FINISHED: frozenset[TI] = frozenset(
    {TI.SUCCESS, TI.FAILED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED}
)
#: States in which a try occupies (or is about to occupy) a worker slot.
TI_ACTIVE: frozenset[TI] = frozenset({TI.QUEUED, TI.RUNNING})
#: States waiting for time to pass before they may be scheduled again.
TI_WAITING: frozenset[TI] = frozenset({TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE, TI.DEFERRED})
RUN_FINISHED: frozenset[R] = frozenset({R.SUCCESS, R.FAILED})

# Normal flow; "clear" and "mark" are modelled separately below so that the
# scheduler's table stays strict and the humans' override stays explicit.
TI_TRANSITIONS: dict[TI, frozenset[TI]] = {
    TI.PENDING: frozenset({TI.SCHEDULED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED, TI.QUEUED}),
    TI.SCHEDULED: frozenset({TI.QUEUED, TI.PENDING, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED}),
    TI.QUEUED: frozenset({TI.RUNNING, TI.SCHEDULED, TI.FAILED, TI.UP_FOR_RETRY, TI.SKIPPED}),
    TI.RUNNING: frozenset(
        {
            TI.SUCCESS,
            TI.FAILED,
            TI.UP_FOR_RETRY,
            TI.UP_FOR_RESCHEDULE,
            TI.DEFERRED,
            TI.SKIPPED,
        }
    ),
    TI.UP_FOR_RETRY: frozenset({TI.SCHEDULED, TI.FAILED, TI.SKIPPED, TI.UPSTREAM_FAILED}),
    TI.UP_FOR_RESCHEDULE: frozenset({TI.SCHEDULED, TI.FAILED, TI.SKIPPED}),
    TI.DEFERRED: frozenset({TI.SCHEDULED, TI.FAILED, TI.UP_FOR_RETRY}),
    TI.SUCCESS: frozenset(),
    TI.FAILED: frozenset(),
    TI.SKIPPED: frozenset(),
    TI.UPSTREAM_FAILED: frozenset(),
    TI.REMOVED: frozenset({TI.PENDING}),
}

#: What a person (CLI, web, API) may do to any task instance: clear it back to
#: pending, or mark it success / failed / skipped. Kept apart from the
#: scheduler's table so a bug in the scheduler cannot "mark".
TI_MANUAL_TARGETS: frozenset[TI] = frozenset({TI.PENDING, TI.SUCCESS, TI.FAILED, TI.SKIPPED})

RUN_TRANSITIONS: dict[R, frozenset[R]] = {
    R.QUEUED: frozenset({R.RUNNING, R.FAILED, R.SUCCESS}),
    R.RUNNING: frozenset({R.SUCCESS, R.FAILED}),
    R.SUCCESS: frozenset(),
    R.FAILED: frozenset(),
}
RUN_MANUAL_TARGETS: frozenset[R] = frozenset({R.QUEUED, R.SUCCESS, R.FAILED})


class State:
    """Airflow's ``State``: the state names as constants, and the usual groups of them.

    The values are the enum members above, so ``State.SUCCESS == "success"``. Airflow's
    ``State.NONE`` (no state yet) is flowctl's ``pending``; Airflow's ``restarting`` and
    ``shutdown`` do not exist in flowctl (a cleared running task goes back to pending).
    """

    SUCCESS, RUNNING, FAILED = TI.SUCCESS, TI.RUNNING, TI.FAILED
    NONE = PENDING = TI.PENDING
    REMOVED, SCHEDULED, QUEUED = TI.REMOVED, TI.SCHEDULED, TI.QUEUED
    UP_FOR_RETRY, UP_FOR_RESCHEDULE = TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE
    UPSTREAM_FAILED, SKIPPED, DEFERRED = TI.UPSTREAM_FAILED, TI.SKIPPED, TI.DEFERRED

    task_states: tuple[TI, ...] = tuple(TI)
    dag_states: tuple[R, ...] = tuple(R)
    finished_dr_states: frozenset[R] = RUN_FINISHED
    unfinished_dr_states: frozenset[R] = frozenset(R) - RUN_FINISHED
    finished: frozenset[TI] = TI_FINISHED
    unfinished: frozenset[TI] = frozenset(TI) - TI_FINISHED
    failed_states: frozenset[TI] = frozenset({TI.FAILED, TI.UPSTREAM_FAILED})
    success_states: frozenset[TI] = frozenset({TI.SUCCESS, TI.SKIPPED})
    adoptable_states: frozenset[TI] = TI_ACTIVE


def check_ti_transition(old: TI | str, new: TI | str) -> None:
    """Raise IllegalTransitionError unless the scheduler/runner may move old -> new."""
    o, n = TI(old), TI(new)
    if n not in TI_TRANSITIONS[o]:
        raise IllegalTransitionError(f"task instance cannot go from {o.value} to {n.value}")


def check_manual_ti_transition(old: TI | str, new: TI | str) -> None:
    """Raise unless a person may set a task instance in state old to new."""
    o, n = TI(old), TI(new)
    if n not in TI_MANUAL_TARGETS and n not in TI_TRANSITIONS[o]:
        raise IllegalTransitionError(f"task instance cannot be set from {o.value} to {n.value}")


def check_run_transition(old: R | str, new: R | str) -> None:
    """Raise IllegalTransitionError unless a DAG run may move old -> new."""
    o, n = R(old), R(new)
    if n not in RUN_TRANSITIONS[o]:
        raise IllegalTransitionError(f"DAG run cannot go from {o.value} to {n.value}")


def check_manual_run_transition(old: R | str, new: R | str) -> None:
    """Raise unless a person may set a DAG run in state old to new."""
    o, n = R(old), R(new)
    if n not in RUN_MANUAL_TARGETS and n not in RUN_TRANSITIONS[o]:
        raise IllegalTransitionError(f"DAG run cannot be set from {o.value} to {n.value}")
