"""A real scheduler (local executor) runs a dataset consumer once its producer's task succeeds; the extra
the producer set for the event reaches the consumer's task."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import DIALECTS, Deploy

PRODUCER = '''
from datetime import datetime, timezone
from flowctl import DAG
from flowctl.datasets import Dataset
from flowctl.operators.python import PythonOperator

def make(dag_run, outlet_events, **_):
    if dag_run.conf.get("fail"):
        raise RuntimeError("asked to fail")
    outlet_events[Dataset("s3://lake/orders")].extra = {"rows": 7}

with DAG("producer", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), schedule=None,
         is_paused_upon_creation=False):
    PythonOperator(task_id="make", python_callable=make, retries=0, outlets=[Dataset("s3://lake/orders")])
'''
CONSUMER = '''
import os
from datetime import datetime, timezone
from flowctl import DAG
from flowctl.datasets import Dataset
from flowctl.operators.python import PythonOperator

def use(dag_run, triggering_dataset_events, **_):
    with open(os.path.join("{out}", "consumer.log"), "a") as out:
        for uri, events in triggering_dataset_events.items():
            for event in events:
                out.write(f"{dag_run.run_type} {uri} {event.source_dag_id} {event.source_task_id} "
                          f"{event.source_run_id} rows={event.extra['rows']}\\n")

with DAG("consumer", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), schedule=[Dataset("s3://lake/orders")],
         is_paused_upon_creation=False):
    PythonOperator(task_id="use", python_callable=use)
'''


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_producers_success_runs_the_consumer_once_and_a_failure_triggers_nothing(deploy: Deploy,
                                                                                   dialect: str) -> None:
    d = deploy(dialect)
    d.write_dag("producer.py", PRODUCER)
    d.write_dag("consumer.py", CONSUMER)
    d.start_scheduler()
    d.wait_for_dag("consumer")
    failed = d.trigger("producer", "--conf", '{"fail": true}')
    assert d.wait_for_run("producer", failed, timeout=30) == "failed"
    assert d.store.list_dataset_events() == ([], 0)  # a failed try records no event ...
    assert d.store.list_runs("consumer") == []  # ... and so triggers nothing
    made = d.trigger("producer")
    assert d.wait_for_run("producer", made, timeout=30) == "success"
    runs = d.wait_for(lambda: d.store.list_runs("consumer"), 30, "the consumer's dataset-triggered run")
    assert [r.run_type for r in runs] == ["dataset_triggered"]
    run_id = runs[0].run_id
    assert d.wait_for_run("consumer", run_id, timeout=30) == "success", d.task_states("consumer", run_id)
    assert d.effects("consumer.log") == [["dataset_triggered", "s3://lake/orders", "producer", "make", made,
                                          "rows=7"]]
    assert [r.run_id for r in d.store.list_runs("consumer")] == [runs[0].run_id]  # the event was consumed once
    events, count = d.store.list_dataset_events()
    assert count == 1 and events[0].extra == {"rows": 7}
