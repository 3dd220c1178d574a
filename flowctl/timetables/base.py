"""Airflow-compatible ``flowctl.timetables.base``: re-exports of the timetable contract."""
from __future__ import annotations

from flowctl.core.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable

__all__ = ["DagRunInfo", "DataInterval", "TimeRestriction", "Timetable"]
