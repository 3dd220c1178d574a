"""Airflow-compatible path ``flowctl.utils.dates``: ``days_ago`` (deprecated in Airflow too).

Unlike most flowctl code this reads the clock: it exists for DAG files that
call ``days_ago(n)`` as a start_date. The result is midnight UTC ``n`` days ago.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone


def days_ago(n: int, hour: int = 0, minute: int = 0, second: int = 0, microsecond: int = 0) -> datetime:
    """Today's date at the given time (UTC), minus ``n`` days."""
    today = datetime.now(timezone.utc).date()
    moment = datetime.combine(today, time(hour, minute, second, microsecond), tzinfo=timezone.utc)
    return moment - timedelta(days=n)
