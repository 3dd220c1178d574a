"""How values look on pages: durations, state names, JSON (dates: ``ui_time``); Jinja filters registered by the app.

Pure functions (no Flask imports) so they are tested without an app.
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any

from flowctl.core.xcom_values import decode_xcom_value

#: Every state a page may show, in the order legends list them (Airflow's palette meaning in CSS).
TI_STATES: tuple[str, ...] = ("success", "running", "failed", "upstream_failed", "up_for_retry",
                              "up_for_reschedule", "queued", "scheduled", "deferred", "skipped",
                              "removed", "pending")
RUN_STATES: tuple[str, ...] = ("queued", "running", "success", "failed")


def format_iso(value: datetime | None) -> str:
    """ISO 8601 (for machine-readable attributes); empty for None."""
    return "" if value is None else value.isoformat()


def format_duration(seconds: float | timedelta | None) -> str:
    """``1h 02m 03s``, ``4m 05s``, ``6.2s``; empty for None."""
    if seconds is None:
        return ""
    total = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds)
    if total < 60:
        return f"{total:.1f}s"
    whole = int(round(total))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def run_duration(start: datetime | None, end: datetime | None, now: datetime) -> str:
    """How long something took (or has been running)."""
    if start is None:
        return ""
    return format_duration((end or now) - start)


def state_class(state: str | None) -> str:
    """The CSS class of a state badge (``state-none`` when there is no state)."""
    text = (state or "none").lower()
    return f"state-{text}" if text.replace("_", "").isalpha() else "state-none"


def to_json(value: Any) -> str:
    """Pretty JSON for showing conf and values (escaped later by the template)."""
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def format_xcom(stored: Any) -> str:
    """A stored XCom value as pretty JSON of what a task pulls: datetimes, dates and times in ISO
    8601, timedeltas as ``1 day, 2:00:00``, Decimals as their text, sets as lists (plain values
    exactly as :func:`to_json` shows them)."""
    return json.dumps(decode_xcom_value(stored), indent=2, sort_keys=True, default=_shown)


def _shown(value: Any) -> Any:
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return str(value)
