"""A person marks a run failed or success mid-run: the scheduler (tick(now), SQLite and PostgreSQL) still
runs the teardowns whose setups ran, and the run keeps the state the person chose."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flowctl.core.dag import DAG
from flowctl.core.keys import TaskInstanceKey
from flowctl.operators.empty import EmptyOperator
from flowctl.scheduler import Scheduler
from tests.scheduler.helpers import T0, InlineExecutor, day, settings, sync, tick_until_idle
from tests.scheduler.test_loop import states, trigger


def cluster_dag() -> DAG:
    """create (setup) >> work >> more >> delete (teardown of create) >> report."""
    with DAG("cluster", start_date=T0 - day(30), schedule=None) as dag:
        create, work, more = EmptyOperator(task_id="create"), EmptyOperator(task_id="work"), EmptyOperator(task_id="more")
        delete = EmptyOperator(task_id="delete", retries=1, retry_delay=timedelta(seconds=10))
        report = EmptyOperator(task_id="report", trigger_rule="all_done")
        create >> work >> more >> delete.as_teardown(setups=create) >> report
    return dag


def started(store: Any, tmp_path: Path, hang: str) -> tuple[Scheduler, InlineExecutor, Any]:
    sync(store, cluster_dag())
    executor = InlineExecutor(store)
    executor.behaviour[hang] = "hang"
    scheduler = Scheduler(settings(tmp_path), store, executor)
    scheduler.start(T0)
    run = trigger(store, "cluster")
    tick_until_idle(scheduler, T0)
    assert store.get_task_instance(TaskInstanceKey("cluster", run.run_id, hang)).state == "running"
    return scheduler, executor, run


@pytest.mark.parametrize("chosen", ["failed", "success"])
def test_the_teardown_runs_after_a_run_is_marked_mid_run_and_the_run_keeps_the_chosen_state(
        store: Any, tmp_path: Path, chosen: str) -> None:
    scheduler, executor, run = started(store, tmp_path, hang="work")
    store.mark_run(run, chosen, T0)
    assert store.get_run("cluster", run.run_id).state == chosen
    tick_until_idle(scheduler, T0)
    assert executor.ran == ["create", "work", "delete"]
    assert TaskInstanceKey("cluster", run.run_id, "work") in executor.terminated
    work = "failed" if chosen == "failed" else "success"
    after = "skipped" if chosen == "failed" else "success"
    assert states(store, run) == {"create": "success", "work": work, "more": after, "delete": "success",
                                  "report": after}
    assert store.get_run("cluster", run.run_id).state == chosen


def test_marking_a_run_failed_while_its_setup_runs_does_not_run_the_teardown(store: Any, tmp_path: Path) -> None:
    scheduler, executor, run = started(store, tmp_path, hang="create")
    store.mark_run(run, "failed", T0)
    tick_until_idle(scheduler, T0)
    assert executor.ran == ["create"]
    assert states(store, run)["delete"] == "upstream_failed"  # its setup failed, as in Airflow
    assert store.get_run("cluster", run.run_id).state == "failed"


def test_a_failing_teardown_of_a_marked_run_is_retried_and_the_run_stays_as_chosen(store: Any, tmp_path: Path) -> None:
    scheduler, executor, run = started(store, tmp_path, hang="work")
    store.mark_run(run, "success", T0)
    executor.behaviour["delete"] = "fail"
    tick_until_idle(scheduler, T0)
    assert states(store, run)["delete"] == "up_for_retry"
    executor.now = later = T0 + timedelta(seconds=30)
    tick_until_idle(scheduler, later)
    assert executor.ran == ["create", "work", "delete", "delete"]
    assert states(store, run)["delete"] == "failed"
    assert store.get_run("cluster", run.run_id).state == "success"
