"""The run CLI against a running scheduler: backfill, clear and kill-runs, on both databases."""
from __future__ import annotations

import os
from collections import Counter
from datetime import datetime, timezone

import pytest

from tests.e2e import dags
from tests.e2e.conftest import DIALECTS, Deploy
from tests.e2e.harness import Deployment, wait_for

SOURCES = {"daily_chain.py": dags.DAILY_CHAIN, "chain.py": dags.CHAIN, "sleeper.py": dags.SLEEPER}


@pytest.fixture(scope="module", params=DIALECTS)
def d(request: pytest.FixtureRequest, deploy_module: Deploy) -> Deployment:
    deployment = deploy_module(request.param)
    for filename, source in SOURCES.items():
        deployment.write_dag(filename, source)
    deployment.start_scheduler()
    for dag_id in ("daily_chain", "chain", "sleeper"):
        deployment.wait_for_dag(dag_id)
    return deployment


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie child is not alive either
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_backfill_creates_one_run_per_day_that_the_running_scheduler_completes(d: Deployment) -> None:
    done = d.flowctl("dags", "backfill", "daily_chain", "-s", "2024-02-01", "-e", "2024-02-03", timeout=40)
    assert "3/3" in done.stdout
    runs = [r for r in d.store.list_runs("daily_chain") if r.run_type == "backfill"]
    assert sorted(r.logical_date.date().isoformat() for r in runs) == ["2024-02-01", "2024-02-02", "2024-02-03"]
    assert {r.state for r in runs} == {"success"}
    backfill_ids = {r.run_id for r in runs}
    ran = Counter((line[1], line[5]) for line in d.effects() if line[0] == "daily_chain" and line[5] in backfill_ids)
    assert ran == Counter({(task, run): 1 for task in "ab" for run in backfill_ids})


def test_clearing_a_task_and_its_downstream_reruns_them_as_a_second_try(d: Deployment) -> None:
    run_id = d.trigger("chain")
    assert d.wait_for_run("chain", run_id) == "success"
    d.flowctl("tasks", "clear", "chain", "-t", "^t2$", "--downstream", "--yes")
    d.wait_for(lambda: d.task("chain", run_id, "t4").try_number == 2 and d.run_state("chain", run_id) == "success",
               20, "the cleared tasks to run again and the run to succeed")
    tries = {task: d.task("chain", run_id, task).try_number for task in ("t0", "t1", "t2", "t3", "t4")}
    assert tries == {"t0": 1, "t1": 1, "t2": 2, "t3": 2, "t4": 2}
    ran = sorted((line[1], int(line[2])) for line in d.effects() if line[0] == "chain" and line[5] == run_id)
    assert ran == [("t0", 1), ("t1", 1), ("t2", 1), ("t2", 2), ("t3", 1), ("t3", 2), ("t4", 1), ("t4", 2)]


def test_kill_runs_fails_a_running_run_and_terminates_its_running_task(d: Deployment) -> None:
    run_id = d.trigger("sleeper")
    pid_file = d.out / "pid-first"
    pid = int(d.wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), 20, "the task's pid"))
    d.flowctl("dags", "kill-runs", "sleeper", "--yes")
    assert d.wait_for_run("sleeper", run_id, timeout=15) == "failed"
    wait_for(lambda: not pid_alive(pid), 15, f"the killed task's process {pid} to exit")
    states = d.task_states("sleeper", run_id)
    assert states["first"] not in {"running", "queued", "success"}
    assert states["second"] in {"skipped", "upstream_failed", "removed"}
    assert not [line for line in d.effects() if line[0] == "sleeper"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_try_marked_failed_is_terminated_by_the_scheduler_before_its_next_heartbeat(
        dialect: str, deploy: Deploy) -> None:
    d = deploy(dialect, scheduler__task_heartbeat_sec="60")  # the supervisor alone would take a minute
    d.write_dag("sleeper.py", dags.SLEEPER)
    d.start_scheduler()
    d.wait_for_dag("sleeper")
    run_id = d.trigger("sleeper")
    pid_file = d.out / "pid-first"
    pid = int(d.wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), 20, "the task's pid"))
    # as the web UI does it: the Store verb alone, no CLI wake-up
    d.store.mark_task_instances([d.task("sleeper", run_id, "first").key], "failed", datetime.now(timezone.utc))
    wait_for(lambda: not pid_alive(pid), 10, f"the stopped task's process {pid} to exit")
    assert d.task("sleeper", run_id, "first").state == "failed"
