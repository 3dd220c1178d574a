"""kill -9 of a worker and of the scheduler mid-run: every task ends final, no side effect twice."""
from __future__ import annotations

import os
import signal
from collections import Counter

import pytest

from tests.e2e import dags
from tests.e2e.conftest import DIALECTS, Deploy

FAST_ZOMBIES = {"scheduler__zombie_threshold_sec": "3", "scheduler__task_heartbeat_sec": "0.5",
                "scheduler__zombie_detection_interval": "1", "scheduler__scheduler_health_check_threshold": "3"}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_worker_killed_mid_task_is_retried_and_the_run_succeeds(deploy: Deploy, dialect: str) -> None:
    d = deploy(dialect, **FAST_ZOMBIES)
    d.write_dag("worker_crash.py", dags.WORKER_CRASH)
    d.start_scheduler()
    run_id = d.trigger("worker_crash")
    pids = d.out / "pids.log"
    first = d.wait_for(lambda: pids.exists() and pids.read_text().split(), 20, "the first try's pid")
    assert first[0] == "1"
    os.kill(int(first[1]), signal.SIGKILL)
    assert d.wait_for_run("worker_crash", run_id, timeout=25) == "success"
    assert d.task("worker_crash", run_id, "victim").try_number == 2
    assert sorted((line[1], line[2]) for line in d.effects()) == [("after", "1"), ("victim", "2")]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_scheduler_killed_mid_run_is_replaced_and_no_task_runs_twice(deploy: Deploy, dialect: str) -> None:
    d = deploy(dialect, **FAST_ZOMBIES)
    d.write_dag("crash_wide.py", dags.wide_dag("crash_wide", 40, seconds=0.3, retries=2))
    first = d.start_scheduler()
    run_id = d.trigger("crash_wide")
    d.wait_for(lambda: len(d.effects()) >= 6, 20, "some tasks to have run")
    first.kill9()
    d.start_scheduler()
    assert d.wait_for_run("crash_wide", run_id, timeout=30) == "success"
    states = d.task_states("crash_wide", run_id)
    assert set(states.values()) == {"success"} and len(states) == 42
    per_task = Counter(line[1] for line in d.effects())
    assert per_task == Counter({task: 1 for task in states}), "a task's side effect happened twice or never"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_running_task_whose_worker_and_scheduler_died_is_found_as_a_zombie_and_retried(
        deploy: Deploy, dialect: str) -> None:
    d = deploy(dialect, **FAST_ZOMBIES)
    d.write_dag("worker_crash.py", dags.WORKER_CRASH)
    first = d.start_scheduler()
    run_id = d.trigger("worker_crash")
    pids = d.out / "pids.log"
    worker = d.wait_for(lambda: pids.exists() and pids.read_text().split(), 20, "the first try's pid")
    first.kill9()  # no executor is left to report the crash: only the stale heartbeat tells
    os.kill(int(worker[1]), signal.SIGKILL)
    second = d.start_scheduler()
    assert d.wait_for_run("worker_crash", run_id, timeout=25) == "success"
    assert d.task("worker_crash", run_id, "victim").try_number == 2
    assert sorted((line[1], line[2]) for line in d.effects()) == [("after", "1"), ("victim", "2")]
    assert "zombie" in second.output().lower(), second.output()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_try_ending_when_its_worker_parent_dies_records_its_own_end_and_does_not_run_again(
        deploy: Deploy, dialect: str) -> None:
    d = deploy(dialect, **FAST_ZOMBIES)
    d.write_dag("zygote_dies.py", dags.ZYGOTE_DIES_AS_TRY_ENDS)
    d.start_scheduler()
    run_id = d.trigger("zygote_dies")
    assert d.wait_for_run("zygote_dies", run_id, timeout=25) == "success"
    assert d.task("zygote_dies", run_id, "ending").try_number == 1, "the try that had done its work ran again"
    assert [(line[1], line[2]) for line in d.effects()] == [("ending", "1")]
