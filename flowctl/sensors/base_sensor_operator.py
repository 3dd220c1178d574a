"""Airflow 1 path ``flowctl.sensors.base_sensor_operator`` (deprecated in Airflow 2): use ``flowctl.sensors.base``."""
from __future__ import annotations

from flowctl.core.airflow_names import warn_deprecated_module
from flowctl.sensors.base import BaseSensorOperator

warn_deprecated_module("flowctl.sensors.base_sensor_operator", "flowctl.sensors.base")

__all__ = ["BaseSensorOperator"]
