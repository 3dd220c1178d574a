"""Data-interval timetables: a run covers ``[start, end)`` and is created at ``end``.

Owns CronDataIntervalTimetable (Airflow's default for cron strings and
presets) and DeltaDataIntervalTimetable (a ``timedelta`` schedule). Pure:
must not import anything outside ``flowctl.core``, the standard library and
dateutil.
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

try:  # dateutil ships with pendulum; relativedelta schedules are optional.
    from dateutil.relativedelta import relativedelta
except ImportError:  # pragma: no cover
    relativedelta = None  # type: ignore[assignment,misc]


class _DataIntervalTimetable(Timetable):
    """The shared Airflow rule for interval timetables; subclasses give the arithmetic."""

    periodic = True

    def _get_next(self, moment: datetime) -> datetime:
        raise NotImplementedError

    def _get_prev(self, moment: datetime) -> datetime:
        raise NotImplementedError

    def _align_to_next(self, moment: datetime) -> datetime:
        return moment

    def _align_to_prev(self, moment: datetime) -> datetime:
        return moment

    def _skip_to_latest(self, earliest: datetime | None, now: datetime) -> datetime:
        """Start of the latest complete interval at ``now``, not before ``earliest``."""
        raise NotImplementedError

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime,
    ) -> DagRunInfo | None:
        """Next interval: after the last one, aligned, caught up or skipped ahead to ``now``."""
        earliest = restriction.earliest
        if not restriction.catchup:
            earliest = self._skip_to_latest(earliest, to_utc(now))
        elif earliest is not None:
            earliest = self._align_to_next(earliest)
        if last_automated_data_interval is None:
            if earliest is None:
                return None
            start = earliest
        else:
            # Re-aligning copes with a schedule that changed since the last run.
            start = self._align_to_prev(last_automated_data_interval.end)
            if earliest is not None:
                start = max(start, earliest)
        if past_end(start, restriction):
            return None
        return DagRunInfo.interval(start, self._get_next(start))

    def infer_manual_data_interval(self, *, run_after: datetime) -> DataInterval:
        """The last complete interval before ``run_after``."""
        end = self._align_to_prev(to_utc(run_after))
        return DataInterval(self._get_prev(end), end)

    def previous_interval_start(self, start: datetime) -> datetime:
        """The start of the interval before the one starting at ``start`` (Airflow 2's
        ``prev_execution_date`` of a scheduled run)."""
        return self._get_prev(start)


class CronDataIntervalTimetable(_DataIntervalTimetable):
    """Runs for each interval between consecutive cron matches, in the DAG's time zone."""

    def __init__(self, cron: str, timezone: str | tzinfo = "UTC") -> None:
        self._expression = cron
        self._schedule = CronSchedule(cron, zone_name(timezone))

    @property
    def summary(self) -> str:
        """The expression as written, e.g. ``@daily`` or ``0 * * * *``."""
        return self._expression

    def _get_next(self, moment: datetime) -> datetime:
        return self._schedule.next_after(moment)

    def _get_prev(self, moment: datetime) -> datetime:
        return self._schedule.prev_before(moment)

    def previous_interval_start(self, start: datetime) -> datetime:
        """As for every interval timetable; a schedule with a constant step skips the cron search
        (every try computes this for its template context)."""
        step = self._schedule.step
        return to_utc(start) - step if step is not None else self._schedule.prev_before(start)

    def _align_to_next(self, moment: datetime) -> datetime:
        return self._schedule.align_next(moment)

    def _align_to_prev(self, moment: datetime) -> datetime:
        return self._schedule.align_prev(moment)

    def _skip_to_latest(self, earliest: datetime | None, now: datetime) -> datetime:
        last_end = self._schedule.align_prev(now)
        new_start = self._schedule.prev_before(last_end)
        if earliest is None:
            return new_start
        return max(new_start, self._align_to_next(earliest))

    def _fields(self) -> dict[str, Any]:
        return {"expression": self._expression, "timezone": self._schedule.zone_name}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        """Rebuild from ``expression`` and ``timezone``."""
        return cls(data["expression"], data["timezone"])


class DeltaDataIntervalTimetable(_DataIntervalTimetable):
    """Runs for consecutive intervals of a fixed length from the start date."""

    def __init__(self, delta: Any) -> None:
        if isinstance(delta, timedelta):
            if delta <= timedelta(0):
                raise DagDefinitionError(f"schedule interval must be positive, got {delta}")
        elif relativedelta is None or not isinstance(delta, relativedelta):
            raise DagDefinitionError(f"schedule must be a timedelta, got {delta!r}")
        elif delta != relativedelta(**_relativedelta_fields(delta)) or not _forward(delta):
            raise DagDefinitionError(
                f"relativedelta schedule {delta!r} must only move forward by relative amounts"
            )
        self._delta = delta

    @property
    def summary(self) -> str:
        """``str()`` of the delta, e.g. ``1 day, 0:00:00``."""
        return str(self._delta)

    def _get_next(self, moment: datetime) -> datetime:
        return to_utc(moment + self._delta)

    def _get_prev(self, moment: datetime) -> datetime:
        return to_utc(moment - self._delta)

    def _skip_to_latest(self, earliest: datetime | None, now: datetime) -> datetime:
        new_start = self._get_prev(now)
        if earliest is None:
            return new_start
        return max(new_start, earliest)

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime,
    ) -> DagRunInfo | None:
        """As for every interval timetable; without catchup the interval after the last run still
        follows on from it while it is the latest complete one. flowctl asks when that run falls
        due, a moment after it ends, where ``now - delta`` would start just after the last run's
        end (Airflow asks when the last run is created, where it does not)."""
        last = last_automated_data_interval
        if not restriction.catchup and last is not None and to_utc(now) < self._get_next(self._get_next(last.end)):
            restriction = TimeRestriction(restriction.earliest, restriction.latest, True)
        return super().next_dagrun_info(last_automated_data_interval=last, restriction=restriction, now=now)

    def _fields(self) -> dict[str, Any]:
        if isinstance(self._delta, timedelta):
            return {"delta": self._delta.total_seconds()}
        return {"relativedelta": _relativedelta_fields(self._delta)}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        """Rebuild from ``delta`` seconds or ``relativedelta`` fields."""
        if "delta" in data:
            return cls(timedelta(seconds=data["delta"]))
        return cls(relativedelta(**data["relativedelta"]))


_RELATIVE_FIELDS = ("years", "months", "days", "hours", "minutes", "seconds", "microseconds")


def _relativedelta_fields(delta: Any) -> dict[str, int]:
    return {name: getattr(delta, name) for name in _RELATIVE_FIELDS if getattr(delta, name)}


def _forward(delta: Any) -> bool:
    return all(getattr(delta, name) >= 0 for name in _RELATIVE_FIELDS) and any(
        getattr(delta, name) for name in _RELATIVE_FIELDS
    )
