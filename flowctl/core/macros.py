"""The ``macros`` namespace of the template context (Airflow's ``airflow.macros``).

Templates reach these as ``{{ macros.ds_add(ds, 7) }}`` or
``{{ macros.datetime(2024, 1, 1) }}``; the module object itself is what
:func:`flowctl.core.context.build_context` puts under ``macros``. The names
follow Airflow: ``datetime`` and ``timedelta`` are the classes, ``time``,
``uuid`` and ``json`` the modules, ``random`` the function ``random.random``.

Pure: no I/O; must not import anything outside the standard library, pendulum
(and dateutil, which pendulum depends on) and flowctl.core.
"""
from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta
from random import random

import dateutil.relativedelta  # noqa: F401 -- templates use macros.dateutil.relativedelta, as in Airflow
import pendulum

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

DS_FORMAT = "%Y-%m-%d"


def ds_add(ds: str, days: int) -> str:
    """Add ``days`` (may be negative) to a ``YYYY-MM-DD`` date string."""
    if not days:
        return str(ds)
    shifted = datetime.strptime(str(ds), DS_FORMAT) + timedelta(days=days)
    return shifted.strftime(DS_FORMAT)


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """Re-format a date string: parse it with ``input_format``, print it with ``output_format``."""
    return datetime.strptime(str(ds), input_format).strftime(output_format)


def datetime_diff_for_humans(dt: datetime, since: datetime | None = None) -> str:
    """Say how far ``dt`` is from ``since`` in words ("2 days ago"); ``since`` defaults to now."""
    other = pendulum.instance(since) if since is not None else None
    return pendulum.instance(dt).diff_for_humans(other)
