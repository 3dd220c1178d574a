"""Airflow 1 path ``flowctl.sensors.weekday_sensor`` (deprecated in Airflow 2): use ``flowctl.sensors.weekday``."""
from __future__ import annotations

from flowctl.core.airflow_names import warn_deprecated_module
from flowctl.sensors.weekday import DayOfWeekSensor

warn_deprecated_module("flowctl.sensors.weekday_sensor", "flowctl.sensors.weekday")

__all__ = ["DayOfWeekSensor"]
