"""Airflow 1 path ``flowctl.sensors.time_delta_sensor`` (deprecated in Airflow 2): use ``flowctl.sensors.time_delta``."""
from __future__ import annotations

from flowctl.core.airflow_names import warn_deprecated_module
from flowctl.sensors.time_delta import TimeDeltaSensor

warn_deprecated_module("flowctl.sensors.time_delta_sensor", "flowctl.sensors.time_delta")

__all__ = ["TimeDeltaSensor"]
