"""A producer's try sets its dataset events' extra (outlet_events, Metadata); the consumer's run sees it
(run_workload on SQLite and PostgreSQL, unsupervised and under a pipe supervisor as the zygote's)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.datasets import Dataset
from flowctl.task_runner import run_workload
from flowctl.task_runner.pipes import decode_fields
from tests.task_runner.conftest import World, supervised_end

PRODUCER = '''
import json
from datetime import datetime
from flowctl import DAG
from flowctl.datasets import Dataset
from flowctl.datasets.metadata import Metadata
from flowctl.decorators import task
from flowctl.operators.python import PythonOperator

ORDERS, USERS, LOG = Dataset("s3://lake/orders"), Dataset("s3://lake/users"), Dataset("s3://lake/log")

def by_context(outlet_events, **_):
    outlet_events[ORDERS].extra = {"rows": 10, "note": "<b>bold</b>"}
    outlet_events["s3://lake/users"].extra["rows"] = 2

def by_metadata():
    yield Metadata(ORDERS, {"rows": 11})
    yield "ignored"
    return "done"

def not_json(outlet_events, **_):
    outlet_events[ORDERS].extra = {"when": datetime(2024, 1, 1)}

with DAG("producer", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="by_context", python_callable=by_context, outlets=[ORDERS, USERS, LOG])
    PythonOperator(task_id="by_metadata", python_callable=by_metadata, outlets=[ORDERS])
    PythonOperator(task_id="not_json", python_callable=not_json, outlets=[ORDERS])

    @task(outlets=[ORDERS])
    def by_taskflow(outlet_events):  # a context key: not given at parse time
        outlet_events[ORDERS].extra = {"rows": 12}

    by_taskflow()
'''
CONSUMER = '''
from datetime import datetime
from flowctl import DAG
from flowctl.datasets import Dataset
from flowctl.operators.python import PythonOperator

def seen(triggering_dataset_events):
    return {uri: [[e.source_task_id, e.extra] for e in events] for uri, events in triggering_dataset_events.items()}

with DAG("consumer", start_date=datetime(2024, 1, 1), schedule=[Dataset("s3://lake/orders")]) as dag:
    PythonOperator(task_id="seen", python_callable=seen)
'''


def _producer_run(world: World) -> tuple[str, Any]:
    world.write_dags("consumer", CONSUMER)
    fileloc = world.write_dags("producer", PRODUCER)
    return fileloc, world.make_run("producer")


def _extras(world: World) -> dict[tuple[str, str], Any]:
    """(task id, dataset URI) -> the stored event's extra."""
    return {(e.source_task_id, e.uri): e.extra for e in world.store.list_dataset_events()[0]}


def test_extras_set_through_outlet_events_metadata_and_a_taskflow_argument_are_stored(world: World) -> None:
    fileloc, run = _producer_run(world)
    for task_id in ("by_context", "by_metadata", "by_taskflow"):
        result = run_workload(world.queue(run, task_id, fileloc), world.settings, world.store)
        assert result.state == "success", result.error
    assert _extras(world) == {
        ("by_context", "s3://lake/orders"): {"rows": 10, "note": "<b>bold</b>"},
        ("by_context", "s3://lake/users"): {"rows": 2},
        ("by_context", "s3://lake/log"): {},  # an outlet the task said nothing about
        ("by_metadata", "s3://lake/orders"): {"rows": 11},
        ("by_taskflow", "s3://lake/orders"): {"rows": 12},
    }
    assert world.store.xcom_pull(RunKey("producer", run.run_id), "by_metadata") == "done"  # the generator's return
    log = world.log_text(TaskInstanceKey("producer", run.run_id, "by_metadata"), 1)
    assert "Ignoring a value of type str the task yielded" in log


def test_an_extra_that_is_not_json_fails_the_try_and_records_no_event(world: World) -> None:
    fileloc, run = _producer_run(world)
    result = run_workload(world.queue(run, "not_json", fileloc), world.settings, world.store)
    assert result.state == "failed" and "DatasetExtraError" in (result.error or "")
    assert "JSON-serializable" in (result.error or "") and "s3://lake/orders" in (result.error or "")
    assert world.store.list_dataset_events() == ([], 0)


def test_the_consumers_run_sees_the_extra_in_its_triggering_dataset_events(world: World) -> None:
    fileloc, run = _producer_run(world)
    assert run_workload(world.queue(run, "by_context", fileloc), world.settings, world.store).state == "success"
    later = datetime.now(timezone.utc) + timedelta(seconds=1)
    made = world.store.create_dataset_triggered_run("consumer", Dataset("s3://lake/orders"), later)
    assert made is not None
    consumer = world.store.get_run("consumer", made.run_id)
    fileloc = str(world.folder / "consumer.py")
    result = run_workload(world.queue(consumer, "seen", fileloc), world.settings, world.store)
    assert result.state == "success", result.error
    assert result.return_value == {"s3://lake/orders": [["by_context", {"rows": 10, "note": "<b>bold</b>"}]]}


def test_a_supervised_try_sends_its_extras_with_its_end_as_json(world: World) -> None:
    fileloc, run = _producer_run(world)
    result, end = supervised_end(world, world.queue(run, "by_metadata", fileloc))
    assert result.state == "success"
    assert end["outlet_extra"] == {"s3://lake/orders": {"rows": 11}} and end["produces"] is True
    assert "outlet_extra" not in decode_fields(end)
