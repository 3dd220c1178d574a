"""The scheduler makes dataset-triggered runs from the Store's queued dataset updates (tick(now), both databases)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from flowctl.core.dag import DAG
from flowctl.core.keys import TaskInstanceKey
from flowctl.core.states import TaskInstanceState
from flowctl.datasets import Dataset
from flowctl.operators.empty import EmptyOperator
from flowctl.scheduler import Scheduler
from flowctl.timetables.datasets import DatasetOrTimeSchedule
from flowctl.timetables.trigger import CronTriggerTimetable
from tests.scheduler.helpers import T0, InlineExecutor, day, settings, sync, tick_until_idle

ORDERS = Dataset("s3://lake/orders")


def producer_and_consumer(store: Any, schedule: Any = (ORDERS,)) -> None:
    with DAG("producer", start_date=T0 - day(3), schedule=None) as producer:
        EmptyOperator(task_id="make", outlets=[ORDERS])
    with DAG("consumer", start_date=T0 - day(3), schedule=list(schedule) if isinstance(schedule, tuple) else schedule,
             catchup=False) as consumer:
        EmptyOperator(task_id="use")
    sync(store, producer, "/dags/producer.py")
    sync(store, consumer, "/dags/consumer.py")


def produce(store: Any, run_id: str, when: Any) -> None:
    """A manual run of the producer whose task succeeds at ``when`` (as a worker writes it)."""
    store.create_run("producer", run_id, run_type="manual", logical_date=when, now=when, state="running",
                     data_interval=(when, when))
    key = TaskInstanceKey("producer", run_id, "make")
    assert store.set_task_state(key, "pending", "scheduled")
    assert store.set_task_state(key, "scheduled", "queued", queued_at=when)
    assert store.start_try(key, 0, "host", 1, when) is not None
    assert store.finish_try(key, TaskInstanceState.SUCCESS, when, running_try=1, started=when, wake="task finished")


def scheduler_on(store: Any, tmp_path: Path) -> Scheduler:
    scheduler = Scheduler(settings(tmp_path), store, InlineExecutor(store))
    scheduler.start(T0)
    return scheduler


def runs_of(store: Any, dag_id: str = "consumer") -> list[tuple[str, str]]:
    return sorted((r.run_type, r.state) for r in store.list_runs(dag_id))


def test_a_consumer_runs_once_after_its_dataset_is_updated(store: Any, tmp_path: Path) -> None:
    producer_and_consumer(store)
    scheduler = scheduler_on(store, tmp_path)
    tick_until_idle(scheduler, T0)
    assert runs_of(store) == []
    produce(store, "p1", T0 + timedelta(minutes=1))
    tick_until_idle(scheduler, T0 + timedelta(minutes=2))
    assert runs_of(store) == [("dataset_triggered", "success")]
    tick_until_idle(scheduler, T0 + timedelta(minutes=3))
    assert len(runs_of(store)) == 1  # the update was consumed by that run
    produce(store, "p2", T0 + timedelta(minutes=4))
    tick_until_idle(scheduler, T0 + timedelta(minutes=5))
    assert runs_of(store) == [("dataset_triggered", "success")] * 2


def test_datasets_or_a_time_schedule_gets_both_kinds_of_runs(store: Any, tmp_path: Path) -> None:
    producer_and_consumer(store, DatasetOrTimeSchedule(timetable=CronTriggerTimetable("0 0 * * *", timezone="UTC"),
                                                       datasets=[ORDERS]))
    scheduler = scheduler_on(store, tmp_path)
    tick_until_idle(scheduler, T0 + timedelta(hours=1))
    assert runs_of(store) == [("scheduled", "success")]
    produce(store, "p1", T0 + timedelta(hours=2))
    tick_until_idle(scheduler, T0 + timedelta(hours=3))
    assert runs_of(store) == [("dataset_triggered", "success"), ("scheduled", "success")]


def test_a_paused_consumer_gets_no_run_from_updates_made_while_paused(store: Any, tmp_path: Path) -> None:
    producer_and_consumer(store)
    store.set_paused("consumer", True)
    scheduler = scheduler_on(store, tmp_path)
    produce(store, "p1", T0 + timedelta(minutes=1))
    tick_until_idle(scheduler, T0 + timedelta(minutes=2))
    assert runs_of(store) == [] and store.list_dataset_events()[1] == 1
    store.set_paused("consumer", False)
    tick_until_idle(scheduler, T0 + timedelta(minutes=3))
    assert runs_of(store) == []  # as in Airflow: updates made while paused are not queued
    produce(store, "p2", T0 + timedelta(minutes=4))
    tick_until_idle(scheduler, T0 + timedelta(minutes=5))
    assert runs_of(store) == [("dataset_triggered", "success")]


def test_a_dag_scheduled_on_an_alias_runs_once_the_alias_resolved_to_an_updated_dataset(store: Any,
                                                                                      tmp_path: Path) -> None:
    """The scheduler resolves the alias to its datasets before it evaluates the schedule (an unresolved
    alias holds for nothing, so without that the queued update never made a run)."""
    from flowctl.datasets import DatasetAlias

    with DAG("producer", start_date=T0 - day(3), schedule=None) as producer:
        EmptyOperator(task_id="make", outlets=[DatasetAlias("orders")])
    with DAG("consumer", start_date=T0 - day(3), schedule=DatasetAlias("orders") | Dataset("s3://never"),
             catchup=False) as consumer:
        EmptyOperator(task_id="use")
    sync(store, producer, "/dags/producer.py")
    sync(store, consumer, "/dags/consumer.py")
    scheduler = scheduler_on(store, tmp_path)
    when = T0 + timedelta(minutes=1)
    store.create_run("producer", "p1", run_type="manual", logical_date=when, now=when, state="running",
                     data_interval=(when, when))
    key = TaskInstanceKey("producer", "p1", "make")
    assert store.set_task_state(key, "pending", "scheduled") and store.set_task_state(key, "scheduled", "queued")
    assert store.start_try(key, 0, "host", 1, when) is not None
    assert store.finish_try(key, TaskInstanceState.SUCCESS, when, running_try=1, started=when, wake="task finished",
                            alias_events=[{"uri": "s3://lake/orders", "extra": {}, "aliases": ["orders"]}])
    tick_until_idle(scheduler, T0 + timedelta(minutes=2))
    assert runs_of(store) == [("dataset_triggered", "success")]
