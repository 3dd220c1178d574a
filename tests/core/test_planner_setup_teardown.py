"""The planner with setup and teardown tasks: the teardown's rule and the run's final state."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.core.planner import (
    FinishRun, RunView, ScheduleTask, SkipTask, UpstreamFailTask, explain, plan, task_graph,
)
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


# --- the setup constraint: a task inside a setup's scope runs only once that setup succeeded ----------

def scoped_dag(rule: str, *, teardown: bool = True, after: bool = False) -> dict[str, Any]:
    """create (setup) >> a >> b (``rule``) >> delete (teardown of create); with ``after``, delete >> after
    (all_done, outside the scope); without ``teardown`` the setup has none (then it holds all below it)."""
    tasks = [task("create", is_setup=True), task("a", ("create",)), task("b", ("a",), trigger_rule=rule)]
    if teardown:
        tasks.append(task("delete", ("create", "b"), is_teardown=True, trigger_rule=TEARDOWN))
    if after:
        tasks.append(task("after", ("delete",), trigger_rule="all_done"))
    return {"dag_id": "etl", "tasks": tasks}


def test_ordinary_all_success_rules_already_fail_every_task_below_a_failed_setup() -> None:
    dag = scoped_dag("all_success")
    now_states = {("create", -1): "failed", ("a", -1): "pending", ("b", -1): "pending", ("delete", -1): "pending"}
    assert run_plan(dag, now_states) == [UpstreamFailTask(key("a")), UpstreamFailTask(key("b")),
                                         UpstreamFailTask(key("delete")), FinishRun(DagRunState.FAILED)]


def test_an_all_done_task_in_the_scope_of_a_failed_setup_is_upstream_failed_not_run() -> None:
    now_states = {("create", -1): "failed", ("a", -1): "upstream_failed", ("b", -1): "pending",
                  ("delete", -1): "pending"}
    assert run_plan(scoped_dag("all_done"), now_states) == [
        UpstreamFailTask(key("b")), UpstreamFailTask(key("delete")), FinishRun(DagRunState.FAILED)]


def test_a_task_in_the_scope_of_a_skipped_setup_is_skipped_whatever_its_rule() -> None:
    for rule in ("all_done", "none_failed", "one_done"):
        now_states = {("create", -1): "skipped", ("a", -1): "skipped", ("b", -1): "pending",
                      ("delete", -1): "pending"}
        assert run_plan(scoped_dag(rule), now_states)[0] == SkipTask(key("b")), rule


def test_an_always_task_runs_whatever_the_setup_of_its_scope_did_as_in_airflow() -> None:
    now_states = {("create", -1): "failed", ("a", -1): "upstream_failed", ("b", -1): "pending",
                  ("delete", -1): "pending"}
    assert run_plan(scoped_dag("always"), now_states)[0] == ScheduleTask(key("b"))


def test_a_one_success_task_waits_for_the_setup_of_its_scope_even_when_another_upstream_succeeded() -> None:
    dag = scoped_dag("one_success")
    dag["tasks"].append(task("other"))
    dag["tasks"][2]["upstream_task_ids"].append("other")
    now_states = {("create", -1): "running", ("a", -1): "pending", ("other", -1): "success",
                  ("b", -1): "pending", ("delete", -1): "pending"}
    assert run_plan(dag, now_states) == []
    now_states.update({("create", -1): "success", ("a", -1): "failed"})
    assert run_plan(dag, now_states) == [ScheduleTask(key("b"))]


def test_a_task_after_the_teardown_is_outside_the_scope() -> None:
    now_states = {("create", -1): "failed", ("a", -1): "upstream_failed", ("b", -1): "upstream_failed",
                  ("delete", -1): "upstream_failed", ("after", -1): "pending"}
    assert run_plan(scoped_dag("all_success", after=True), now_states) == [ScheduleTask(key("after"))]


def test_a_setup_without_a_teardown_holds_every_task_below_it() -> None:
    now_states = {("create", -1): "failed", ("a", -1): "upstream_failed", ("b", -1): "pending"}
    assert run_plan(scoped_dag("all_done", teardown=False), now_states) == [
        UpstreamFailTask(key("b")), FinishRun(DagRunState.FAILED)]


def test_the_graph_names_the_indirect_setups_whose_scope_each_task_is_in() -> None:
    graph = task_graph(scoped_dag("all_done", after=True))
    assert graph.tasks["b"].scope_setups == {"create"}
    assert graph.tasks["a"].scope_setups == frozenset()  # a direct setup is its trigger rule's business
    assert graph.tasks["delete"].scope_setups == frozenset()  # a teardown looks at its setups its own way
    assert graph.tasks["after"].scope_setups == frozenset()


def test_explain_names_the_setup_that_holds_a_task_of_its_scope() -> None:
    now_states = {("create", -1): "running", ("a", -1): "pending", ("b", -1): "pending", ("delete", -1): "pending"}
    reasons = explain(RunView(key=RUN, graph=task_graph(scoped_dag("all_done")), states=now_states), "b", NOW)
    assert "b: waits for setup task 'create' (running): it runs only once the setups of its scope succeeded" \
        in reasons


def test_explain_says_a_teardown_waits_for_its_setups() -> None:
    reasons = explain(RunView(key=RUN, graph=task_graph(cluster_dag()),
                              states=states("running", "pending", "pending")), "delete", NOW)
    assert "delete: teardown of setup task 'create' (running): it runs once its upstream tasks are done " \
           "if one of its setups succeeded" in reasons


def test_explain_says_a_failed_setup_keeps_its_teardown_from_running() -> None:
    reasons = explain(RunView(key=RUN, graph=task_graph(cluster_dag()),
                              states=states("failed", "upstream_failed", "pending")), "delete", NOW)
    assert any(r.startswith("delete: teardown of setup task 'create' (failed)") for r in reasons)


# --- a run a person marked success or failed: only its teardowns still move ---------------------------

def marked_plan(run_state: str, now_states: dict[tuple[str, int], str]) -> list[Any]:
    return plan(RunView(key=RUN, graph=task_graph(cluster_dag()), states=now_states, run_state=run_state), NOW)


def test_in_a_run_marked_failed_the_teardown_is_scheduled_and_the_run_is_not_finished_again() -> None:
    assert marked_plan("failed", states("success", "failed", "pending")) == [ScheduleTask(key("delete"))]
    assert marked_plan("success", states("success", "success", "pending")) == [ScheduleTask(key("delete"))]


def test_in_a_run_marked_failed_a_teardown_whose_setup_failed_is_upstream_failed() -> None:
    assert marked_plan("failed", states("failed", "skipped", "pending")) == [UpstreamFailTask(key("delete"))]


def test_in_a_finished_run_nothing_but_teardowns_is_decided() -> None:
    assert marked_plan("failed", states("success", "pending", "running")) == []
    assert marked_plan("success", states("success", "success", "success")) == []


def test_explain_does_not_blame_the_run_state_for_a_teardown_of_a_marked_run() -> None:
    now = states("success", "failed", "scheduled")
    reasons = explain(RunView(key=RUN, graph=task_graph(cluster_dag()), states=now, run_state="failed"),
                      "delete", NOW)
    assert reasons == ["delete is scheduled, waiting for a free slot"]
    work = explain(RunView(key=RUN, graph=task_graph(cluster_dag()), states=now, run_state="failed"), "work", NOW)
    assert "the run is failed, not running" in work


def test_explain_has_nothing_against_a_teardown_that_may_run() -> None:
    reasons = explain(RunView(key=RUN, graph=task_graph(cluster_dag()),
                              states=states("success", "failed", "pending")), "delete", NOW)
    assert reasons == []
