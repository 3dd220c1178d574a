"""One real scheduler per database runs DAGs that exercise retries, timeouts, trigger rules,
branching, pools with priorities and depends_on_past; tests read states and side effects."""
from __future__ import annotations

import json
from datetime import timedelta, timezone
from typing import Any

import pytest

from flowctl.core.keys import RunKey
from flowctl.core.xcom_values import TYPE_KEY

from tests.e2e import dags
from tests.e2e.conftest import DIALECTS, Deploy
from tests.e2e.harness import Deployment

SOURCES = {"retries.py": dags.RETRIES, "timeout.py": dags.TIMEOUT, "trigger_rules.py": dags.TRIGGER_RULES,
           "branching.py": dags.BRANCHING, "pools.py": dags.POOLS, "depends_on_past.py": dags.DEPENDS_ON_PAST,
           "dates.py": dags.DATES, "repeated_mapping.py": dags.REPEATED_MAPPING,
           "xcomarg_transforms.py": dags.XCOMARG_TRANSFORMS, "mapped_group.py": dags.MAPPED_GROUP}


@pytest.fixture(scope="module", params=DIALECTS)
def d(request: pytest.FixtureRequest, deploy_module: Deploy) -> Deployment:
    deployment = deploy_module(request.param)
    for filename, source in SOURCES.items():
        deployment.write_dag(filename, source)
    deployment.flowctl("pools", "set", "single", "1", "one task at a time")
    deployment.start_scheduler()
    return deployment


def spans(d: Deployment, dag_id: str) -> list[tuple[str, str, float, float]]:
    """(task_id, run_id, start, end) of each slow_effect call of a DAG, by start time."""
    starts: dict[tuple[str, str], float] = {}
    result = []
    for dag, task, run, what, stamp in d.effects("spans.log"):
        if dag != dag_id:
            continue
        if what == "start":
            starts[(task, run)] = float(stamp)
        else:
            result.append((task, run, starts[(task, run)], float(stamp)))
    return sorted(result, key=lambda span: span[2])


def test_a_task_that_fails_twice_is_retried_with_exponential_backoff_and_succeeds(d: Deployment) -> None:
    run_id = d.trigger("retries")
    waits: dict[int, Any] = {}

    def finished_watching_retries() -> bool:
        ti = d.task("retries", run_id, "flaky")
        if ti.state == "up_for_retry" and ti.next_retry_at is not None:
            waits[ti.try_number] = (ti.end_date, ti.next_retry_at)
        return ti.state in {"success", "failed"}

    d.wait_for(finished_watching_retries, 25, "the flaky task to finish")
    ti = d.task("retries", run_id, "flaky")
    assert (ti.state, ti.try_number) == ("success", 3)
    assert d.wait_for_run("retries", run_id) == "success"
    tries = [(int(line[2]), float(line[4])) for line in d.effects() if line[0] == "retries"]
    assert [t for t, _ in tries] == [1, 2, 3]
    assert sorted(waits) == [1, 2], waits
    for try_number, low, high in ((1, 1.0, 2.0), (2, 2.0, 4.0)):  # delay in [base, 2*base)
        end, next_retry_at = waits[try_number]
        assert low - 0.01 <= (next_retry_at - end).total_seconds() < high + 0.01
        assert tries[try_number][1] >= next_retry_at.timestamp() - 0.01  # the next try waited for it


def test_execution_timeout_kills_a_task_and_fails_it_and_its_downstream(d: Deployment) -> None:
    run_id = d.trigger("timeout")
    assert d.wait_for_run("timeout", run_id, timeout=20) == "failed"
    assert d.task_states("timeout", run_id) == {"slow": "failed", "after": "upstream_failed"}
    slow = d.task("timeout", run_id, "slow")
    assert slow.duration is None or slow.duration < 10
    assert [line[0] for line in d.effects("timeout.log")] == ["started"]


def test_one_failed_and_all_done_tasks_run_after_a_failure_while_all_success_is_upstream_failed(
        d: Deployment) -> None:
    run_id = d.trigger("trigger_rules")
    assert d.wait_for_run("trigger_rules", run_id) == "failed"
    assert d.task_states("trigger_rules", run_id) == {
        "fails": "failed", "ok": "success", "normal": "upstream_failed", "alert": "success",
        "cleanup": "success"}
    ran = sorted(line[1] for line in d.effects() if line[0] == "trigger_rules")
    assert ran == ["alert", "cleanup", "fails", "ok"]


def test_a_branch_runs_the_chosen_path_skips_the_other_and_the_join_still_runs(d: Deployment) -> None:
    run_id = d.trigger("branching")
    assert d.wait_for_run("branching", run_id) == "success"
    assert d.task_states("branching", run_id) == {
        "choose": "success", "left": "success", "right": "skipped", "after_right": "skipped",
        "join": "success"}
    assert sorted(line[1] for line in d.effects() if line[0] == "branching") == ["join", "left"]


def test_a_one_slot_pool_runs_tasks_one_at_a_time_in_priority_order(d: Deployment) -> None:
    run_id = d.trigger("pools")
    assert d.wait_for_run("pools", run_id, timeout=25) == "success"
    ran = spans(d, "pools")
    assert [task for task, *_ in ran] == ["w5", "w4", "w3", "w2", "w1"]
    for (_, _, _, end), (_, _, start, _) in zip(ran, ran[1:]):
        assert start >= end, f"tasks of a one-slot pool overlapped: {ran}"


def test_depends_on_past_runs_each_days_task_after_the_previous_days_task(d: Deployment) -> None:
    def three_runs_done() -> bool:
        runs = d.store.list_runs("depends_on_past")
        return len(runs) == 3 and all(r.state == "success" for r in runs)

    d.wait_for(three_runs_done, 25, "3 successful depends_on_past runs")
    runs = sorted(d.store.list_runs("depends_on_past"), key=lambda r: r.logical_date)
    assert [r.logical_date.date().isoformat() for r in runs] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    ran = spans(d, "depends_on_past")
    assert [run for _, run, _, _ in ran] == [r.run_id for r in runs]
    for (_, _, _, end), (_, _, start, _) in zip(ran, ran[1:]):
        assert start >= end, f"a depends_on_past task started before the previous day's finished: {ran}"


def test_taskflow_tasks_pass_datetimes_dates_and_timedeltas_through_xcom_as_those_types(d: Deployment) -> None:
    run_id = d.trigger("dates")
    assert d.wait_for_run("dates", run_id) == "success", d.task_states("dates", run_id)
    start = d.store.get_run("dates", run_id).data_interval_start.astimezone(timezone.utc)
    day = start.date()
    assert sorted(" ".join(line) for line in d.effects("dates.log")) == sorted([
        f"first datetime {start.isoformat()}", "span timedelta 2", f"template str {start.isoformat()}",
        f"each date {day.isoformat()}", f"each date {(day + timedelta(days=1)).isoformat()}"])
    stored = d.store.xcom_pull(RunKey("dates", run_id), "interval_start")
    assert stored == {TYPE_KEY: "datetime", "value": start.isoformat()}  # the tagged JSON form in the row


def test_a_mapped_task_maps_over_a_mapped_tasks_values_as_in_airflows_repeated_mapping(d: Deployment) -> None:
    run_id = d.trigger("repeated_mapping")
    assert d.wait_for_run("repeated_mapping", run_id) == "success", d.task_states("repeated_mapping", run_id)
    assert sorted(" ".join(line) for line in d.effects("mapping.log")) == [
        "kwargs 3 {{ ds }}", "kwargs 5 {{ ds }}", "total 12 of 3"]
    indexes = [ti.map_index for ti in d.store.list_task_instances(RunKey("repeated_mapping", run_id))
               if ti.task_id == "record"]
    assert sorted(indexes) == [0, 1]  # odd_only[1] returned None: no index for it


def test_map_zip_and_concat_give_each_instance_its_element_and_the_map_callable_runs_only_in_its_worker(
        d: Deployment) -> None:
    run_id = d.trigger("xcomarg_transforms")
    final = d.wait_for_run("xcomarg_transforms", run_id)
    assert final == "success", d.task_states("xcomarg_transforms", run_id)
    lines = d.effects("transforms.log")
    received = sorted(" ".join(line[:2]) for line in lines if line[0] != "called")
    assert received == sorted([
        "map \"A!\"", "map \"B!\"", "map \"C!\"",
        'zip ["a",1]', 'zip ["b",2]', 'zip ["c",0]',
        "concat 1", "concat 2", 'concat ["x",1]', 'concat ["y",2]', 'concat "a"', 'concat "b"', 'concat "c"',
        "kwargs 10", "kwargs 20", "bash x=1", "bash y=2"])
    scheduler_pid = next(p.pid for p in d.processes if p.name == "scheduler")
    called = {line[1]: int(line[2]) for line in lines if line[0] == "called"}
    assert len([line for line in lines if line[0] == "called"]) == 3  # once per instance, none for "empty"
    map_pids = {json.loads(line[1]).lower()[0]: int(line[2]) for line in lines if line[0] == "map"}
    assert called == map_pids and scheduler_pid not in called.values()  # in each instance's own worker
    states = d.task_states("xcomarg_transforms", run_id)
    assert states["receive_empty"] == "skipped" and not any(k.startswith("receive_empty[") for k in states), states


def test_a_mapped_group_fails_one_index_alone_and_the_reduce_gets_the_other_indexes_values(d: Deployment) -> None:
    run_id = d.trigger("mapped_group")
    assert d.wait_for_run("mapped_group", run_id) == "success", d.task_states("mapped_group", run_id)
    states = d.task_states("mapped_group", run_id)
    assert {k: v for k, v in states.items() if k.startswith("per_number.")} == {
        "per_number.check[0]": "success", "per_number.check[1]": "failed", "per_number.check[2]": "success",
        "per_number.keep[0]": "success", "per_number.keep[1]": "upstream_failed",
        "per_number.keep[2]": "success"}, states
    assert states["collect"] == "success", states
    tries = {ti.map_index: ti.try_number for ti in d.store.list_task_instances(RunKey("mapped_group", run_id))
             if ti.task_id == "per_number.check"}
    assert tries == {0: 1, 1: 2, 2: 2}  # each index retried on its own
    lines = sorted(" ".join(line) for line in d.effects("group.log"))
    assert lines == sorted(["check 1 0 1", "check 2 1 1", "check 2 1 2", "check 3 2 1", "check 3 2 2",
                            "keep 1 10", "keep 3 30", "collect [11, 33]"]), lines

    (d.out / "fixed").write_text("")  # clearing the failed index alone runs it and its keep again, no other
    d.flowctl("tasks", "clear", "mapped_group", "-t", "per_number", "-f", "-i", run_id, "-y")
    d.wait_for(lambda: d.task_states("mapped_group", run_id)["per_number.keep[1]"] == "success", 20,
               "per_number.keep[1] to succeed after the clear")
    assert d.wait_for_run("mapped_group", run_id) == "success", d.task_states("mapped_group", run_id)
    again = sorted(" ".join(line) for line in d.effects("group.log"))
    added = list(again)
    for line in lines:
        added.remove(line)
    assert [line.split()[:3] for line in added] == [["check", "2", "1"], ["keep", "2", "20"]], again


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_dag_in_a_subfolder_imports_a_package_from_the_dags_folder_root(deploy: Deploy, dialect: str) -> None:
    """As in Airflow, the dags folder is on sys.path wherever DAG files are imported: in the
    DAG processor and in every try (the zygote's children), not only beside each file."""
    d = deploy(dialect)
    for folder in ("common", "sub"):
        (d.dags_folder / folder).mkdir()
    d.write_dag("common/__init__.py", "")
    d.write_dag("common/helpers.py", dags.HELPER)
    d.write_dag("sub/nested.py", dags.NESTED)
    d.start_scheduler()
    run_id = d.trigger("nested")
    assert d.wait_for_run("nested", run_id) == "success", d.task_states("nested", run_id)
    assert d.effects("nested.log") == [["hello", "from", "common.helpers"]]
