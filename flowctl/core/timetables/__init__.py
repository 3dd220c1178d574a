"""Timetables: when a DAG runs and which data interval each run covers.

Owns the schedule model (Airflow 2 semantics) and the translation of a DAG's
``schedule`` argument into a Timetable. Pure: must not import anything outside
``flowctl.core``, the standard library and dateutil.
"""
from __future__ import annotations

from datetime import timedelta, tzinfo
from typing import Any

from flowctl.core.datasets import condition_of
from flowctl.core.errors import DagDefinitionError
from flowctl.core.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable
from flowctl.core.timetables.cron import CRON_PRESETS, CronSchedule
from flowctl.core.timetables.datasets import DatasetOrTimeSchedule, DatasetTriggeredTimetable
from flowctl.core.timetables.events import EventsTimetable
from flowctl.core.timetables.interval import (
    CronDataIntervalTimetable,
    DeltaDataIntervalTimetable,
    relativedelta,
)
from flowctl.core.timetables.simple import ContinuousTimetable, NullTimetable, OnceTimetable
from flowctl.core.timetables.trigger import CronTriggerTimetable

__all__ = [
    "CRON_PRESETS",
    "ContinuousTimetable",
    "CronDataIntervalTimetable",
    "CronSchedule",
    "CronTriggerTimetable",
    "DagRunInfo",
    "DatasetOrTimeSchedule",
    "DatasetTriggeredTimetable",
    "DataInterval",
    "DeltaDataIntervalTimetable",
    "EventsTimetable",
    "NullTimetable",
    "OnceTimetable",
    "TimeRestriction",
    "Timetable",
    "timetable_from_dict",
    "timetable_from_schedule",
]


def timetable_from_schedule(schedule: object, timezone: str | tzinfo = "UTC") -> Timetable:
    """The Timetable for a DAG's ``schedule`` (or ``schedule_interval``) argument.

    Accepts None, ``"@once"``, ``"@continuous"``, a cron preset or expression,
    a ``timedelta`` (or dateutil ``relativedelta``), a Timetable (returned as is), or
    datasets: a list of them (all must be updated) or a condition (``a | b``, ``a & b``).
    """
    if schedule is None:
        return NullTimetable()
    if isinstance(schedule, Timetable):
        return schedule
    if isinstance(schedule, str):
        return _from_string(schedule.strip(), timezone)
    if isinstance(schedule, timedelta):
        return DeltaDataIntervalTimetable(schedule)
    if relativedelta is not None and isinstance(schedule, relativedelta):
        return DeltaDataIntervalTimetable(schedule)
    condition = condition_of(schedule)  # Airflow: a list of datasets, or a condition of them
    if condition is not None:
        return DatasetTriggeredTimetable(condition)
    if isinstance(schedule, (list, tuple, set, frozenset)):
        raise DagDefinitionError(f"an empty list is not a schedule ({schedule!r}): list Dataset objects, or use None")
    raise DagDefinitionError(
        f"unsupported schedule {schedule!r}: use None, a cron string or preset, "
        "a timedelta, a Timetable, or datasets"
    )


def _from_string(schedule: str, timezone: str | tzinfo) -> Timetable:
    if schedule == "@once":
        return OnceTimetable()
    if schedule == "@continuous":
        return ContinuousTimetable()
    return CronDataIntervalTimetable(schedule, timezone)


def timetable_from_dict(data: dict[str, Any]) -> Timetable:
    """Rebuild a timetable from :meth:`Timetable.serialize` output."""
    type_name = data.get("__type")
    cls = Timetable.registry.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        raise DagDefinitionError(
            f"unknown timetable type {type_name!r}: import the module that defines it first"
        )
    fields = {key: value for key, value in data.items() if key != "__type"}
    return cls.deserialize(fields)
