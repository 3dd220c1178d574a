"""The planner with setup and teardown tasks: the teardown's rule and the run's final state."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.core.planner import FinishRun, RunView, ScheduleTask, SkipTask, UpstreamFailTask, plan, task_graph
from flowctl.core.states import DagRunState

NOW = datetime(2024, 1, 1, 12, tzinfo=timezone.utc)
RUN = RunKey("etl", "run1")
TEARDOWN = "all_done_setup_success"


def task(task_id: str, upstream: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    return {"task_id": task_id, "upstream_task_ids": list(upstream), **extra}


def cluster_dag(**teardown: Any) -> dict[str, Any]:
    """create (setup) >> work >> delete (teardown of create)."""
    return {"dag_id": "etl", "tasks": [
        task("create", is_setup=True), task("work", ("create",)),
        task("delete", ("create", "work"), is_teardown=True, trigger_rule=TEARDOWN, **teardown)]}


def states(create: str, work: str, delete: str) -> dict[tuple[str, int], str]:
    return {("create", -1): create, ("work", -1): work, ("delete", -1): delete}


def run_plan(dag: dict[str, Any], now_states: dict[tuple[str, int], str]) -> list[Any]:
    return plan(RunView(key=RUN, graph=task_graph(dag), states=now_states, start_date=NOW), NOW)


def key(task_id: str) -> TaskInstanceKey:
    return TaskInstanceKey("etl", "run1", task_id, -1)


def test_the_teardown_is_scheduled_after_the_work_failed_and_the_run_waits_for_it() -> None:
    assert run_plan(cluster_dag(), states("success", "failed", "pending")) == [ScheduleTask(key("delete"))]


def test_a_failed_work_task_fails_the_run_even_though_its_teardown_succeeded() -> None:
    assert run_plan(cluster_dag(), states("success", "failed", "success")) == [FinishRun(DagRunState.FAILED)]


def test_a_failed_teardown_does_not_fail_the_run() -> None:
    assert run_plan(cluster_dag(), states("success", "success", "failed")) == [FinishRun(DagRunState.SUCCESS)]


def test_a_failed_teardown_fails_the_run_when_it_says_on_failure_fail_dagrun() -> None:
    dag = cluster_dag(on_failure_fail_dagrun=True)
    assert run_plan(dag, states("success", "success", "failed")) == [FinishRun(DagRunState.FAILED)]
    assert run_plan(dag, states("success", "success", "success")) == [FinishRun(DagRunState.SUCCESS)]


def test_a_failed_setup_fails_the_work_and_the_teardown_upstream_and_the_run() -> None:
    assert run_plan(cluster_dag(), states("failed", "pending", "pending")) == [
        UpstreamFailTask(key("work")), UpstreamFailTask(key("delete")), FinishRun(DagRunState.FAILED)]


def test_a_skipped_setup_skips_the_work_and_the_teardown() -> None:
    assert run_plan(cluster_dag(), states("skipped", "pending", "pending")) == [
        SkipTask(key("work")), SkipTask(key("delete")), FinishRun(DagRunState.SUCCESS)]


def test_the_teardown_waits_for_the_work_after_the_setup_succeeded() -> None:
    assert run_plan(cluster_dag(), states("success", "running", "pending")) == []


def test_work_after_a_teardown_still_decides_the_run() -> None:
    dag = cluster_dag()
    dag["tasks"].append(task("report", ("delete",), trigger_rule="all_done"))
    assert task_graph(dag).leaves == {"work", "report"}  # work: only a teardown follows it
    both = {**states("success", "success", "failed"), ("report", -1): "failed"}
    assert run_plan(dag, both) == [FinishRun(DagRunState.FAILED)]


def test_a_dag_of_teardowns_only_is_decided_by_its_plain_leaves() -> None:
    dag = {"dag_id": "etl", "tasks": [task("delete", is_teardown=True, trigger_rule=TEARDOWN)]}
    assert task_graph(dag).leaves == {"delete"}
    assert run_plan(dag, {("delete", -1): "failed"}) == [FinishRun(DagRunState.FAILED)]


def test_the_graph_names_each_tasks_upstream_setups() -> None:
    graph = task_graph(cluster_dag())
    assert graph.tasks["delete"].setups == {"create"}
    assert graph.tasks["work"].setups == {"create"}
    assert graph.tasks["create"].setups == frozenset()
    assert graph.leaves == {"work"}


def test_in_a_mapped_task_group_each_teardown_index_looks_at_its_own_setup_index() -> None:
    group = {"expand": {"x": {"__type": "xcomarg", "__var": {"task_id": "make", "key": "return_value"}}},
             "expand_kind": "expand", "mapped_group_id": "g"}
    dag = {"dag_id": "etl", "tasks": [
        task("make"), task("g.create", ("make",), is_mapped=True, mapping=group, is_setup=True),
        task("g.work", ("g.create",), is_mapped=True, mapping=group),
        task("g.delete", ("g.create", "g.work"), is_mapped=True, mapping=group, is_teardown=True,
             trigger_rule=TEARDOWN)]}
    now_states = {("make", -1): "success", ("g.create", 0): "success", ("g.create", 1): "failed",
                  ("g.work", 0): "failed", ("g.work", 1): "upstream_failed",
                  ("g.delete", 0): "pending", ("g.delete", 1): "pending"}
    assert run_plan(dag, now_states) == [ScheduleTask(TaskInstanceKey("etl", "run1", "g.delete", 0)),
                                         UpstreamFailTask(TaskInstanceKey("etl", "run1", "g.delete", 1))]
