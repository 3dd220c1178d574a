"""DayOfWeekSensor and WeekDay: wait until the day of the week is one of the given days.

Days are given as names (any case), WeekDay values, or an iterable of either;
they are checked when the DAG is defined. The sensor reads today's weekday in
UTC (as Airflow does), or the run's ``logical_date`` with
``use_task_logical_date=True`` (Airflow's deprecated ``use_task_execution_day``
still works). ``flowctl.utils.weekday`` re-exports WeekDay.

Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

import enum
import logging
import warnings
from collections.abc import Iterable, Mapping
from datetime import timezone
from typing import Any, Union

from flowctl.core.errors import DagDefinitionError
from flowctl.sensors.base import BaseSensorOperator

log = logging.getLogger("flowctl.task")

WeekDaySpec = Union[str, "WeekDay", Iterable[Union[str, "WeekDay"]]]


class WeekDay(enum.IntEnum):
    """Days of the week, numbered like ``date.isoweekday()``."""

    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7

    @classmethod
    def get_weekday_number(cls, week_day_str: str) -> WeekDay:
        """The day named ``week_day_str`` (any case)."""
        name = week_day_str.strip().upper()
        if name not in cls.__members__:
            valid = ", ".join(cls.__members__)
            raise DagDefinitionError(f"invalid week day {week_day_str!r}: expected one of {valid}")
        return cls[name]

    @classmethod
    def convert(cls, day: str | WeekDay) -> WeekDay:
        """A WeekDay from a WeekDay or a day name."""
        return day if isinstance(day, WeekDay) else cls.get_weekday_number(day)

    @classmethod
    def validate_week_day(cls, week_day: WeekDaySpec) -> set[int]:
        """The day numbers of a day, a day name, or an iterable of those."""
        if isinstance(week_day, (str, WeekDay)):
            return {int(cls.convert(week_day))}
        if not isinstance(week_day, Iterable):
            raise DagDefinitionError(_bad_type_message(week_day))
        days = list(week_day)
        if not days or not all(isinstance(day, (str, WeekDay)) for day in days):
            raise DagDefinitionError(_bad_type_message(week_day))
        return {int(cls.convert(day)) for day in days}


def _bad_type_message(week_day: object) -> str:
    return (f"week_day must be a day name, a WeekDay, or a non-empty set or list of those; got {week_day!r}"
            f" ({type(week_day).__name__})")


class DayOfWeekSensor(BaseSensorOperator):
    """Succeeds on the given days of the week."""

    def __init__(
        self,
        *,
        week_day: WeekDaySpec,
        use_task_logical_date: bool = False,
        use_task_execution_day: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if use_task_execution_day:
            warnings.warn("use_task_execution_day is deprecated; use use_task_logical_date", DeprecationWarning,
                          stacklevel=3)
        self.week_day = week_day
        self.use_task_logical_date = use_task_logical_date or use_task_execution_day
        self._week_day_numbers = WeekDay.validate_week_day(week_day)

    def poke(self, context: Mapping[str, Any]) -> bool:
        if self.use_task_logical_date:
            day = context["logical_date"].isoweekday()
        else:
            day = self.clock().astimezone(timezone.utc).isoweekday()
        wanted = sorted(WeekDay(n).name for n in self._week_day_numbers)
        log.info("Poking until the weekday is one of %s; it is %s", wanted, WeekDay(day).name)
        return day in self._week_day_numbers
