"""Airflow-compatible ``flowctl.timetables.events``: re-export of EventsTimetable."""
from __future__ import annotations

from flowctl.core.timetables.events import EventsTimetable

__all__ = ["EventsTimetable"]
