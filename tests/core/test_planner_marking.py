"""What marking a whole run success or failed does to its task instances, teardowns left to clean up."""
from __future__ import annotations

from typing import Any

from flowctl.core.planner import RunMark, run_mark, task_graph
from flowctl.core.states import DagRunState, TaskInstanceState

S = TaskInstanceState
TEARDOWN = "all_done_setup_success"


def task(task_id: str, upstream: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    return {"task_id": task_id, "upstream_task_ids": list(upstream), **extra}


#: create (setup) >> work >> delete (its teardown) >> report; lone_delete, a teardown without setups.
GRAPH = task_graph({"dag_id": "etl", "tasks": [
    task("create", is_setup=True), task("work", ("create",)),
    task("delete", ("create", "work"), is_teardown=True, trigger_rule=TEARDOWN),
    task("report", ("delete",), trigger_rule="all_done"),
    task("lone_delete", ("work",), is_teardown=True, trigger_rule=TEARDOWN)]})


def mark(chosen: DagRunState, **now: str) -> RunMark:
    states = {("create", -1): "pending", ("work", -1): "pending", ("delete", -1): "pending",
              ("report", -1): "pending", ("lone_delete", -1): "pending"}
    states.update({(task_id, -1): state for task_id, state in now.items()})
    return run_mark(GRAPH, states, chosen)


def test_marking_failed_mid_run_stops_the_work_and_leaves_the_teardowns_of_a_setup_that_ran() -> None:
    result = mark(DagRunState.FAILED, create="success", work="running")
    assert result.changes == {("work", -1): S.FAILED, ("report", -1): S.SKIPPED}
    assert result.teardowns_left == {("delete", -1), ("lone_delete", -1)}


def test_marking_failed_before_the_setup_ran_skips_its_teardown() -> None:
    result = mark(DagRunState.FAILED, create="queued")
    assert result.changes == {("create", -1): S.FAILED, ("work", -1): S.SKIPPED, ("report", -1): S.SKIPPED,
                              ("delete", -1): S.SKIPPED}
    assert result.teardowns_left == {("lone_delete", -1)}  # no setup to wait for: it runs, as in Airflow


def test_marking_failed_while_the_setup_runs_fails_it_and_leaves_its_teardown_to_the_trigger_rule() -> None:
    result = mark(DagRunState.FAILED, create="running")
    assert result.changes[("create", -1)] is S.FAILED
    assert ("delete", -1) in result.teardowns_left  # the scheduler then sets it upstream_failed, as Airflow does


def test_marking_success_marks_the_work_success_and_leaves_the_teardown_of_a_setup_that_ran() -> None:
    result = mark(DagRunState.SUCCESS, create="success", work="running")
    assert result.changes == {("work", -1): S.SUCCESS, ("report", -1): S.SUCCESS}
    assert result.teardowns_left == {("delete", -1), ("lone_delete", -1)}


def test_marking_success_before_the_setup_ran_marks_it_success_but_skips_its_teardown() -> None:
    result = mark(DagRunState.SUCCESS)
    assert result.changes == {("create", -1): S.SUCCESS, ("work", -1): S.SUCCESS, ("report", -1): S.SUCCESS,
                              ("delete", -1): S.SKIPPED}


def test_a_running_or_finished_teardown_is_left_as_it_is() -> None:
    for chosen in (DagRunState.FAILED, DagRunState.SUCCESS):
        result = mark(chosen, create="success", work="failed", delete="running", lone_delete="failed")
        assert ("delete", -1) not in result.changes and ("lone_delete", -1) not in result.changes
        assert result.teardowns_left == {("delete", -1)}


def test_marking_failed_leaves_finished_tasks_alone_and_marking_success_marks_them_success() -> None:
    failed = mark(DagRunState.FAILED, create="success", work="failed", report="upstream_failed")
    assert failed.changes == {}
    success = mark(DagRunState.SUCCESS, create="success", work="failed", report="upstream_failed")
    assert success.changes == {("work", -1): S.SUCCESS, ("report", -1): S.SUCCESS}


def test_without_a_task_graph_every_task_is_treated_as_work() -> None:
    result = run_mark(None, {("delete", -1): "pending", ("work", -1): "running"}, DagRunState.FAILED)
    assert result.changes == {("delete", -1): S.SKIPPED, ("work", -1): S.FAILED}
    assert result.teardowns_left == frozenset()
