"""The planner re-expands a cleared mapped task whose input changed length (pure, no database)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.core.planner import FinishRun, RemapMapped, RunView, ScheduleTask, plan, task_graph
from flowctl.core.states import DagRunState

NOW = datetime(2024, 1, 1, 12, tzinfo=timezone.utc)
REF = {"__type": "xcomarg", "__var": {"task_id": "gen", "key": "return_value"}}
DAG = {"dag_id": "etl", "tasks": [
    {"task_id": "gen"},
    {"task_id": "m", "upstream_task_ids": ["gen"], "is_mapped": True,
     "mapping": {"expand": {"x": REF}, "expand_kind": "expand"}},
    {"task_id": "after", "upstream_task_ids": ["m"]},
]}


def view(states: dict[tuple[str, int], str], **kw: Any) -> RunView:
    return RunView(key=RunKey("etl", "run1"), graph=task_graph(DAG), states=states, start_date=NOW, **kw)


def test_a_mapped_task_to_remap_is_remapped_and_none_of_its_indexes_is_scheduled_in_that_pass() -> None:
    cleared = {("gen", -1): "success", ("m", 0): "pending", ("after", -1): "pending"}
    assert plan(view(cleared, remap_lengths={"m": 2}), NOW) == [RemapMapped("m", 2)]


def test_without_a_remap_length_the_cleared_indexes_are_scheduled_as_before() -> None:
    cleared = {("gen", -1): "success", ("m", 0): "pending", ("m", 1): "pending", ("after", -1): "pending"}
    assert plan(view(cleared), NOW) == [ScheduleTask(TaskInstanceKey("etl", "run1", "m", 0)),
                                        ScheduleTask(TaskInstanceKey("etl", "run1", "m", 1))]


def test_removed_map_indexes_let_the_downstream_run_and_the_run_succeed() -> None:
    shrunk = {("gen", -1): "success", ("m", 0): "success", ("m", 1): "removed", ("after", -1): "pending"}
    assert plan(view(shrunk), NOW) == [ScheduleTask(TaskInstanceKey("etl", "run1", "after", -1))]
    done = {("gen", -1): "success", ("m", 0): "success", ("m", 1): "removed", ("after", -1): "success"}
    assert plan(view(done), NOW) == [FinishRun(DagRunState.SUCCESS)]
