"""Airflow-compatible path ``flowctl.utils.weekday``."""
from __future__ import annotations

from flowctl.sensors.weekday import WeekDay

__all__ = ["WeekDay"]
