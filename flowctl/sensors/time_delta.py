"""TimeDeltaSensor: wait until ``delta`` after the end of the run's data interval.

Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flowctl.sensors.base import BaseSensorOperator


class TimeDeltaSensor(BaseSensorOperator):
    """Succeeds once ``data_interval_end + delta`` has passed."""

    def __init__(self, *, delta: timedelta, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delta = delta

    def target_time(self, context: Mapping[str, Any]) -> Any:
        """The moment this sensor waits for."""
        return context["data_interval_end"] + self.delta

    def poke(self, context: Mapping[str, Any]) -> bool:
        return self.clock() >= self.target_time(context)


# Deferrable variants are not supported; the async name behaves like the sync sensor.
TimeDeltaSensorAsync = TimeDeltaSensor
