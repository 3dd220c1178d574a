"""Timetables without a cadence: never (None), once (@once), continuously (@continuous).

Pure: must not import anything outside ``flowctl.core``.
"""
from __future__ import annotations

from datetime import datetime

from flowctl.core.timetables.base import (
    DagRunInfo,
    DataInterval,
    TimeRestriction,
    Timetable,
    past_end,
    to_utc,
)


class NullTimetable(Timetable):
    """``schedule=None``: the DAG only runs when triggered."""

    can_be_scheduled = False

    @property
    def summary(self) -> str:
        """``None``."""
        return "None"

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime,
    ) -> DagRunInfo | None:
        """Always None."""
        return None


class OnceTimetable(Timetable):
    """``schedule="@once"``: one run at the start date, then never again."""

    @property
    def summary(self) -> str:
        """``@once``."""
        return "@once"

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime,
    ) -> DagRunInfo | None:
        """A run at ``earliest`` unless one ran already or end_date is before it."""
        if last_automated_data_interval is not None or restriction.earliest is None:
            return None
        if past_end(restriction.earliest, restriction):
            return None
        return DagRunInfo.exact(restriction.earliest)


class ContinuousTimetable(Timetable):
    """``schedule="@continuous"``: start the next run as soon as the previous one ends.

    Only meaningful with ``max_active_runs=1``; the DAG checks that, using
    :attr:`active_runs_limit`.
    """

    active_runs_limit = 1

    @property
    def summary(self) -> str:
        """``@continuous``."""
        return "@continuous"

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime,
    ) -> DagRunInfo | None:
        """A run now whose interval starts where the last one ended."""
        if restriction.earliest is None:
            return None
        now = to_utc(now)
        if last_automated_data_interval is None:
            start, end = restriction.earliest, max(restriction.earliest, now)
        else:
            start = last_automated_data_interval.end
            end = max(start, now)
        if past_end(end, restriction):
            return None
        return DagRunInfo.interval(start, end)
