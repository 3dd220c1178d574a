"""Airflow path ``flowctl.sensors.sql``: SqlSensor is not supported (importing it says what to do
instead: a PythonSensor running your own query)."""
from __future__ import annotations

from flowctl.core.airflow_names import SQL_SENSOR_WAY, module_getattr

__getattr__ = module_getattr(__name__, {"SqlSensor": SQL_SENSOR_WAY})
