"""Airflow-compatible path ``flowctl.utils.timezone`` (``from airflow.utils import timezone``)."""
from __future__ import annotations

from typing import Any

from flowctl.core import timezones
from flowctl.core.timezones import (
    coerce_datetime, convert_to_utc, datetime, from_timestamp, is_localized, is_naive, make_aware, make_naive, parse,
    utc, utc_epoch, utcnow,
)

__all__ = ["TIMEZONE", "coerce_datetime", "convert_to_utc", "datetime", "from_timestamp", "is_localized", "is_naive",
           "make_aware", "make_naive", "parse", "utc", "utc_epoch", "utcnow"]


def __getattr__(name: str) -> Any:
    # TIMEZONE is read when asked for: [core] default_timezone is set after this module is imported.
    if name == "TIMEZONE":
        return timezones.TIMEZONE
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
