"""Waits on other DAGs in the triggerer, end to end: real ``flowctl scheduler`` and ``flowctl triggerer``
processes and one executor slot. The parent's deferrable TriggerDagRunOperator and deferrable
ExternalTaskSensor both wait on the child run the first one makes; the child's task can only run
in the one slot if neither of them holds it while it waits."""
from __future__ import annotations

import pytest

from flowctl.core.keys import TaskInstanceKey
from flowctl.task_runner.logs import log_path

from tests.e2e.conftest import DIALECTS, Deploy

PARENT = '''
from datetime import datetime, timezone
from flowctl import DAG
from flowctl.operators.trigger_dagrun import TriggerDagRunOperator
from flowctl.sensors.external_task import ExternalTaskSensor

with DAG("parent", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), schedule=None):
    ExternalTaskSensor(task_id="wait_child", external_dag_id="child", external_task_id="record",
                       failed_states=["failed"], deferrable=True, poll_interval=0.2, timeout=120)
    TriggerDagRunOperator(task_id="trigger", trigger_dag_id="child", trigger_run_id="from_{{ run_id }}",
                          logical_date="{{ logical_date }}", wait_for_completion=True, deferrable=True,
                          poke_interval=0.2)
'''
CHILD = '''
import time
from datetime import datetime, timezone
from flowctl import DAG
from flowctl.operators.python import PythonOperator

with DAG("child", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), schedule=None, is_paused_upon_creation=False):
    PythonOperator(task_id="record", python_callable=lambda: time.sleep(1))
'''


@pytest.mark.parametrize("dialect", DIALECTS)
def test_deferrable_waits_on_another_dag_hold_no_executor_slot_and_resume_when_it_is_done(
        deploy: Deploy, dialect: str) -> None:
    d = deploy(dialect, core__parallelism="1")
    d.write_dag("parent.py", PARENT)
    d.write_dag("child.py", CHILD)
    d.start_scheduler()
    d.spawn("triggerer", "triggerer")
    d.wait_for(lambda: d.flowctl("jobs", "check", "--job-type", "triggerer", check=False).returncode == 0,
               30, "the triggerer's heartbeat")
    d.wait_for_dag("child")
    run_id = d.trigger("parent")
    assert d.wait_for_run("parent", run_id, timeout=90) == "success", d.diagnostics()
    child_run = f"from_{run_id}"
    assert d.run_state("child", child_run) == "success"
    assert d.store.get_run("child", child_run).logical_date == d.store.get_run("parent", run_id).logical_date
    record = d.task("child", child_run, "record")
    for task_id in ("trigger", "wait_child"):
        waiter = d.task("parent", run_id, task_id)
        # It started (and deferred) before the only slot ran the child's task, and ended after it.
        assert waiter.start_date < record.start_date <= record.end_date <= waiter.end_date, task_id
        assert waiter.state == "success" and waiter.try_number == 1
        log = log_path(d.home / "logs", TaskInstanceKey("parent", run_id, task_id), 1).read_text()
        assert "Pausing task as DEFERRED" in log and "Resuming after deferral" in log, log
