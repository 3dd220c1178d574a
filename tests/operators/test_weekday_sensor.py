"""DayOfWeekSensor and WeekDay: today's (or the logical date's) weekday is one of the given days."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from flowctl.core.errors import DagDefinitionError, TaskRescheduled
from flowctl.sensors.weekday import DayOfWeekSensor, WeekDay
from tests.operators.contract_ti import ContractTI, context_for

SUNDAY = datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc)
MONDAY = datetime(2024, 3, 11, 12, 0, tzinfo=timezone.utc)


def _at(sensor: DayOfWeekSensor, now: datetime) -> DayOfWeekSensor:
    sensor.clock = lambda: now  # type: ignore[misc]
    return sensor


def test_week_days_are_numbered_like_isoweekday() -> None:
    assert WeekDay.MONDAY == 1 and WeekDay.SUNDAY == 7
    assert WeekDay.validate_week_day("sunday") == {7}
    assert WeekDay.validate_week_day(["Monday", WeekDay.FRIDAY]) == {1, 5}
    assert WeekDay.validate_week_day({WeekDay.SATURDAY, WeekDay.SUNDAY}) == {6, 7}


def test_the_airflow_path_reexports_week_day() -> None:
    from flowctl.utils.weekday import WeekDay as FromUtils

    assert FromUtils is WeekDay


def test_a_day_name_holds_on_that_day_whatever_its_case() -> None:
    sensor = DayOfWeekSensor(task_id="d", week_day="sUnDaY")
    assert _at(sensor, SUNDAY).poke({})
    assert not _at(sensor, MONDAY).poke({})


def test_a_set_of_days_or_enum_values_holds_on_any_of_them() -> None:
    weekend = DayOfWeekSensor(task_id="w", week_day={"Saturday", "Sunday"})
    assert _at(weekend, SUNDAY).poke({}) and not _at(weekend, MONDAY).poke({})
    enum = DayOfWeekSensor(task_id="e", week_day=[WeekDay.MONDAY, WeekDay.TUESDAY])
    assert _at(enum, MONDAY).poke({}) and not _at(enum, SUNDAY).poke({})
    single = DayOfWeekSensor(task_id="s", week_day=WeekDay.MONDAY)
    assert _at(single, MONDAY).poke({})


def test_with_use_task_logical_date_the_logical_date_decides_not_the_clock() -> None:
    sensor = _at(DayOfWeekSensor(task_id="d", week_day="Monday", use_task_logical_date=True), SUNDAY)
    assert sensor.poke({"logical_date": MONDAY})
    assert not sensor.poke({"logical_date": SUNDAY})


def test_an_invalid_day_name_fails_at_definition_time_naming_the_valid_days() -> None:
    with pytest.raises(DagDefinitionError, match="Funday") as raised:
        DayOfWeekSensor(task_id="d", week_day=["Monday", "Funday"])
    assert "MONDAY" in str(raised.value) and "SUNDAY" in str(raised.value)


def test_a_week_day_of_another_type_fails_at_definition_time() -> None:
    with pytest.raises(DagDefinitionError, match="week_day"):
        DayOfWeekSensor(task_id="d", week_day=3)  # type: ignore[arg-type]
    with pytest.raises(DagDefinitionError, match="week_day"):
        DayOfWeekSensor(task_id="e", week_day=[])


def test_reschedule_mode_works_like_other_sensors() -> None:
    sensor = _at(DayOfWeekSensor(task_id="d", week_day="Monday", mode="reschedule", poke_interval=3600), SUNDAY)
    with pytest.raises(TaskRescheduled):
        sensor.execute(context_for(sensor, ContractTI()))


def test_the_deprecated_use_task_execution_day_still_reads_the_logical_date() -> None:
    with pytest.warns(DeprecationWarning, match="use_task_logical_date"):
        sensor = _at(DayOfWeekSensor(task_id="d", week_day="Monday", use_task_execution_day=True), SUNDAY)
    assert sensor.poke({"logical_date": MONDAY})
