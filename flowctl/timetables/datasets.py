"""Airflow-compatible path ``flowctl.timetables.datasets``: re-exports only.

The real code lives in :mod:`flowctl.core.timetables.datasets`.
"""
from __future__ import annotations

from flowctl.core.timetables.datasets import DatasetOrTimeSchedule

__all__ = ["DatasetOrTimeSchedule"]
