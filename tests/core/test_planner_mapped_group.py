"""The planner over a mapped task group: inside the group, map index i of a task waits for index i of
its upstream tasks alone (trigger rules per index); a task downstream of the group waits for every
index; the group's tasks expand one after the other in one pass; an empty input skips the group."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.core.planner import (
    ExpandMapped, FinishRun, RunView, ScheduleTask, SkipTask, UpstreamFailTask, explain, plan, task_graph,
    upstream_counts,
)
from flowctl.core.states import DagRunState

NOW = datetime(2024, 1, 1, 12, tzinfo=timezone.utc)
RUN = RunKey("grouped", "run1")
GROUP_INPUT = {"expand": {"x": {"__type": "xcomarg", "__var": {"task_id": "make", "key": "return_value"}}},
               "expand_kind": "expand", "mapped_group_id": "g"}


def task(task_id: str, upstream: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    return {"task_id": task_id, "upstream_task_ids": list(upstream), **extra}


def in_group(task_id: str, upstream: tuple[str, ...], **extra: Any) -> dict[str, Any]:
    return task(task_id, upstream, is_mapped=True, mapping=GROUP_INPUT, **extra)


def grouped_dag(**b_extra: Any) -> dict[str, Any]:
    """make >> g.a >> g.b >> reduce, with g mapped over make's output."""
    return {"dag_id": "grouped", "tasks": [
        task("make"), in_group("g.a", ("make",)), in_group("g.b", ("g.a",), **b_extra), task("reduce", ("g.b",))]}


def view(states: dict[tuple[str, int], str], dag: dict[str, Any] | None = None, **kw: Any) -> RunView:
    return RunView(key=RUN, graph=task_graph(dag or grouped_dag()), states=states, start_date=NOW, **kw)


def key(task_id: str, map_index: int = -1) -> TaskInstanceKey:
    return TaskInstanceKey("grouped", "run1", task_id, map_index)


def expanded(a: list[str], b: list[str], reduce: str = "pending") -> dict[tuple[str, int], str]:
    states = {("make", -1): "success", ("reduce", -1): reduce}
    states.update({("g.a", i): s for i, s in enumerate(a)})
    states.update({("g.b", i): s for i, s in enumerate(b)})
    return states


def test_the_serialized_group_id_puts_a_task_in_its_mapped_group() -> None:
    graph = task_graph(grouped_dag())
    assert graph.tasks["g.a"].mapped_group == "g" and graph.tasks["g.b"].mapped_group == "g"
    assert graph.tasks["reduce"].mapped_group is None


def test_the_group_expands_its_chained_tasks_in_one_pass_once_its_input_is_there() -> None:
    states = {("make", -1): "success", ("g.a", -1): "pending", ("g.b", -1): "pending", ("reduce", -1): "pending"}
    actions = plan(view(states, map_lengths={"g.a": 3, "g.b": 3}), NOW)
    assert actions == [ExpandMapped("g.a", 3), ExpandMapped("g.b", 3)]


def test_the_group_does_not_expand_while_its_input_is_unknown() -> None:
    states = {("make", -1): "running", ("g.a", -1): "pending", ("g.b", -1): "pending", ("reduce", -1): "pending"}
    assert plan(view(states), NOW) == []


def test_an_inner_task_index_runs_as_soon_as_the_same_index_upstream_succeeded() -> None:
    actions = plan(view(expanded(["success", "running", "pending"], ["pending"] * 3)), NOW)
    assert actions == [ScheduleTask(key("g.a", 2)), ScheduleTask(key("g.b", 0))]


def test_a_failed_index_fails_only_the_same_index_downstream_in_the_group() -> None:
    actions = plan(view(expanded(["success", "failed", "running"], ["running", "pending", "pending"])), NOW)
    # g.b[0] still runs and g.b[2] waits for g.a[2]; all_success below the group fails at once, as in Airflow
    assert actions == [UpstreamFailTask(key("g.b", 1)), UpstreamFailTask(key("reduce"))]


def test_the_task_downstream_of_the_group_fails_when_any_index_failed_and_the_run_fails() -> None:
    states = expanded(["success", "failed", "success"], ["success", "upstream_failed", "success"])
    actions = plan(view(states), NOW)
    assert actions == [UpstreamFailTask(key("reduce")), FinishRun(DagRunState.FAILED)]


def test_the_task_downstream_of_the_group_runs_when_every_index_succeeded() -> None:
    states = expanded(["success"] * 3, ["success", "success", "running"])
    assert plan(view(states), NOW) == []
    states[("g.b", 2)] = "success"
    assert plan(view(states), NOW) == [ScheduleTask(key("reduce"))]


def test_a_trigger_rule_inside_the_group_is_evaluated_per_index() -> None:
    dag = grouped_dag(trigger_rule="all_failed")
    actions = plan(view(expanded(["failed", "success", "running"], ["pending"] * 3), dag), NOW)
    assert actions == [ScheduleTask(key("g.b", 0)), SkipTask(key("g.b", 1)), SkipTask(key("reduce"))]


def test_upstream_counts_of_an_inner_index_count_that_index_only() -> None:
    graph = task_graph(grouped_dag())
    states = expanded(["success", "failed", "running"], ["pending"] * 3)
    counts = upstream_counts(graph.tasks["g.b"], states, 1, graph.tasks)
    assert (counts.total, counts.failed, counts.success) == (1, 1, 0)
    everything = upstream_counts(graph.tasks["reduce"], expanded(["success"] * 3, ["success", "failed", "pending"]),
                                 -1, graph.tasks)
    assert (everything.total, everything.success, everything.failed) == (3, 1, 1)


def test_an_empty_input_skips_every_task_of_the_group_and_the_reduce() -> None:
    states = {("make", -1): "success", ("g.a", -1): "pending", ("g.b", -1): "pending", ("reduce", -1): "pending"}
    assert plan(view(states, map_lengths={"g.a": 0, "g.b": 0}), NOW) == [
        ExpandMapped("g.a", 0), SkipTask(key("g.b")), SkipTask(key("reduce"))]


def test_a_failed_input_fails_the_group_placeholders_and_the_reduce_upstream() -> None:
    states = {("make", -1): "failed", ("g.a", -1): "pending", ("g.b", -1): "pending", ("reduce", -1): "pending"}
    assert plan(view(states), NOW) == [UpstreamFailTask(key("g.a")), UpstreamFailTask(key("g.b")),
                                       UpstreamFailTask(key("reduce")), FinishRun(DagRunState.FAILED)]


def test_a_cleared_index_reruns_from_its_own_upstream_index() -> None:
    states = expanded(["success"] * 3, ["success", "pending", "success"], reduce="pending")
    assert plan(view(states), NOW) == [ScheduleTask(key("g.b", 1))]


def test_explain_names_the_same_index_upstream_state_only() -> None:
    reasons = explain(view(expanded(["success", "failed", "running"], ["pending"] * 3)), "g.b", NOW)
    assert "g.b[2]: trigger rule all_success says wait (upstream: 0 success, 0 failed, 0 upstream_failed, " \
           "0 skipped, 1 unfinished)" in reasons, reasons
