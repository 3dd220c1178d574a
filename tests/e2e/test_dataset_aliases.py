"""A real scheduler (local executor): a producer adds a dataset through an alias; a DAG scheduled on that
dataset and one scheduled on the alias both run, and their tasks read the event's extra (and the alias
it came through, ``source_aliases``) through inlet_events and triggering_dataset_events."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import DIALECTS, Deploy

PRODUCER = '''
from datetime import datetime, timezone
from flowctl import DAG
from flowctl.datasets import Dataset, DatasetAlias
from flowctl.operators.python import PythonOperator

def make(outlet_events, **_):
    outlet_events[DatasetAlias("orders")].add(Dataset("s3://lake/orders/2024"), extra={"rows": 7})

with DAG("producer", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), schedule=None,
         is_paused_upon_creation=False):
    PythonOperator(task_id="make", python_callable=make, retries=0, outlets=[DatasetAlias("orders")])
'''
CONSUMERS = '''
import os
from datetime import datetime, timezone
from flowctl import DAG
from flowctl.datasets import Dataset, DatasetAlias
from flowctl.operators.python import PythonOperator

DAY, ALIAS = Dataset("s3://lake/orders/2024"), DatasetAlias("orders")

def use(dag, dag_run, inlet_events, triggering_dataset_events, task, **_):
    inlet = inlet_events[task.inlets[0]]
    with open(os.path.join("{out}", "consumers.log"), "a") as out:
        for uri, events in triggering_dataset_events.items():
            for event in events:
                out.write(f"{dag.dag_id} {dag_run.run_type} {uri} {event.source_task_id} "
                          f"triggering_rows={event.extra['rows']} inlet_rows={inlet[-1].extra['rows']} "
                          f"inlet_count={len(inlet)} "
                          f"via={','.join(a.name for a in inlet[-1].source_aliases)}\\n")

for dag_id, schedule, inlet in (("on_dataset", [DAY], DAY), ("on_alias", [ALIAS], ALIAS)):
    with DAG(dag_id, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), schedule=schedule,
             is_paused_upon_creation=False):
        PythonOperator(task_id="use", python_callable=use, inlets=[inlet])
'''


@pytest.mark.parametrize("dialect", DIALECTS)
def test_an_alias_update_runs_the_dags_on_its_dataset_and_on_the_alias_which_read_its_extra(deploy: Deploy,
                                                                                            dialect: str) -> None:
    d = deploy(dialect)
    d.write_dag("producer.py", PRODUCER)
    d.write_dag("consumers.py", CONSUMERS)
    d.start_scheduler()
    for dag_id in ("producer", "on_dataset", "on_alias"):
        d.wait_for_dag(dag_id)
    assert d.store.dataset_alias_uris(["orders"]) == {}  # unresolved until the producer runs
    made = d.trigger("producer")
    assert d.wait_for_run("producer", made, timeout=30) == "success", d.task_states("producer", made)
    for dag_id in ("on_dataset", "on_alias"):
        runs = d.wait_for(lambda dag_id=dag_id: d.store.list_runs(dag_id), 30, f"the run of {dag_id}")
        assert [r.run_type for r in runs] == ["dataset_triggered"]
        assert d.wait_for_run(dag_id, runs[0].run_id, timeout=30) == "success", d.task_states(dag_id, runs[0].run_id)
    assert sorted(d.effects("consumers.log")) == [
        [dag_id, "dataset_triggered", "s3://lake/orders/2024", "make", "triggering_rows=7", "inlet_rows=7",
         "inlet_count=1", "via=orders"] for dag_id in ("on_alias", "on_dataset")]
    assert d.store.dataset_alias_uris(["orders"]) == {"orders": ["s3://lake/orders/2024"]}
    events, count = d.store.list_dataset_events(alias="orders")
    assert count == 1 and events[0].extra == {"rows": 7} and events[0].source_run_id == made
