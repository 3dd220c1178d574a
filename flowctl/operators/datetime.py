"""BranchDateTimeOperator: follow one set of tasks while the time is inside a window, another otherwise.

Airflow-compatible path ``flowctl.operators.datetime``. ``target_lower`` / ``target_upper`` are
datetimes or times of day (either may be None, not both); times are put on the date of the moment
checked, and an upper time before the lower one means the next day. Naive bounds are in the DAG's
timezone. The moment is now, or the run's ``logical_date`` with ``use_task_logical_date=True``.
Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from flowctl.core.errors import DagDefinitionError
from flowctl.core.timezones import coerce_datetime, utcnow
from flowctl.operators.branch import BaseBranchOperator
from flowctl.sensors.time_sensor import dag_zone



def target_times_as_dates(base: dt.datetime, lower: dt.datetime | dt.time | None,
                          upper: dt.datetime | dt.time | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The window's bounds as datetimes: times of day on ``base``'s date, the upper one moved to the
    next day when it would come before the lower one."""
    if isinstance(lower, dt.datetime) and isinstance(upper, dt.datetime):
        return lower, upper
    low = dt.datetime.combine(base.date(), lower) if isinstance(lower, dt.time) else lower
    high = dt.datetime.combine(base.date(), upper) if isinstance(upper, dt.time) else upper
    if low is not None and high is not None and high < low:
        high += dt.timedelta(days=1)
    return low, high


def _check_bound(task_id: str, name: str, value: Any) -> None:
    if value is not None and not isinstance(value, (dt.datetime, dt.time)):
        raise DagDefinitionError(f"{name} of {task_id!r} must be a datetime, a time or None, "
                                 f"got {type(value).__name__}")


class BranchDateTimeOperator(BaseBranchOperator):
    """Follows ``follow_task_ids_if_true`` when the moment is within [target_lower, target_upper]."""

    ui_color: ClassVar[str] = "#f0e4ec"
    clock: ClassVar[Callable[[], dt.datetime]] = staticmethod(utcnow)

    def __init__(self, *, follow_task_ids_if_true: str | Iterable[str], follow_task_ids_if_false: str | Iterable[str],
                 target_lower: dt.datetime | dt.time | None = None, target_upper: dt.datetime | dt.time | None = None,
                 use_task_logical_date: bool = False, use_task_execution_date: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if target_lower is None and target_upper is None:
            raise DagDefinitionError(f"BranchDateTimeOperator {self.task_id!r}: target_lower and target_upper are "
                                     "both None; give at least one")
        _check_bound(self.task_id, "target_lower", target_lower)
        _check_bound(self.task_id, "target_upper", target_upper)
        if use_task_execution_date:
            warnings.warn("use_task_execution_date is deprecated; use use_task_logical_date", DeprecationWarning,
                          stacklevel=3)
        self.follow_task_ids_if_true = follow_task_ids_if_true
        self.follow_task_ids_if_false = follow_task_ids_if_false
        self.target_lower = target_lower
        self.target_upper = target_upper
        self.use_task_logical_date = use_task_logical_date or use_task_execution_date

    def choose_branch(self, context: Mapping[str, Any]) -> Any:
        now = coerce_datetime(context["logical_date"] if self.use_task_logical_date else self.clock())
        assert now is not None
        zone = dag_zone(getattr(self, "dag", None))  # a fixed offset ("+09:00") is a zone too
        lower, upper = (coerce_datetime(bound, zone)
                        for bound in target_times_as_dates(now, self.target_lower, self.target_upper))
        if (upper is not None and upper < now) or (lower is not None and lower > now):
            return self.follow_task_ids_if_false
        return self.follow_task_ids_if_true
