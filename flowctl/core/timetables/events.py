"""EventsTimetable: a run at each of a fixed list of instants (Airflow's EventsTimetable).

Each run's data interval is empty, at its event. Without catchup, events before
the latest one due by now are skipped (as a cron schedule without catchup runs its
latest due tick): flowctl's scheduler computes a run when it is due, so the event
due now must still count (Airflow computes it ahead and skips every past event
when first deployed). ``restrict_to_events`` makes a manual run cover the latest
event at or before its trigger time (the first event if none is). A naive event
date is wall-clock time in the default zone, as a naive start_date is. Pure: must not import anything outside ``flowctl.core``.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flowctl.core.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable, past_end, to_utc


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        from flowctl.core import timezones  # pendulum: only for naive dates, as DAG start dates are read

        moment = timezones.make_aware(moment)
    return to_utc(moment)


class EventsTimetable(Timetable):
    """Run at each of ``event_dates``, in date order."""

    def __init__(self, event_dates: Iterable[datetime], restrict_to_events: bool = False,
                 presorted: bool = False, description: str | None = None) -> None:
        del presorted  # Airflow's hint that the dates are sorted; sorting a short list costs nothing
        self.event_dates = sorted(_as_utc(moment) for moment in event_dates)
        self.restrict_to_events = restrict_to_events
        self._description = description if description is not None else self._default_description()

    def _default_description(self) -> str:
        if not self.event_dates:
            return "No events"
        return f"{len(self.event_dates)} events between {self.event_dates[0]} and {self.event_dates[-1]}"

    @property
    def summary(self) -> str:
        """``N events``."""
        return f"{len(self.event_dates)} events"

    @property
    def description(self) -> str:
        """The description given, or the number of events and their first and last dates."""
        return self._description

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime,
    ) -> DagRunInfo | None:
        """The first event after the last run, not before start_date (nor, without catchup, before the
        latest event due by ``now``)."""
        bounds = [restriction.earliest] if restriction.earliest is not None else []
        if not restriction.catchup:
            bounds.append(self._latest_due(to_utc(now)))
        after_last = last_automated_data_interval.end if last_automated_data_interval is not None else None
        for event in self.event_dates:
            if any(event < bound for bound in bounds) or (after_last is not None and event <= after_last):
                continue
            return None if past_end(event, restriction) else DagRunInfo.exact(event)
        return None

    def _latest_due(self, now: datetime) -> datetime:
        """The latest event at or before ``now`` (``now`` itself if none is)."""
        index = bisect_right(self.event_dates, now)
        return self.event_dates[index - 1] if index else now

    def infer_manual_data_interval(self, *, run_after: datetime) -> DataInterval:
        """The trigger time; restricted to events: the latest event by then (or the first event)."""
        run_after = to_utc(run_after)
        if not self.restrict_to_events or not self.event_dates:
            return DataInterval.exact(run_after)
        index = bisect_right(self.event_dates, run_after)
        return DataInterval.exact(self.event_dates[max(index - 1, 0)])

    def _fields(self) -> dict[str, Any]:
        return {"event_dates": [moment.isoformat() for moment in self.event_dates],
                "restrict_to_events": self.restrict_to_events, "description": self._description}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        """Rebuild from ISO ``event_dates``, ``restrict_to_events`` and ``description``."""
        return cls([datetime.fromisoformat(text) for text in data["event_dates"]],
                   restrict_to_events=bool(data.get("restrict_to_events", False)),
                   presorted=True, description=data.get("description"))
