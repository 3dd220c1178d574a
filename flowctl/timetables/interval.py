"""Airflow-compatible ``flowctl.timetables.interval``: re-exports of interval timetables."""
from __future__ import annotations

from flowctl.core.timetables.interval import CronDataIntervalTimetable, DeltaDataIntervalTimetable

__all__ = ["CronDataIntervalTimetable", "DeltaDataIntervalTimetable"]
