"""TimeSensor: the time of day, in the DAG's timezone, is past target_time (Airflow 2 semantics)."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pendulum
import pytest

from flowctl.core.dag import DAG
from flowctl.core.errors import DagDefinitionError, TaskRescheduled
from flowctl.sensors.time_sensor import TimeSensor, TimeSensorAsync
from tests.operators.contract_ti import ContractTI, context_for


def _at(sensor: TimeSensor, now: datetime) -> TimeSensor:
    sensor.clock = lambda: now  # type: ignore[misc]
    return sensor


def test_it_holds_only_once_the_time_of_day_is_past_target_time() -> None:
    sensor = TimeSensor(task_id="t", target_time=time(9, 30))
    assert not _at(sensor, datetime(2024, 3, 10, 9, 0, tzinfo=timezone.utc)).poke({})
    assert not _at(sensor, datetime(2024, 3, 10, 9, 30, tzinfo=timezone.utc)).poke({})
    assert _at(sensor, datetime(2024, 3, 10, 9, 30, 1, tzinfo=timezone.utc)).poke({})
    assert not _at(sensor, datetime(2024, 3, 11, 0, 5, tzinfo=timezone.utc)).poke({})


def test_the_time_of_day_is_read_in_the_dag_timezone() -> None:
    with DAG("paris", start_date=pendulum.datetime(2024, 1, 1, tz="Europe/Paris"), schedule=None):
        sensor = TimeSensor(task_id="t", target_time=time(9, 30))
    # 09:00 UTC is 10:00 in Paris (CET, winter)
    assert _at(sensor, datetime(2024, 1, 10, 9, 0, tzinfo=timezone.utc)).poke({})
    assert not _at(sensor, datetime(2024, 1, 10, 8, 0, tzinfo=timezone.utc)).poke({})


def test_a_fixed_offset_start_date_gives_the_zone() -> None:
    plus_two = timezone(timedelta(hours=2))
    with DAG("fixed", start_date=datetime(2024, 1, 1, tzinfo=plus_two), schedule=None):
        sensor = TimeSensor(task_id="t", target_time=time(9, 30))
    assert _at(sensor, datetime(2024, 1, 10, 8, 0, tzinfo=timezone.utc)).poke({})
    assert not _at(sensor, datetime(2024, 1, 10, 7, 0, tzinfo=timezone.utc)).poke({})


def test_a_sensor_outside_a_dag_uses_utc() -> None:
    sensor = TimeSensor(task_id="t", target_time=time(9, 30))
    assert _at(sensor, datetime(2024, 1, 10, 11, 0, tzinfo=timezone(timedelta(hours=1)))).poke({})


def test_target_time_must_be_a_time_of_day() -> None:
    with pytest.raises(DagDefinitionError, match="datetime.time"):
        TimeSensor(task_id="t", target_time="09:30")  # type: ignore[arg-type]
    with pytest.raises(DagDefinitionError, match="datetime.time"):
        TimeSensor(task_id="u", target_time=datetime(2024, 1, 1, 9, 30))  # type: ignore[arg-type]


def test_reschedule_mode_works_like_other_sensors_and_the_async_name_is_a_time_sensor() -> None:
    assert issubclass(TimeSensorAsync, TimeSensor)  # which defers instead (tests/operators/test_deferrable_sensors.py)
    sensor = _at(TimeSensor(task_id="t", target_time=time(23, 0), mode="reschedule", poke_interval=60),
                 datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc))
    with pytest.raises(TaskRescheduled) as raised:
        sensor.execute(context_for(sensor, ContractTI()))
    assert raised.value.reschedule_date == datetime(2024, 3, 10, 12, 1, tzinfo=timezone.utc)
