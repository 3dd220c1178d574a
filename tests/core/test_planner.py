"""The planner: pure decisions over a run's task states."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from flowctl.core.errors import MapInputMissing
from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.core.planner import (
    Candidate, ExpandMapped, FinishRun, Room, RunView, ScheduleTask, SkipTask, TimeOutRun, UpstreamFailTask,
    choose_to_queue, explain, failed_try, input_final, map_length, plan, priority_weights, task_graph, xcom_refs,
)
from flowctl.core.states import DagRunState, TaskInstanceState

NOW = datetime(2024, 1, 1, 12, tzinfo=timezone.utc)
RUN = RunKey("etl", "run1")


def task(task_id: str, upstream: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    return {"task_id": task_id, "upstream_task_ids": list(upstream), **extra}


def chain_dag(**extra: Any) -> dict[str, Any]:
    return {"dag_id": "etl", "tasks": [task("a"), task("b", ("a",)), task("c", ("b",))], **extra}


def view(dag: dict[str, Any], states: dict[tuple[str, int], str], **kw: Any) -> RunView:
    return RunView(key=RUN, graph=task_graph(dag), states=states, start_date=NOW, **kw)


def key(task_id: str, map_index: int = -1) -> TaskInstanceKey:
    return TaskInstanceKey("etl", "run1", task_id, map_index)


def test_a_new_run_schedules_only_its_root_tasks() -> None:
    states = {("a", -1): "pending", ("b", -1): "pending", ("c", -1): "pending"}
    assert plan(view(chain_dag(), states), NOW) == [ScheduleTask(key("a"))]


def test_a_succeeded_upstream_schedules_the_next_task() -> None:
    states = {("a", -1): "success", ("b", -1): "pending", ("c", -1): "pending"}
    assert plan(view(chain_dag(), states), NOW) == [ScheduleTask(key("b"))]


def test_a_failure_propagates_upstream_failed_down_the_whole_chain_and_fails_the_run() -> None:
    states = {("a", -1): "failed", ("b", -1): "pending", ("c", -1): "pending"}
    assert plan(view(chain_dag(), states), NOW) == [
        UpstreamFailTask(key("b")), UpstreamFailTask(key("c")), FinishRun(DagRunState.FAILED)]


def test_a_skip_propagates_and_the_run_succeeds() -> None:
    states = {("a", -1): "skipped", ("b", -1): "pending", ("c", -1): "pending"}
    assert plan(view(chain_dag(), states), NOW) == [
        SkipTask(key("b")), SkipTask(key("c")), FinishRun(DagRunState.SUCCESS)]


def test_an_all_done_leaf_makes_the_run_succeed_despite_an_upstream_failure() -> None:
    dag = {"dag_id": "etl", "tasks": [task("a"), task("cleanup", ("a",), trigger_rule="all_done")]}
    first = plan(view(dag, {("a", -1): "failed", ("cleanup", -1): "pending"}), NOW)
    assert first == [ScheduleTask(key("cleanup"))]
    done = plan(view(dag, {("a", -1): "failed", ("cleanup", -1): "success"}), NOW)
    assert done == [FinishRun(DagRunState.SUCCESS)]


def test_running_tasks_keep_the_run_open() -> None:
    states = {("a", -1): "success", ("b", -1): "running", ("c", -1): "pending"}
    assert plan(view(chain_dag(), states), NOW) == []


def test_a_run_that_is_not_running_gets_no_actions() -> None:
    states = {("a", -1): "pending", ("b", -1): "pending", ("c", -1): "pending"}
    assert plan(view(chain_dag(), states, run_state="queued"), NOW) == []


def test_a_run_past_its_dagrun_timeout_is_timed_out() -> None:
    states = {("a", -1): "running", ("b", -1): "pending", ("c", -1): "pending"}
    run = view(chain_dag(dagrun_timeout=60), states)
    assert plan(run, NOW + timedelta(seconds=59)) == []
    assert plan(run, NOW + timedelta(seconds=61)) == [TimeOutRun()]


def test_depends_on_past_waits_for_the_previous_runs_task_to_succeed() -> None:
    dag = {"dag_id": "etl", "tasks": [task("a", depends_on_past=True)]}
    states = {("a", -1): "pending"}
    assert plan(view(dag, states, previous={("a", -1): "running"}), NOW) == []
    assert plan(view(dag, states, previous={("a", -1): "success"}), NOW) == [ScheduleTask(key("a"))]
    assert plan(view(dag, states, previous=None), NOW) == [ScheduleTask(key("a"))]
    reasons = explain(view(dag, states, previous={("a", -1): "failed"}), "a", NOW)
    assert any("depends_on_past" in r and "failed" in r for r in reasons)


def test_wait_for_downstream_waits_for_the_previous_runs_direct_downstream() -> None:
    dag = {"dag_id": "etl", "tasks": [task("a", wait_for_downstream=True), task("b", ("a",))]}
    states = {("a", -1): "pending", ("b", -1): "pending"}
    waiting = view(dag, states, previous={("a", -1): "success", ("b", -1): "running"})
    assert plan(waiting, NOW) == []
    ready = view(dag, states, previous={("a", -1): "success", ("b", -1): "skipped"})
    assert plan(ready, NOW) == [ScheduleTask(key("a"))]


def test_a_mapped_task_expands_once_its_upstream_is_done_and_its_length_is_known() -> None:
    mapping = {"expand": {"x": {"__type": "xcomarg", "__var": {"task_id": "make", "key": "return_value"}}},
               "expand_kind": "expand"}
    dag = {"dag_id": "etl", "tasks": [task("make"), task("m", ("make",), is_mapped=True, mapping=mapping),
                                      task("after", ("m",))]}
    states = {("make", -1): "success", ("m", -1): "pending", ("after", -1): "pending"}
    assert plan(view(dag, states), NOW) == []  # length not read yet
    assert plan(view(dag, states, map_lengths={"m": 3}), NOW) == [ExpandMapped("m", 3)]
    expanded = {("make", -1): "success", ("m", 0): "pending", ("m", 1): "pending", ("after", -1): "pending"}
    assert plan(view(dag, expanded), NOW) == [ScheduleTask(key("m", 0)), ScheduleTask(key("m", 1))]
    half = {("make", -1): "success", ("m", 0): "success", ("m", 1): "running", ("after", -1): "pending"}
    assert plan(view(dag, half), NOW) == []


def test_mapping_length_is_the_product_of_its_inputs() -> None:
    ref = {"__type": "xcomarg", "__var": {"task_id": "make", "key": "return_value"}}
    spec = {"expand": {"x": ref, "y": [1, 2]}, "expand_kind": "expand"}
    assert xcom_refs(spec) == [("make", "return_value")]
    assert map_length(spec, {("make", "return_value"): [1, 2, 3]}) == 6
    with pytest.raises(MapInputMissing):  # nothing pushed: it cannot expand (upstream_failed)
        map_length(spec, {})
    assert map_length({"expand": ref, "expand_kind": "expand_kwargs"}, {("make", "return_value"): [{}, {}]}) == 2
    with pytest.raises(ValueError):
        map_length(spec, {("make", "return_value"): 5})


def test_a_mapped_input_is_final_once_every_map_index_finished_and_an_unmapped_one_once_it_finished() -> None:
    ref = {"__type": "xcomarg", "__var": {"task_id": "first", "key": "return_value"}}
    graph = task_graph({"dag_id": "etl", "tasks": [
        task("make"), task("first", ("make",), is_mapped=True, mapping={"expand": {"x": [1, 2]}}),
        task("second", ("first",), is_mapped=True, mapping={"expand": {"x": ref}, "expand_kind": "expand"})]})
    assert input_final(graph, {("make", -1): "success"}, "make")
    assert input_final(graph, {("make", -1): "failed"}, "make")  # it pushed nothing: an all_done reader gets no index
    assert not input_final(graph, {("make", -1): "running"}, "make")
    assert not input_final(graph, {("first", -1): "pending"}, "first")  # not expanded yet
    assert not input_final(graph, {("first", 0): "success", ("first", 1): "running"}, "first")
    # what the successful indexes pushed is the input; the trigger rule decided whether it is read
    assert input_final(graph, {("first", 0): "success", ("first", 1): "failed", ("first", 2): "skipped"}, "first")


def test_priority_weights_follow_the_weight_rule() -> None:
    graph = task_graph({"dag_id": "etl", "tasks": [
        task("a"), task("b", ("a",)), task("c", ("b",), weight_rule="absolute", priority_weight=7),
        task("d", ("a",), weight_rule="upstream")]})
    assert priority_weights(graph.tasks) == {"a": 1 + 1 + 7 + 1, "b": 1 + 7, "c": 7, "d": 2}
    assert graph.weights["a"] == 10


def test_a_priority_weight_of_zero_or_below_is_kept_as_airflow_keeps_it() -> None:
    """Before: 0 was read as missing and became 1 (a task rendered {{ ti.priority_weight }} as 0 in
    tasks render but queued with 1)."""
    graph = task_graph({"dag_id": "etl", "tasks": [task("a", weight_rule="absolute", priority_weight=0),
                                                   task("b", weight_rule="absolute", priority_weight=-3)]})
    assert graph.weights == {"a": 0, "b": -3}


def test_queueing_honours_pool_slots_dag_and_task_limits_and_executor_slots() -> None:
    cands = [Candidate(key(f"t{i}"), "p", pool_slots=2 if i == 0 else 1) for i in range(5)]
    room = Room(pool_free={"p": 3}, dag_free={}, task_free={}, slots=10)
    assert [c.key.task_id for c in choose_to_queue(cands, room)] == ["t0", "t1"]
    room = Room(pool_free={"p": -1}, dag_free={"etl": 2}, task_free={}, slots=10)
    assert len(choose_to_queue(cands, room)) == 2
    room = Room(pool_free={"p": -1}, dag_free={}, task_free={("etl", "t1"): 0}, slots=3)
    assert [c.key.task_id for c in choose_to_queue(cands, room)] == ["t0", "t2", "t3"]
    assert choose_to_queue(cands, Room(pool_free={}, dag_free={}, task_free={}, slots=10)) == []


def test_queueing_honours_max_active_tis_per_dagrun_in_each_run() -> None:
    cands = [Candidate(TaskInstanceKey("etl", run, "m", i), "p") for run in ("r1", "r2") for i in range(3)]
    room = Room(pool_free={"p": -1}, dag_free={}, task_free={}, slots=10,
                run_task_free={("etl", "r1", "m"): 1, ("etl", "r2", "m"): 2})
    assert [(c.key.run_id, c.key.map_index) for c in choose_to_queue(cands, room)] == [
        ("r1", 0), ("r2", 0), ("r2", 1)]


def test_a_dead_try_is_retried_while_tries_remain_then_failed() -> None:
    graph = task_graph({"dag_id": "etl", "tasks": [task("a", retries=1, retry_delay=10)]})
    spec = graph.tasks["a"]
    first = failed_try(key("a"), spec, try_number=1, max_tries=1, now=NOW)
    assert first.state is TaskInstanceState.UP_FOR_RETRY and first.next_retry_at == NOW + timedelta(seconds=10)
    assert failed_try(key("a"), spec, try_number=2, max_tries=1, now=NOW).state is TaskInstanceState.FAILED


def test_explain_names_the_trigger_rule_and_the_upstream_states() -> None:
    states = {("a", -1): "running", ("b", -1): "pending", ("c", -1): "pending"}
    reasons = explain(view(chain_dag(), states, dag_paused=True), "b", NOW)
    assert any("paused" in r for r in reasons)
    assert any("all_success" in r and "1 unfinished" in r for r in reasons)
    assert explain(view(chain_dag(), states), "a", NOW) == ["a is running"]


def test_explain_says_a_queued_manual_run_waits_for_its_future_logical_date() -> None:
    states = {("a", -1): "pending", ("b", -1): "pending", ("c", -1): "pending"}
    later = NOW + timedelta(hours=1)
    reasons = explain(view(chain_dag(), states, run_state="queued", starts_at=later), "a", NOW)
    assert reasons[:2] == ["the run is queued, not running",
                           f"its logical date {later.isoformat()} is in the future: a manual run starts then"]
    assert explain(view(chain_dag(), states, run_state="queued", starts_at=later), "a", later) == [
        "the run is queued, not running"]


def fan_in_dag(width: int) -> dict[str, Any]:
    return {"dag_id": "etl", "tasks": [task("start"), *[task(f"t{i}", ("start",)) for i in range(width)],
                                       task("end", tuple(f"t{i}" for i in range(width)))]}


def test_a_wide_fan_in_waits_for_its_last_upstream_then_runs() -> None:
    states = {("start", -1): "success", ("end", -1): "pending", **{(f"t{i}", -1): "success" for i in range(600)}}
    states[("t599", -1)] = "running"
    assert plan(view(fan_in_dag(600), states), NOW) == []
    states[("t599", -1)] = "success"
    assert plan(view(fan_in_dag(600), states), NOW) == [ScheduleTask(key("end"))]


def test_one_failed_upstream_of_a_wide_fan_in_fails_it_and_the_run() -> None:
    states = {("start", -1): "success", ("end", -1): "pending", **{(f"t{i}", -1): "success" for i in range(600)}}
    states[("t7", -1)] = "failed"
    assert plan(view(fan_in_dag(600), states), NOW) == [UpstreamFailTask(key("end")), FinishRun(DagRunState.FAILED)]


def test_states_given_as_enum_members_plan_like_strings() -> None:
    S = TaskInstanceState
    states = {("a", -1): S.SUCCESS, ("b", -1): S.PENDING, ("c", -1): S.PENDING}
    assert plan(view(chain_dag(), states), NOW) == [ScheduleTask(key("b"))]
