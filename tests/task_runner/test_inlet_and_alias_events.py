"""A try adds datasets to its alias outlets (outlet_events[alias].add, Metadata(alias=)) and another reads
its inlets' events (inlet_events), in-process, under a pipe supervisor and through the task agent (SQLite
and PostgreSQL)."""
from __future__ import annotations

from typing import Any

from flowctl.task_runner import run_workload
from flowctl.task_runner.agent_client import AgentProcess
from tests.recording_store import CountingStore
from tests.task_runner.conftest import World, supervised_end
from tests.task_runner.test_agent import _settings_for

PRODUCER = '''
from datetime import datetime
from flowctl import DAG
from flowctl.datasets import Dataset, DatasetAlias
from flowctl.datasets.metadata import Metadata
from flowctl.operators.python import PythonOperator

ORDERS = DatasetAlias("orders")

def by_add(outlet_events, **_):
    outlet_events[ORDERS].add(Dataset("s3://lake/2024-01-01"), extra={"rows": 5})
    outlet_events[DatasetAlias("not-an-outlet")].add(Dataset("s3://lake/ignored"))

def by_metadata():
    yield Metadata(Dataset("s3://lake/2024-01-02"), {"rows": 6}, alias=ORDERS)

with DAG("producer", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="by_add", python_callable=by_add, outlets=[ORDERS])
    PythonOperator(task_id="by_metadata", python_callable=by_metadata, outlets=[ORDERS])
'''
READER = '''
from datetime import datetime
from flowctl import DAG
from flowctl.datasets import Dataset, DatasetAlias
from flowctl.decorators import task
from flowctl.operators.python import PythonOperator

DAY = Dataset("s3://lake/2024-01-01")

def read(inlet_events, **_):
    by_alias = inlet_events[DatasetAlias("orders")]
    return {"last": inlet_events[DAY][-1].extra, "count": len(inlet_events["s3://lake/2024-01-01"]),
            "alias": [e.uri for e in by_alias], "alias_last": by_alias[-1].extra, "first": inlet_events[0][0].uri}

def not_an_inlet(inlet_events, **_):
    return inlet_events[Dataset("s3://lake/elsewhere")][-1]

def untouched():
    return "ok"

with DAG("reader", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="read", python_callable=read, inlets=[DAY, DatasetAlias("orders")])
    PythonOperator(task_id="not_an_inlet", python_callable=not_an_inlet, inlets=[DAY])
    PythonOperator(task_id="untouched", python_callable=untouched, inlets=[DAY])

    @task(inlets=[DAY])
    def by_taskflow(inlet_events):  # a context key: not given at parse time
        return inlet_events[DAY][-1].extra

    by_taskflow()
'''


def _produce(world: World, store: Any = None) -> None:
    fileloc = world.write_dags("producer", PRODUCER)
    run = world.make_run("producer")
    for task_id in ("by_add", "by_metadata"):
        result = run_workload(world.queue(run, task_id, fileloc), world.settings, store or world.store)
        assert result.state == "success", result.error


def _read(world: World, task_id: str, store: Any = None, day: int = 0) -> Any:
    fileloc = world.write_dags("reader", READER)
    run = world.make_run("reader", day)
    return run_workload(world.queue(run, task_id, fileloc), world.settings, store or world.store)


def test_datasets_added_to_an_alias_are_recorded_with_their_extras_and_resolve_it(world: World) -> None:
    _produce(world)
    recorded = {(e.source_task_id, e.uri): e.extra for e in world.store.list_dataset_events()[0]}
    assert recorded == {("by_add", "s3://lake/2024-01-01"): {"rows": 5},
                        ("by_metadata", "s3://lake/2024-01-02"): {"rows": 6}}  # not the alias that is no outlet
    assert world.store.dataset_alias_uris(["orders", "not-an-outlet"]) == {
        "orders": ["s3://lake/2024-01-01", "s3://lake/2024-01-02"]}


def test_a_task_reads_its_inlets_events_by_dataset_uri_alias_and_index(world: World) -> None:
    _produce(world)
    result = _read(world, "read")
    assert result.state == "success", result.error
    assert result.return_value == {"last": {"rows": 5}, "count": 1, "alias": ["s3://lake/2024-01-01",
                                   "s3://lake/2024-01-02"], "alias_last": {"rows": 6}, "first": "s3://lake/2024-01-01"}
    assert _read(world, "by_taskflow", day=1).return_value == {"rows": 5}


def test_reading_a_dataset_that_is_not_an_inlet_fails_the_try_saying_so(world: World) -> None:
    result = _read(world, "not_an_inlet")
    assert result.state == "failed"
    assert "InletNotFound" in (result.error or "") and "not among the task's inlets" in (result.error or "")


def test_a_try_that_does_not_look_at_its_inlet_events_reads_none(world: World) -> None:
    counting = CountingStore(world.store)
    assert _read(world, "untouched", counting).state == "success"
    assert "list_dataset_events" not in counting.called
    assert "start_try" in counting.called  # the spy does see the try's calls


def test_a_forked_try_reads_inlet_events_and_adds_to_aliases_through_the_agent(world: World) -> None:
    """Both go through the task agent: a store of the try's own would import SQLAlchemy and connect."""
    agent = AgentProcess(_settings_for(world))
    try:
        _produce(world, agent.store)
        result = _read(world, "read", agent.store)
        assert result.state == "success", result.error
        assert result.return_value["alias_last"] == {"rows": 6}
        assert agent.store._own is None
    finally:
        agent.close()


def test_a_supervised_try_sends_the_datasets_it_added_with_its_end_as_json(world: World) -> None:
    fileloc = world.write_dags("producer", PRODUCER)
    workload = world.queue(world.make_run("producer"), "by_metadata", fileloc)
    result, end = supervised_end(world, workload)
    assert result.state == "success"
    assert end["alias_events"] == [{"uri": "s3://lake/2024-01-02", "extra": {"rows": 6}, "aliases": ["orders"]}]
    assert end["produces"] is False and "outlet_extra" not in end
