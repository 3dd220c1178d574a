"""The planner: pure scheduling decisions (what to schedule, skip, fail, expand, finish).

``plan(run, now) -> list[Action]`` and ``explain(run, task_id, now) -> list[str]``
over a :class:`RunView`; ``choose_to_queue`` for pools and limits; ``failed_try``
for tries that died; ``run_mark`` for a person marking a whole run. The
scheduler applies the results through the Store.
Pure: must not import anything outside flowctl.core and the standard library.
"""
from __future__ import annotations

from flowctl.core.planner.actions import (
    Action, ExpandMapped, FinishRun, RemapMapped, ScheduleTask, SkipTask, TimeOutRun, UpstreamFailTask,
)
from flowctl.core.planner.decide import (
    explain, final_state, past_blockers, plan, upstream_blockers, upstream_counts,
)
from flowctl.core.planner.expansion import input_final, map_length, xcom_refs
from flowctl.core.planner.failure import FailedTry, failed_try
from flowctl.core.planner.graph import TaskGraph, TaskSpec, priority_weights, task_graph, task_spec
from flowctl.core.planner.marking import RunMark, run_mark
from flowctl.core.planner.queueing import Candidate, Room, choose_to_queue
from flowctl.core.planner.view import Capacity, RunView, StateMap

__all__ = [
    "Action", "Candidate", "Capacity", "ExpandMapped", "FailedTry", "FinishRun", "RemapMapped", "Room", "RunMark",
    "RunView", "ScheduleTask", "SkipTask", "StateMap", "TaskGraph", "TaskSpec", "TimeOutRun", "UpstreamFailTask",
    "choose_to_queue", "explain", "failed_try", "final_state", "input_final", "map_length", "past_blockers", "plan",
    "priority_weights", "run_mark", "task_graph", "task_spec", "upstream_blockers", "upstream_counts", "xcom_refs",
]
