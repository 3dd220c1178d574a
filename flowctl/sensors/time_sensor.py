"""TimeSensor: wait until a time of day, read in the DAG's timezone (Airflow 2 semantics).

The sensor holds when the current time of day is strictly after ``target_time``;
it does not look at the date, so after midnight it waits again. ``dag.timezone``
names the zone (UTC for a task outside a DAG); a fixed-offset zone, which has
no name pendulum knows, is taken from the DAG's start date.
``TimeSensorAsync`` defers to a DateTimeTrigger at that time of today instead (no worker
slot while it waits).

Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, time, timezone, tzinfo
from typing import Any

import pendulum

from flowctl.core.errors import DagDefinitionError
from flowctl.sensors.base import BaseSensorOperator

log = logging.getLogger("flowctl.task")


def dag_zone(dag: Any) -> tzinfo:
    """The timezone of ``dag`` (UTC when there is no DAG)."""
    if dag is None:
        return timezone.utc
    try:
        return pendulum.timezone(dag.timezone)
    except ValueError:  # a fixed offset such as "+02:00" is no zone name
        start_date = getattr(dag, "start_date", None)
        return start_date.tzinfo if start_date is not None and start_date.tzinfo is not None else timezone.utc


def is_past_time_of_day(now: datetime, target_time: time, zone: tzinfo) -> bool:
    """Whether ``now``, seen in ``zone``, is later in its day than ``target_time``."""
    return now.astimezone(zone).time().replace(tzinfo=None) > target_time.replace(tzinfo=None)


class TimeSensor(BaseSensorOperator):
    """Succeeds once the time of day (DAG timezone) is past ``target_time``."""

    def __init__(self, *, target_time: time, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(target_time, time):
            raise DagDefinitionError(
                f"target_time of {self.task_id!r} must be a datetime.time, got {type(target_time).__name__}"
            )
        self.target_time = target_time

    def poke(self, context: Mapping[str, Any]) -> bool:
        zone = dag_zone(self.dag)
        log.info("Checking if the time of day in %s is past %s", zone, self.target_time)
        return is_past_time_of_day(self.clock(), self.target_time, zone)


def next_time_of_day(now: datetime, target_time: time, zone: tzinfo) -> datetime:
    """``target_time`` on ``now``'s day in ``zone`` (in UTC); in the past once that time of day has gone."""
    day = now.astimezone(zone).date()
    local = datetime.combine(day, target_time.replace(tzinfo=None))
    aware = pendulum.instance(local, tz=zone) if not isinstance(zone, timezone) else local.replace(tzinfo=zone)
    return aware.astimezone(timezone.utc)


class TimeSensorAsync(TimeSensor):
    """TimeSensor that defers to a DateTimeTrigger at today's ``target_time``: no worker slot while it waits."""

    def execute(self, context: Mapping[str, Any]) -> Any:
        from flowctl.sensors.time_delta import defer_until

        return defer_until(self, next_time_of_day(self.clock(), self.target_time, dag_zone(self.dag)))

    def execute_complete(self, context: Mapping[str, Any], event: Any = None) -> None:
        """Called when the time of day came (the deferral's end)."""
        return None
