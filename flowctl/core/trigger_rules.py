"""Trigger rules and their evaluation: a pure function from upstream states to a verdict.

``evaluate(rule, counts)`` looks at the states of a task's direct upstream
tasks and answers RUN (the task may be scheduled now), WAIT (not decidable
yet), SKIP (set the task to skipped) or UPSTREAM_FAILED (set it to
upstream_failed). The scheduler applies the verdict; nothing here has effects.

Counting: an upstream is *done* when it is success, failed, upstream_failed
or skipped; every other state (pending, scheduled, queued, running,
up_for_retry, ...) is *unfinished*. A *removed* upstream no longer belongs to
the DAG and is left out altogether. A task with no (remaining) upstream tasks
always runs, whatever its rule. "failed" below means failed or
upstream_failed unless a rule says otherwise.

Rules (checked top to bottom; the first line that applies decides):

all_success       any failed -> UPSTREAM_FAILED (at once, even if others still run);
                  else any skipped -> SKIP (at once); else all succeeded -> RUN; else WAIT.
all_failed        any success or skipped -> SKIP (at once); all failed -> RUN; else WAIT.
all_done          everything done, whatever the outcome -> RUN; else WAIT.
all_skipped       any success or failed -> SKIP (at once); all skipped -> RUN; else WAIT.
one_success       one success -> RUN at once, even while others still run;
                  all done and all skipped -> SKIP; all done, no success -> UPSTREAM_FAILED;
                  else WAIT.
one_failed        one failed -> RUN at once; all done and none failed -> SKIP; else WAIT.
one_done          one success or failed (proper failure, not upstream_failed) -> RUN at once;
                  all done and none of those -> SKIP; else WAIT.
none_failed       any failed -> UPSTREAM_FAILED (at once); all done (successes and
                  skips) -> RUN; else WAIT.
none_failed_min_one_success
                  any failed -> UPSTREAM_FAILED (at once); all skipped -> SKIP;
                  all done with at least one success -> RUN; else WAIT.
none_skipped      any skipped -> SKIP (at once); all done -> RUN; else WAIT.
always            RUN at once.
all_done_setup_success
                  (a teardown's rule, Airflow 2.7) not all done -> WAIT; else, among the
                  direct upstreams that are setup tasks (none: RUN): all skipped -> SKIP;
                  none succeeded -> UPSTREAM_FAILED; else RUN (work failures do not matter).

Must not import anything outside flowctl.core and the standard library.
"""
from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from enum import Enum
from typing import Callable, Iterable

from flowctl.core.states import TaskInstanceState


class TriggerRule(str, Enum):
    """When a task may run, given the states of its direct upstream tasks."""

    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_SKIPPED = "all_skipped"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"
    ALL_DONE_SETUP_SUCCESS = "all_done_setup_success"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def is_valid(cls, trigger_rule: str) -> bool:
        """Whether ``trigger_rule`` names a rule (Airflow's classmethod)."""
        return trigger_rule in cls.all_triggers()

    @classmethod
    def all_triggers(cls) -> set[str]:
        """Every rule's name (Airflow's classmethod)."""
        return {rule.value for rule in cls}


#: Names Airflow 2 still accepts, with a DeprecationWarning, for the rules they were renamed to.
_DEPRECATED_NAMES = {"dummy": TriggerRule.ALWAYS,
                     "none_failed_or_skipped": TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS}


def rule_named(name: str) -> TriggerRule:
    """The rule called ``name`` (ValueError if none is); a deprecated Airflow 2 name warns."""
    renamed = _DEPRECATED_NAMES.get(str(name))
    if renamed is None:
        return TriggerRule(name)
    warnings.warn(f"trigger rule {name!r} is deprecated; use {renamed.value!r}", DeprecationWarning, stacklevel=4)
    return renamed


class Verdict(str, Enum):
    """What the scheduler should do with a task whose upstream looks like this."""

    RUN = "run"
    WAIT = "wait"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"

    @property
    def new_state(self) -> TaskInstanceState | None:
        """The state to set the task to, or None when the task keeps its state."""
        return _NEW_STATE.get(self)

    def __str__(self) -> str:
        return self.value


_NEW_STATE = {
    Verdict.SKIP: TaskInstanceState.SKIPPED,
    Verdict.UPSTREAM_FAILED: TaskInstanceState.UPSTREAM_FAILED,
}


@dataclass(frozen=True, slots=True)
class UpstreamCounts:
    """How many direct upstream tasks are in each relevant state.

    ``total`` counts every upstream, removed ones included; the rest of the
    states (pending, running, ...) are ``unfinished``. ``setup`` counts the
    upstreams that are setup tasks (already counted in the fields above), and
    ``setup_success`` / ``setup_skipped`` those of them that succeeded / were skipped.
    """

    total: int
    success: int = 0
    failed: int = 0
    upstream_failed: int = 0
    skipped: int = 0
    removed: int = 0
    setup: int = 0
    setup_success: int = 0
    setup_skipped: int = 0

    def __post_init__(self) -> None:
        if min(self.total, self.success, self.failed, self.upstream_failed, self.skipped,
               self.removed, self.setup_success, self.setup_skipped) < 0 or self.done + self.removed > self.total \
                or self.setup_success + self.setup_skipped > self.setup or self.setup > self.total:
            raise ValueError(f"inconsistent upstream counts: {self}")

    @classmethod
    def from_states(cls, states: Iterable[TaskInstanceState | str],
                    setup_states: Iterable[TaskInstanceState | str] = ()) -> UpstreamCounts:
        """Count a list of upstream task-instance states; ``setup_states`` are those of them
        that belong to setup tasks (for ``all_done_setup_success``)."""
        tally = Counter(TaskInstanceState(state) for state in states)
        setups = Counter(TaskInstanceState(state) for state in setup_states)
        S = TaskInstanceState
        return cls(
            total=sum(tally.values()),
            success=tally[S.SUCCESS],
            failed=tally[S.FAILED],
            upstream_failed=tally[S.UPSTREAM_FAILED],
            skipped=tally[S.SKIPPED],
            removed=tally[S.REMOVED],
            setup=sum(setups.values()),
            setup_success=setups[S.SUCCESS],
            setup_skipped=setups[S.SKIPPED],
        )

    @property
    def done(self) -> int:
        """Upstreams that finished: success, failed, upstream_failed or skipped."""
        return self.success + self.failed + self.upstream_failed + self.skipped

    @property
    def relevant(self) -> int:
        """Upstreams that still belong to the DAG (total minus removed)."""
        return self.total - self.removed

    @property
    def all_done(self) -> bool:
        """True when no relevant upstream is still unfinished."""
        return self.done == self.relevant

    @property
    def any_failed(self) -> int:
        """Failed plus upstream_failed."""
        return self.failed + self.upstream_failed


def _all_success(c: UpstreamCounts) -> Verdict:
    if c.any_failed:
        return Verdict.UPSTREAM_FAILED
    if c.skipped:
        return Verdict.SKIP
    return Verdict.RUN if c.success == c.relevant else Verdict.WAIT


def _all_failed(c: UpstreamCounts) -> Verdict:
    if c.success or c.skipped:
        return Verdict.SKIP
    return Verdict.RUN if c.any_failed == c.relevant else Verdict.WAIT


def _all_done(c: UpstreamCounts) -> Verdict:
    return Verdict.RUN if c.all_done else Verdict.WAIT


def _all_skipped(c: UpstreamCounts) -> Verdict:
    if c.success or c.any_failed:
        return Verdict.SKIP
    return Verdict.RUN if c.skipped == c.relevant else Verdict.WAIT


def _one_success(c: UpstreamCounts) -> Verdict:
    if c.success:
        return Verdict.RUN
    if not c.all_done:
        return Verdict.WAIT
    return Verdict.SKIP if c.skipped == c.relevant else Verdict.UPSTREAM_FAILED


def _one_failed(c: UpstreamCounts) -> Verdict:
    if c.any_failed:
        return Verdict.RUN
    return Verdict.SKIP if c.all_done else Verdict.WAIT


def _one_done(c: UpstreamCounts) -> Verdict:
    if c.success or c.failed:
        return Verdict.RUN
    return Verdict.SKIP if c.all_done else Verdict.WAIT


def _none_failed(c: UpstreamCounts) -> Verdict:
    if c.any_failed:
        return Verdict.UPSTREAM_FAILED
    return Verdict.RUN if c.all_done else Verdict.WAIT


def _none_failed_min_one_success(c: UpstreamCounts) -> Verdict:
    if c.any_failed:
        return Verdict.UPSTREAM_FAILED
    if c.skipped == c.relevant:
        return Verdict.SKIP
    return Verdict.RUN if c.all_done else Verdict.WAIT


def _none_skipped(c: UpstreamCounts) -> Verdict:
    if c.skipped:
        return Verdict.SKIP
    return Verdict.RUN if c.all_done else Verdict.WAIT


def _always(c: UpstreamCounts) -> Verdict:
    return Verdict.RUN


def _all_done_setup_success(c: UpstreamCounts) -> Verdict:
    if not c.all_done:
        return Verdict.WAIT
    if c.setup and c.setup_skipped >= c.setup:
        return Verdict.SKIP
    if c.setup and not c.setup_success:
        return Verdict.UPSTREAM_FAILED
    return Verdict.RUN


_RULES: dict[TriggerRule, Callable[[UpstreamCounts], Verdict]] = {
    TriggerRule.ALL_SUCCESS: _all_success,
    TriggerRule.ALL_FAILED: _all_failed,
    TriggerRule.ALL_DONE: _all_done,
    TriggerRule.ALL_SKIPPED: _all_skipped,
    TriggerRule.ONE_SUCCESS: _one_success,
    TriggerRule.ONE_FAILED: _one_failed,
    TriggerRule.ONE_DONE: _one_done,
    TriggerRule.NONE_FAILED: _none_failed,
    TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS: _none_failed_min_one_success,
    TriggerRule.NONE_SKIPPED: _none_skipped,
    TriggerRule.ALWAYS: _always,
    TriggerRule.ALL_DONE_SETUP_SUCCESS: _all_done_setup_success,
}


def evaluate(rule: TriggerRule | str, counts: UpstreamCounts) -> Verdict:
    """Decide whether a task with this trigger rule runs, waits, skips or fails upstream."""
    if counts.relevant == 0:
        return Verdict.RUN
    return _RULES[TriggerRule(rule)](counts)
