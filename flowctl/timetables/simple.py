"""Airflow-compatible ``flowctl.timetables.simple``: re-exports of the cadence-less timetables."""
from __future__ import annotations

from flowctl.core.timetables.datasets import DatasetTriggeredTimetable
from flowctl.core.timetables.simple import ContinuousTimetable, NullTimetable, OnceTimetable

__all__ = ["ContinuousTimetable", "DatasetTriggeredTimetable", "NullTimetable", "OnceTimetable"]
