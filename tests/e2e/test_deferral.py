"""Deferrable sensors end to end: real ``flowctl scheduler`` and ``flowctl triggerer`` processes,
one executor slot. A TimeDeltaSensorAsync and a deferrable FileSensor defer; while they wait,
the one slot runs the task that makes the FileSensor's file; the run succeeds."""
from __future__ import annotations

import pytest

from flowctl.core.keys import TaskInstanceKey
from flowctl.task_runner.logs import log_path

from tests.e2e.conftest import DIALECTS, Deploy

DEFERRING = '''
from datetime import datetime, timedelta
from pathlib import Path
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator
from flowctl.operators.python import PythonOperator
from flowctl.sensors.filesystem import FileSensor
from flowctl.sensors.time_delta import TimeDeltaSensorAsync

def make_flag():
    Path("{out}").mkdir(parents=True, exist_ok=True)
    Path("{out}/flag").write_text("here")

with DAG("deferring", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    wait_time = TimeDeltaSensorAsync(task_id="wait_time", delta=timedelta(seconds=2), priority_weight=10)
    wait_file = FileSensor(task_id="wait_file", filepath="{out}/flag", deferrable=True, poke_interval=0.2,
                           timeout=120, priority_weight=10)
    work = PythonOperator(task_id="work", python_callable=make_flag)
    [wait_time, wait_file, work] >> EmptyOperator(task_id="done")
'''


@pytest.mark.parametrize("dialect", DIALECTS)
def test_deferred_sensors_hold_no_executor_slot_and_their_run_succeeds(deploy: Deploy, dialect: str) -> None:
    d = deploy(dialect, core__parallelism="1")
    d.write_dag("deferring.py", DEFERRING)
    d.start_scheduler()
    d.spawn("triggerer", "triggerer")
    d.wait_for(lambda: d.flowctl("jobs", "check", "--job-type", "triggerer", check=False).returncode == 0,
               30, "the triggerer's heartbeat")
    run_id = d.trigger("deferring")
    assert d.wait_for_run("deferring", run_id, timeout=90) == "success", d.diagnostics()
    assert set(d.task_states("deferring", run_id).values()) == {"success"}
    wait_file, work = d.task("deferring", run_id, "wait_file"), d.task("deferring", run_id, "work")
    # The sensor started (and deferred) before the only slot ran the task that made its file.
    assert wait_file.start_date < work.start_date <= work.end_date <= wait_file.end_date
    assert wait_file.try_number == 1 and d.task("deferring", run_id, "wait_time").try_number == 1
    log = log_path(d.home / "logs", TaskInstanceKey("deferring", run_id, "wait_file"), 1).read_text()
    assert "Pausing task as DEFERRED" in log and "Resuming after deferral" in log
    # The triggerer wrote its trigger's lines into the same try's log, between the deferral and the resumed run.
    lines = log.splitlines()
    order = [next(i for i, line in enumerate(lines) if text in line and line.startswith(start)) for start, text in (
        ("[", "Pausing task as DEFERRED"), ("[triggerer] ", "starting on"),
        ("[triggerer] ", "{flowctl.triggers.file.FileTrigger} INFO - found"),
        ("[triggerer] ", "fired: TriggerEvent<True>"), ("[", "Resuming after deferral"))]
    assert order == sorted(order), log
