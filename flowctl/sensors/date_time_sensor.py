"""Airflow 1 path ``flowctl.sensors.date_time_sensor`` (deprecated in Airflow 2): use ``flowctl.sensors.date_time``."""
from __future__ import annotations

from flowctl.core.airflow_names import warn_deprecated_module
from flowctl.sensors.date_time import DateTimeSensor

warn_deprecated_module("flowctl.sensors.date_time_sensor", "flowctl.sensors.date_time")

__all__ = ["DateTimeSensor"]
