"""Airflow-compatible ``flowctl.timetables.trigger``: re-export of CronTriggerTimetable."""
from __future__ import annotations

from flowctl.core.timetables.trigger import CronTriggerTimetable

__all__ = ["CronTriggerTimetable"]
