"""Airflow path ``flowctl.plugins_manager``: plugins are not supported (importing AirflowPlugin says
what to do instead: plain modules that DAG files import)."""
from __future__ import annotations

from flowctl.core.airflow_names import PLUGINS_WAY, module_getattr

__getattr__ = module_getattr(__name__, {"AirflowPlugin": PLUGINS_WAY})
