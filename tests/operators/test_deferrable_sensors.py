"""Deferrable sensors, pure: what they defer to, how they resume, and a deferral timeout as a sensor timeout."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pendulum
import pytest

from flowctl.core.dag import DAG
from flowctl.core.deferral import FAIL_METHOD, TIMEOUT_ERROR
from flowctl.core.errors import FlowctlError, SensorTimeout, TaskDeferralError, TaskDeferred, TaskSkipped
from flowctl.sensors.date_time import DateTimeSensor, DateTimeSensorAsync
from flowctl.sensors.filesystem import FileSensor
from flowctl.sensors.time_delta import TimeDeltaSensor, TimeDeltaSensorAsync
from flowctl.sensors.time_sensor import TimeSensorAsync
from flowctl.triggers.file import FileTrigger
from flowctl.triggers.temporal import DateTimeTrigger

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc)


def _at(sensor: Any, now: datetime = NOW) -> Any:
    sensor.clock = lambda: now
    return sensor


def _deferral(sensor: Any, context: dict[str, Any]) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as raised:
        sensor.execute(context)
    return raised.value


def test_time_delta_sensor_async_defers_to_the_end_of_the_interval_plus_delta() -> None:
    sensor = _at(TimeDeltaSensorAsync(task_id="t", delta=timedelta(hours=1)))
    deferred = _deferral(sensor, {"data_interval_end": NOW})
    assert isinstance(deferred.trigger, DateTimeTrigger) and deferred.trigger.moment == NOW + timedelta(hours=1)
    assert deferred.method_name == "execute_complete"
    assert sensor.resume_execution("execute_complete", {"event": NOW}, {}) is None


def test_a_deferrable_time_delta_sensor_whose_moment_passed_succeeds_without_deferring() -> None:
    sensor = _at(TimeDeltaSensor(task_id="t", delta=timedelta(hours=1), deferrable=True))
    assert sensor.execute({"data_interval_end": NOW - timedelta(hours=2)}) is None


def test_date_time_sensor_async_and_deferrable_defer_to_the_target_time() -> None:
    for sensor in (DateTimeSensorAsync(task_id="a", target_time="2024-03-10T15:00:00+00:00"),
                   DateTimeSensor(task_id="b", target_time=datetime(2024, 3, 10, 15, tzinfo=timezone.utc),
                                  deferrable=True)):
        deferred = _deferral(_at(sensor), {})
        assert deferred.trigger.serialize() == ("flowctl.triggers.temporal.DateTimeTrigger",
                                                {"moment": datetime(2024, 3, 10, 15, tzinfo=timezone.utc)})


def test_date_time_sensor_async_defers_to_a_naive_target_time_in_the_default_timezone_as_utc() -> None:
    from flowctl.core.timezones import use_default_timezone

    use_default_timezone("Asia/Tokyo")
    for sensor in (DateTimeSensorAsync(task_id="a", target_time="2024-03-11T00:00:00"),
                   DateTimeSensor(task_id="b", target_time=datetime(2024, 3, 11), deferrable=True)):
        moment = _deferral(_at(sensor), {}).trigger.moment
        assert moment == datetime(2024, 3, 10, 15, tzinfo=timezone.utc) and moment.utcoffset() == timedelta(0)


def test_time_sensor_async_defers_to_today_at_target_time_in_the_dag_timezone() -> None:
    with DAG("paris", start_date=pendulum.datetime(2024, 1, 1, tz="Europe/Paris"), schedule=None):
        sensor = _at(TimeSensorAsync(task_id="t", target_time=time(15, 0)))
    assert _deferral(sensor, {}).trigger.moment == datetime(2024, 3, 10, 14, 0, tzinfo=timezone.utc)


def test_a_deferrable_file_sensor_pokes_first_then_defers_to_a_file_trigger(tmp_path: Path) -> None:
    sensor = FileSensor(task_id="f", filepath=str(tmp_path / "flag"), deferrable=True, poke_interval=2, timeout=30)
    deferred = _deferral(sensor, {})
    assert isinstance(deferred.trigger, FileTrigger) and deferred.timeout == timedelta(seconds=30)
    assert deferred.trigger.serialize()[1] == {"filepath": str(tmp_path / "flag"), "recursive": False,
                                               "poke_interval": 2.0}
    (tmp_path / "flag").write_text("x")
    assert sensor.execute({}) is None
    with pytest.raises(FlowctlError, match="not found"):
        sensor.execute_complete({}, event=False)


def test_a_deferral_timeout_is_a_sensor_timeout_or_a_skip_with_soft_fail() -> None:
    failing = TimeDeltaSensorAsync(task_id="t", delta=timedelta(hours=1))
    with pytest.raises(SensorTimeout):
        failing.resume_execution(FAIL_METHOD, {"error": TIMEOUT_ERROR}, {})
    with pytest.raises(TaskSkipped):
        TimeDeltaSensorAsync(task_id="s", delta=timedelta(hours=1), soft_fail=True).resume_execution(
            FAIL_METHOD, {"error": TIMEOUT_ERROR}, {})
    with pytest.raises(TaskDeferralError, match="boom"):
        failing.resume_execution(FAIL_METHOD, {"error": "Trigger failure", "traceback": "boom"}, {})
