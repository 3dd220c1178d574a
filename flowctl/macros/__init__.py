"""Airflow-compatible path ``flowctl.macros`` (Airflow: ``airflow.macros``); a re-export only.

The real code lives in :mod:`flowctl.core.macros`.
"""
from __future__ import annotations

from flowctl.core.macros import (
    datetime,
    datetime_diff_for_humans,
    dateutil,
    ds_add,
    ds_format,
    json,
    random,
    time,
    timedelta,
    uuid,
)

__all__ = [
    "datetime",
    "datetime_diff_for_humans",
    "dateutil",
    "ds_add",
    "ds_format",
    "json",
    "random",
    "time",
    "timedelta",
    "uuid",
]
