"""Serialization carries a DAG's dataset condition and its tasks' outlets (what the scheduler and the Store read)."""
from __future__ import annotations

from datetime import datetime, timezone

from flowctl.core.dag import DAG
from flowctl.core.timetables.datasets import dataset_condition_of
from flowctl.dag_processing.serialization import deserialize_dag, serialize_dag
from flowctl.datasets import Dataset
from flowctl.db.dataset_refs import consumed_and_produced
from flowctl.operators.empty import EmptyOperator
from flowctl.timetables.datasets import DatasetOrTimeSchedule
from flowctl.timetables.trigger import CronTriggerTimetable

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
A, B = Dataset("s3://lake/a", extra={"team": "x"}), Dataset("s3://lake/b")


def test_a_dataset_schedule_and_outlets_survive_serialization() -> None:
    with DAG("consumer", start_date=START, schedule=A | B) as dag:
        EmptyOperator(task_id="make", outlets=[A, "not a dataset", A])
        EmptyOperator(task_id="plain")
    data = serialize_dag(dag)
    assert data["timetable_summary"] == "Dataset"
    assert dataset_condition_of(deserialize_dag(data).timetable) == A | B
    by_task = {t["task_id"]: t for t in data["tasks"]}
    assert by_task["make"]["outlets"] == [{"uri": "s3://lake/a", "extra": {"team": "x"}}]
    assert "outlets" not in by_task["plain"]  # a DAG without datasets keeps the hash it had
    assert consumed_and_produced(data) == ({"s3://lake/a": {"team": "x"}, "s3://lake/b": None},
                                           {"make": {"s3://lake/a": {"team": "x"}}})


def test_datasets_or_time_keeps_both_schedules() -> None:
    schedule = DatasetOrTimeSchedule(timetable=CronTriggerTimetable("0 1 * * *", timezone="UTC"), datasets=[A])
    with DAG("either", start_date=START, schedule=schedule) as dag:
        EmptyOperator(task_id="t")
    again = deserialize_dag(serialize_dag(dag)).timetable
    assert again == schedule and again.summary == "0 1 * * *"
    assert consumed_and_produced(serialize_dag(dag))[0] == {"s3://lake/a": {"team": "x"}}


def test_a_time_schedule_consumes_nothing() -> None:
    with DAG("timed", start_date=START, schedule="@daily") as dag:
        EmptyOperator(task_id="t")
    assert consumed_and_produced(serialize_dag(dag)) == ({}, {})


def test_alias_outlets_and_an_alias_schedule_survive_serialization() -> None:
    from flowctl.datasets import DatasetAlias
    from flowctl.db.dataset_alias_refs import aliases_in
    from flowctl.db.dataset_refs import schedule_condition

    orders = DatasetAlias("orders")
    with DAG("both", start_date=START, schedule=[orders, B]) as dag:
        EmptyOperator(task_id="make", outlets=[A, orders, DatasetAlias("users"), orders])
    data = serialize_dag(dag)
    assert dataset_condition_of(deserialize_dag(data).timetable) == orders & B
    assert data["tasks"][0]["outlets"] == [{"uri": "s3://lake/a", "extra": {"team": "x"}}, {"alias": "orders"},
                                           {"alias": "users"}]
    assert consumed_and_produced(data) == ({"s3://lake/b": None}, {"make": {"s3://lake/a": {"team": "x"}}})
    assert aliases_in(data, schedule_condition(data)) == ({"orders"}, {"orders", "users"})
