"""The executor interface: take workloads, run them somewhere, report what happened.

An executor never touches the database: the task runner (in the worker) owns
the try's state transitions; the executor only tells the scheduler that a
workload it was given has ended (and how, as far as it can see), so the
scheduler can react at once instead of polling. Must not import flowctl.db,
flowctl.scheduler, flowctl.web or flowctl.cli.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from enum import Enum

from flowctl.core.keys import TaskInstanceKey


TaskKey = TaskInstanceKey  # the executor layer's name for it


@dataclass(frozen=True, slots=True)
class Workload:
    """One task try to run: everything a worker needs to find and run it.

    ``fileloc`` is the DAG file the worker imports to get the real operator;
    ``try_number`` is the try the scheduler queued, so a stale workload (its
    try already claimed or cleared) is refused by the runner's compare-and-set.
    """

    key: TaskKey
    try_number: int
    fileloc: str
    queue: str = "default"
    priority_weight: int = 1
    pool: str = "default_pool"
    pool_slots: int = 1
    executor_config: dict[str, object] = field(default_factory=dict)


class Outcome(str, Enum):
    """How a workload ended, as the executor saw it."""

    FINISHED = "finished"  # the runner exited normally; the row holds the real state
    CRASHED = "crashed"  # the worker died or exited non-zero before recording a final state
    REJECTED = "rejected"  # the executor could not start it at all


@dataclass(frozen=True, slots=True)
class ExecutorEvent:
    """Reported by :meth:`BaseExecutor.sync` for each workload that ended."""

    key: TaskKey
    try_number: int
    outcome: Outcome
    detail: str = ""


class BaseExecutor(abc.ABC):
    """Runs workloads; reports their end. Subclasses are small."""

    name: str = "base"
    #: True when every workload that ends FINISHED has recorded its end with the scheduler's
    #: wake-up (``wake=`` of the Store's finish verbs) before its event is reported: the
    #: scheduler then need not examine the runs again for such an event alone.
    ends_notify_scheduler: bool = False

    def __init__(self, parallelism: int) -> None:
        self.parallelism = parallelism
        self.running: set[TaskKey] = set()

    @abc.abstractmethod
    def start(self) -> None:
        """Acquire resources (processes, broker connections)."""

    @abc.abstractmethod
    def submit(self, workload: Workload) -> None:
        """Start running ``workload``; must not block on the task itself."""

    @abc.abstractmethod
    def sync(self, timeout: float = 0.0) -> list[ExecutorEvent]:
        """Wait up to ``timeout`` seconds for workloads to end; return their events."""

    @abc.abstractmethod
    def end(self) -> None:
        """Stop taking work, wait for running workloads, release resources."""

    def terminate(self, key: TaskKey) -> bool:
        """Kill a running workload (kill-runs, execution_timeout). False if unknown here."""
        return False

    def in_flight(self) -> dict[TaskKey, int]:
        """Workloads counted as running whose end this executor may never hear of (a remote worker
        can die without a word): key -> the try_number each was submitted with. The scheduler
        checks them against their rows now and then and releases those whose try is over.
        Empty for executors that always hear of their workloads' ends."""
        return {}

    def release(self, key: TaskKey) -> None:
        """Stop counting ``key`` as running (its row says its try is over); no event follows."""
        self.running.discard(key)

    def wakeup_fileno(self) -> int | None:
        """A file descriptor readable when an event is ready (for select()); None if none."""
        return None

    @property
    def open_slots(self) -> int:
        """How many more workloads may be submitted now."""
        return max(0, self.parallelism - len(self.running))
