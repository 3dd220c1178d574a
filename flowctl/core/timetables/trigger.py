"""CronTriggerTimetable: runs at each cron match; the interval ends at the run time.

Unlike CronDataIntervalTimetable the run for 00:00 happens at 00:00 and (by
default) covers the empty interval ``[00:00, 00:00)``; ``interval`` widens it
backwards. Pure: must not import anything outside ``flowctl.core``.
"""
from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any

from flowctl.core.errors import DagDefinitionError
from flowctl.core.timetables.base import (
    DagRunInfo,
    DataInterval,
    TimeRestriction,
    Timetable,
    past_end,
    to_utc,
)
from flowctl.core.timetables.cron import CronSchedule, zone_name


class CronTriggerTimetable(Timetable):
    """Trigger a run at every cron match in the DAG's time zone."""

    periodic = True

    def __init__(
        self, cron: str, *, timezone: str | tzinfo = "UTC", interval: timedelta = timedelta(0)
    ) -> None:
        if not isinstance(interval, timedelta) or interval < timedelta(0):
            raise DagDefinitionError(f"trigger interval must be a timedelta >= 0, got {interval!r}")
        self._expression = cron
        self._schedule = CronSchedule(cron, zone_name(timezone))
        self._interval = interval

    @property
    def summary(self) -> str:
        """The expression as written."""
        return self._expression

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime,
    ) -> DagRunInfo | None:
        """Next cron match after the last run; without catchup, the latest match at ``now``."""
        if restriction.catchup:
            run_at = self._catchup_start(last_automated_data_interval, restriction)
        else:
            run_at = self._skip_ahead(last_automated_data_interval, restriction, to_utc(now))
        if run_at is None or past_end(run_at, restriction):
            return None
        return DagRunInfo(run_at, DataInterval(run_at - self._interval, run_at))

    def _catchup_start(
        self, last: DataInterval | None, restriction: TimeRestriction
    ) -> datetime | None:
        if last is not None:
            return self._schedule.next_after(last.end)
        if restriction.earliest is None:
            return None  # nowhere to catch up from
        return self._schedule.align_next(restriction.earliest)

    def _skip_ahead(
        self, last: DataInterval | None, restriction: TimeRestriction, now: datetime
    ) -> datetime:
        candidates = [self._schedule.align_prev(now)]
        if last is not None:
            candidates.append(self._schedule.next_after(last.end))
        if restriction.earliest is not None:
            candidates.append(self._schedule.align_next(restriction.earliest))
        return max(candidates)

    def infer_manual_data_interval(self, *, run_after: datetime) -> DataInterval:
        """``[run_after - interval, run_after)``."""
        run_after = to_utc(run_after)
        return DataInterval(run_after - self._interval, run_after)

    def _fields(self) -> dict[str, Any]:
        return {
            "expression": self._expression,
            "timezone": self._schedule.zone_name,
            "interval": self._interval.total_seconds(),
        }

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        """Rebuild from ``expression``, ``timezone`` and ``interval`` seconds."""
        interval = timedelta(seconds=data.get("interval", 0))
        return cls(data["expression"], timezone=data["timezone"], interval=interval)
