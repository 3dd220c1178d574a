"""A mapped task over a mapped task's output gets one map index per value the upstream's indexes
pushed (Airflow's repeated mapping): a None return or a failed index adds none."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flowctl.core.dag import DAG
from flowctl.decorators import task
from tests.scheduler.helpers import T0, day, sync, tick_until_idle
from tests.scheduler.test_loop import make_scheduler, states, trigger


@task
def add_one(x: int) -> int:
    return x + 1


@task
def total(values: list[int]) -> int:
    return sum(values)


def repeated_dag(**second: Any) -> DAG:
    with DAG("repeated", start_date=T0 - day(1), schedule=None) as dag:
        first = add_one.expand(x=[1, 2, 3])
        total(add_one.override(**second).expand(x=first))
    return dag


def run_repeated(store: Any, tmp_path: Path, xcoms: dict[str, Any], failing: tuple[str, ...] = (),
                 **second: Any) -> tuple[list[str], dict[str, str]]:
    sync(store, repeated_dag(**second))
    scheduler, executor = make_scheduler(store, tmp_path)
    executor.xcoms.update(xcoms)
    executor.behaviour.update({label: "fail" for label in failing})
    run = trigger(store, "repeated")
    tick_until_idle(scheduler, T0)
    assert store.get_run("repeated", run.run_id).state in ("success", "failed"), states(store, run)
    return executor.ran, states(store, run)


def test_the_second_mapped_task_gets_one_index_per_value_of_the_first(store: Any, tmp_path: Path) -> None:
    ran, final = run_repeated(store, tmp_path, {"add_one[0]": 2, "add_one[1]": 3, "add_one[2]": 4})
    assert ran == ["add_one[0]", "add_one[1]", "add_one[2]", "add_one__1[0]", "add_one__1[1]", "add_one__1[2]",
                   "total"]
    assert set(final.values()) == {"success"}


def test_an_index_that_returned_none_gives_the_second_mapped_task_no_index(store: Any, tmp_path: Path) -> None:
    ran, final = run_repeated(store, tmp_path, {"add_one[0]": 2, "add_one[1]": None, "add_one[2]": 4})
    assert [label for label in ran if label.startswith("add_one__1")] == ["add_one__1[0]", "add_one__1[1]"]
    assert "add_one__1[2]" not in final and final["total"] == "success"


def test_with_all_done_the_second_mapped_task_maps_over_what_the_successful_indexes_pushed(
        store: Any, tmp_path: Path) -> None:
    ran, final = run_repeated(store, tmp_path, {"add_one": 5}, failing=("add_one[1]",), trigger_rule="all_done")
    assert final["add_one[1]"] == "failed"
    assert [label for label in ran if label.startswith("add_one__1")] == ["add_one__1[0]", "add_one__1[1]"]
    assert final["add_one__1[0]"] == final["add_one__1[1]"] == "success"


def test_with_all_success_a_failed_index_fails_the_second_mapped_task_upstream(store: Any, tmp_path: Path) -> None:
    ran, final = run_repeated(store, tmp_path, {"add_one": 5}, failing=("add_one[1]",))
    assert not [label for label in ran if label.startswith("add_one__1")]
    assert final["add_one__1"] == final["total"] == "upstream_failed"


@task
def make_list() -> list[int]:
    return [1, 2]


def test_with_all_done_a_failed_unmapped_upstream_fails_the_mapped_task_upstream_not_forever(
        store: Any, tmp_path: Path) -> None:
    """No task is stuck forever, and none passes for skipped: the list never came, so the mapped task
    cannot expand and ends upstream_failed, as Airflow's expansion does (a list that came empty skips it)."""
    with DAG("from_failed", start_date=T0 - day(1), schedule=None) as dag:
        add_one.override(trigger_rule="all_done").expand(x=make_list())
    sync(store, dag)
    scheduler, executor = make_scheduler(store, tmp_path)
    executor.behaviour["make_list"] = "fail"
    run = trigger(store, "from_failed")
    tick_until_idle(scheduler, T0)
    final = states(store, run)
    assert final["make_list"] == "failed" and final["add_one"] == "upstream_failed", final
    assert not [label for label in executor.ran if label.startswith("add_one")]
    assert store.get_run("from_failed", run.run_id).state == "failed"


def test_with_all_done_an_empty_list_from_the_upstream_skips_the_mapped_task(store: Any, tmp_path: Path) -> None:
    with DAG("from_empty", start_date=T0 - day(1), schedule=None) as dag:
        add_one.override(trigger_rule="all_done").expand(x=make_list())
    sync(store, dag)
    scheduler, executor = make_scheduler(store, tmp_path)
    executor.xcoms["make_list"] = []
    run = trigger(store, "from_empty")
    tick_until_idle(scheduler, T0)
    final = states(store, run)
    assert final["make_list"] == "success" and final["add_one"] == "skipped", final
    assert store.get_run("from_empty", run.run_id).state == "success"
