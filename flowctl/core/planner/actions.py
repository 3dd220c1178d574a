"""What the planner asks the scheduler to do: small frozen values, applied by the caller.

Pure: must not import anything outside flowctl.core and the standard library.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from flowctl.core.keys import TaskInstanceKey
from flowctl.core.states import DagRunState


@dataclass(frozen=True, slots=True)
class ScheduleTask:
    """pending -> scheduled: its upstream allows it to run now."""

    key: TaskInstanceKey


@dataclass(frozen=True, slots=True)
class SkipTask:
    """pending -> skipped: its trigger rule says skip."""

    key: TaskInstanceKey


@dataclass(frozen=True, slots=True)
class UpstreamFailTask:
    """pending -> upstream_failed: an upstream failure means it can never run."""

    key: TaskInstanceKey


@dataclass(frozen=True, slots=True)
class ExpandMapped:
    """Replace a mapped task's placeholder (map_index -1) by ``length`` instances (0 -> skipped)."""

    task_id: str
    length: int


@dataclass(frozen=True, slots=True)
class RemapMapped:
    """Re-expand an expanded, all-pending mapped task whose input now has ``length`` items.

    Missing indexes below ``length`` are made, those at or above it removed (0 -> skipped).
    """

    task_id: str
    length: int


@dataclass(frozen=True, slots=True)
class FinishRun:
    """Every task instance is finished: the run ends in ``state``."""

    state: DagRunState


@dataclass(frozen=True, slots=True)
class TimeOutRun:
    """The run is past its dagrun_timeout: fail it and stop its unfinished task instances."""


Action = Union[ScheduleTask, SkipTask, UpstreamFailTask, ExpandMapped, RemapMapped, FinishRun, TimeOutRun]
