"""BranchDayOfWeekOperator: follow one set of tasks on the given days of the week, another set otherwise.

Airflow-compatible path ``flowctl.operators.weekday``. The day is today's in the DAG's timezone
(as in Airflow), or the run's ``logical_date`` with ``use_task_logical_date=True``; the days are
those :class:`~flowctl.sensors.weekday.DayOfWeekSensor` takes. Must not import flowctl.db, web,
cli or scheduler.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from flowctl.core.timezones import utcnow
from flowctl.operators.branch import BaseBranchOperator
from flowctl.sensors.time_sensor import dag_zone
from flowctl.sensors.weekday import WeekDay, WeekDaySpec


def in_dag_timezone(task: Any, moment: datetime) -> datetime:
    """``moment`` in the timezone of ``task``'s DAG (UTC without one; a fixed offset too)."""
    return moment.astimezone(dag_zone(getattr(task, "dag", None)))


class BranchDayOfWeekOperator(BaseBranchOperator):
    """Follows ``follow_task_ids_if_true`` on the days of ``week_day``, else ``follow_task_ids_if_false``."""

    ui_color: ClassVar[str] = "#f0e4ec"
    clock: ClassVar[Callable[[], datetime]] = staticmethod(utcnow)

    def __init__(self, *, follow_task_ids_if_true: str | Iterable[str], follow_task_ids_if_false: str | Iterable[str],
                 week_day: WeekDaySpec, use_task_logical_date: bool = False, use_task_execution_day: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if use_task_execution_day:
            warnings.warn("use_task_execution_day is deprecated; use use_task_logical_date", DeprecationWarning,
                          stacklevel=3)
        self.follow_task_ids_if_true = follow_task_ids_if_true
        self.follow_task_ids_if_false = follow_task_ids_if_false
        self.week_day = week_day
        self.use_task_logical_date = use_task_logical_date or use_task_execution_day
        self._week_day_numbers = WeekDay.validate_week_day(week_day)

    def choose_branch(self, context: Mapping[str, Any]) -> Any:
        now = context["logical_date"] if self.use_task_logical_date else in_dag_timezone(self, self.clock())
        if now.isoweekday() in self._week_day_numbers:
            return self.follow_task_ids_if_true
        return self.follow_task_ids_if_false
