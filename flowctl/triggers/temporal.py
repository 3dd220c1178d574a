"""DateTimeTrigger and TimeDeltaTrigger: fire at a moment (Airflow's ``airflow.triggers.temporal``).

The event's payload is the moment waited for. A TimeDeltaTrigger is a DateTimeTrigger for
``now + delta``, fixed when the task defers (it serializes as a DateTimeTrigger).
Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

from flowctl.triggers.base import BaseTrigger, TriggerEvent

#: The longest single sleep: a long wait wakes now and then, so a clock change is noticed.
MAX_SLEEP = 3600.0


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(timezone.utc)


def seconds_until(moment: datetime, now: datetime) -> float:
    """Seconds from ``now`` to ``moment`` (0 if it is past), at most :data:`MAX_SLEEP`."""
    return max(0.0, min((moment - now).total_seconds(), MAX_SLEEP))


class DateTimeTrigger(BaseTrigger):
    """Fires once ``moment`` (an aware datetime) has come."""

    def __init__(self, moment: datetime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(moment, datetime):
            raise TypeError(f"DateTimeTrigger needs a datetime, got {type(moment).__name__}")
        if moment.tzinfo is None:
            raise ValueError("DateTimeTrigger needs a timezone-aware datetime")
        self.moment = moment

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return "flowctl.triggers.temporal.DateTimeTrigger", {"moment": self.moment}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            wait = seconds_until(self.moment, utcnow())
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        self.log.info("the moment %s has come", self.moment.isoformat())
        yield TriggerEvent(self.moment)


class TimeDeltaTrigger(DateTimeTrigger):
    """Fires ``delta`` after it was made (when the task deferred)."""

    def __init__(self, delta: timedelta, **kwargs: Any) -> None:
        super().__init__(moment=utcnow() + delta, **kwargs)
