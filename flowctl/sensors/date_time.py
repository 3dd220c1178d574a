"""DateTimeSensor: wait until a (templated) point in time.

``target_time`` is a datetime or a string (for example ``"{{ data_interval_end }}"``), parsed
when the sensor runs as Airflow's ``timezone.parse`` does: a value without an offset (a naive
datetime, a literal ``"2024-01-01T12:00:00"``) is wall-clock time in the default zone
(``[core] default_timezone`` of the process that runs the task); one with an offset keeps it.
DateTimeSensorAsync (and ``deferrable=True``) defers to a DateTimeTrigger (at that moment, in
UTC): no worker slot while it waits.
Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from flowctl.core import timezones
from flowctl.core.errors import DagDefinitionError
from flowctl.sensors.base import BaseSensorOperator
from flowctl.sensors.time_delta import defer_until


def parse_target_time(value: str | datetime) -> datetime:
    """An aware datetime from a datetime or an ISO-8601 string; naive: in the default zone, read now."""
    if isinstance(value, str):
        value = timezones.parse(value)
    if not isinstance(value, datetime):
        raise DagDefinitionError(f"target_time must be a datetime or a string, got {value!r}")
    aware = timezones.coerce_datetime(value)
    assert aware is not None
    return aware


class DateTimeSensor(BaseSensorOperator):
    """Succeeds once ``target_time`` has passed."""

    template_fields: ClassVar[Sequence[str]] = ("target_time",)

    def __init__(self, *, target_time: str | datetime, deferrable: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deferrable = deferrable
        if not isinstance(target_time, (str, datetime)):
            raise DagDefinitionError(
                f"target_time of {self.task_id!r} must be a datetime or a string, got {type(target_time).__name__}"
            )
        self.target_time = target_time.isoformat() if isinstance(target_time, datetime) else target_time

    def poke(self, context: Mapping[str, Any]) -> bool:
        return self.clock() >= parse_target_time(self.target_time)

    def execute(self, context: Mapping[str, Any]) -> Any:
        if not self.deferrable:
            return super().execute(context)
        return defer_until(self, timezones.convert_to_utc(parse_target_time(self.target_time)))

    def execute_complete(self, context: Mapping[str, Any], event: Any = None) -> None:
        """Called when the moment came (the deferral's end)."""
        return None


class DateTimeSensorAsync(DateTimeSensor):
    """DateTimeSensor that always defers: no worker slot while it waits."""

    def __init__(self, *, target_time: str | datetime, deferrable: bool = True, **kwargs: Any) -> None:
        super().__init__(target_time=target_time, deferrable=True, **kwargs)
