"""Airflow 1 path ``flowctl.sensors.external_task_sensor`` (deprecated in Airflow 2): use ``flowctl.sensors.external_task``."""
from __future__ import annotations

from flowctl.core.airflow_names import warn_deprecated_module
from flowctl.sensors.external_task import ExternalTaskMarker, ExternalTaskSensor

warn_deprecated_module("flowctl.sensors.external_task_sensor", "flowctl.sensors.external_task")

__all__ = ["ExternalTaskMarker", "ExternalTaskSensor"]
