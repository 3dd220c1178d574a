"""A real scheduler with the local executor runs a TriggerDagRunOperator that waits for the run it made."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import DIALECTS, Deploy

PARENT = '''
from datetime import datetime, timezone
from flowctl import DAG
from flowctl.operators.trigger_dagrun import TriggerDagRunOperator

with DAG("parent", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), schedule=None):
    TriggerDagRunOperator(task_id="trigger", trigger_dag_id="child", trigger_run_id="from_{{ run_id }}",
                          conf={"who": "{{ dag.dag_id }}"}, wait_for_completion=True, poke_interval=0.2)
'''
CHILD = '''
import os
from datetime import datetime, timezone
from flowctl import DAG
from flowctl.operators.python import PythonOperator

def record(dag_run, **_):
    with open(os.path.join("{out}", "child.log"), "a") as out:
        out.write(f"{dag_run.run_id} {dag_run.conf['who']}\\n")

with DAG("child", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), schedule=None, is_paused_upon_creation=False):
    PythonOperator(task_id="record", python_callable=record)
'''


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_trigger_task_starts_the_other_dag_and_succeeds_once_that_run_has(deploy: Deploy, dialect: str) -> None:
    d = deploy(dialect)
    d.write_dag("parent.py", PARENT)
    d.write_dag("child.py", CHILD)
    d.start_scheduler()
    d.wait_for_dag("child")
    run_id = d.trigger("parent")
    assert d.wait_for_run("parent", run_id, timeout=30) == "success", d.task_states("parent", run_id)
    assert d.run_state("child", f"from_{run_id}") == "success"
    assert d.effects("child.log") == [[f"from_{run_id}", "parent"]]
