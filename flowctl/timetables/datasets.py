"""Airflow-compatible path ``flowctl.timetables.datasets``: dataset schedules are not supported."""
from __future__ import annotations

from flowctl.core.airflow_names import DATASETS_WAY, module_getattr

__all__: list[str] = []

__getattr__ = module_getattr(__name__, {"DatasetOrTimeSchedule": DATASETS_WAY})
