"""Airflow-compatible path ``flowctl.utils.timezone`` (``from airflow.utils import timezone``)."""
from __future__ import annotations

from flowctl.core.timezones import (
    TIMEZONE, coerce_datetime, convert_to_utc, datetime, from_timestamp, is_localized, is_naive, make_aware,
    make_naive, parse, utc, utc_epoch, utcnow,
)

__all__ = ["TIMEZONE", "coerce_datetime", "convert_to_utc", "datetime", "from_timestamp", "is_localized", "is_naive",
           "make_aware", "make_naive", "parse", "utc", "utc_epoch", "utcnow"]
