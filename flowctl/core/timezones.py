"""Aware datetimes for DAG code: what Airflow 2's ``airflow.utils.timezone`` offers.

``flowctl.utils.timezone`` re-exports these (``timezone.utcnow()``,
``timezone.datetime(2024, 1, 1)``, ``timezone.parse``, ``make_aware``,
``convert_to_utc``, ``utc``). A naive value is taken to be in :data:`TIMEZONE`,
the process's default zone: the zone of naive start and end dates in DAG files,
and so the zone a DAG's cron schedule runs in. It is UTC until
:func:`use_default_timezone` sets ``[core] default_timezone``: Airflow reads that
option here at import time, flowctl reads no configuration at import time, so
each process that imports DAG files (parser children, the task runner's zygote,
the CLI, ``DAG.test()``, ``DagBag``) calls it once, at its start, from its
loaded Settings, before the first DAG file import; forks inherit it.
:func:`utcnow` reads the clock: it is for DAG and task code, not for flowctl's
own, which takes the time as an argument.

Must not import anything outside the standard library and pendulum.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum

#: UTC, as Airflow's ``timezone.utc`` (a pendulum timezone).
utc = pendulum.UTC
#: The zone of naive datetimes in this process (see the module docstring): read it as
#: ``timezones.TIMEZONE`` when needed, never bind it at import (:func:`use_default_timezone` rebinds it).
TIMEZONE: Any = utc


def use_default_timezone(name: str) -> None:
    """Make ``name`` (``utc`` or an IANA zone such as ``Europe/Amsterdam``: ``[core] default_timezone``) the
    zone of naive datetimes in this process from now on; called where a process starts, before it imports
    a DAG file."""
    global TIMEZONE
    text = name.strip()
    TIMEZONE = utc if text.lower() == "utc" else pendulum.timezone(text)


def default_timezone_name() -> str:
    """The name of :data:`TIMEZONE` (``"UTC"``, ``"Europe/Amsterdam"``)."""
    return str(getattr(TIMEZONE, "name", None) or TIMEZONE)


def utcnow() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(utc)


#: The forms :func:`parse_moment` takes, for error messages.
MOMENT_FORMS = "YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] or with a zone, e.g. 2024-01-31T06:00:00+02:00 or ...Z"


def parse_moment(text: str, zone: Any = None) -> dt.datetime:
    """A date or date-time a person typed (CLI, form, API, a rendered template) as an aware UTC
    datetime: ISO 8601, ``Z`` for UTC, a space instead of the ``T``; a naive one is in ``zone``
    (UTC if None). ValueError naming the forms taken, or saying it is off the calendar in UTC."""
    stripped = text.strip()
    try:
        value = dt.datetime.fromisoformat(stripped.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise ValueError(f"{stripped[:40]!r} is not a date or date-time ({MOMENT_FORMS})") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone or dt.timezone.utc)
    try:
        return value.astimezone(dt.timezone.utc)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in the year 0 in UTC, which datetime cannot hold
        raise ValueError(f"{stripped[:40]!r} is not between the years 1 and 9999 in UTC") from None


def utc_epoch() -> dt.datetime:
    """1970-01-01T00:00:00 UTC."""
    return dt.datetime(1970, 1, 1, tzinfo=utc)


def is_localized(value: dt.datetime) -> bool:
    """True when ``value`` is aware (has a UTC offset)."""
    return value.utcoffset() is not None


def is_naive(value: dt.datetime) -> bool:
    """True when ``value`` has no UTC offset."""
    return value.utcoffset() is None


def datetime(*args: Any, **kwargs: Any) -> dt.datetime:
    """``datetime.datetime(...)`` in :data:`TIMEZONE` unless ``tzinfo`` is given."""
    kwargs.setdefault("tzinfo", TIMEZONE)
    return dt.datetime(*args, **kwargs)


def _zone(timezone: Any) -> Any:
    if timezone is None:
        return TIMEZONE
    return pendulum.timezone(timezone) if isinstance(timezone, str) else timezone


def make_aware(value: dt.datetime | None, timezone: Any = None) -> dt.datetime | None:
    """Naive ``value`` read as wall-clock time in ``timezone`` (default :data:`TIMEZONE`);
    ValueError for an aware one, as in Airflow."""
    if value is None:
        return None
    if is_localized(value):
        raise ValueError(f"make_aware expects a naive datetime, got {value}")
    zone = _zone(timezone)
    if isinstance(zone, pendulum.Timezone):
        return zone.convert(value)  # pendulum decides a wall time in a DST gap or overlap
    return value.replace(tzinfo=zone)


def make_naive(value: dt.datetime, timezone: Any = None) -> dt.datetime:
    """Aware ``value`` as naive wall-clock time in ``timezone`` (default :data:`TIMEZONE`)."""
    if is_naive(value):
        raise ValueError("make_naive() cannot be applied to a naive datetime")
    local = value.astimezone(_zone(timezone))
    return dt.datetime(local.year, local.month, local.day, local.hour, local.minute, local.second,
                       local.microsecond)


def convert_to_utc(value: dt.datetime | None) -> dt.datetime | None:
    """``value`` in UTC; a naive one is first taken to be in :data:`TIMEZONE`."""
    if value is None:
        return None
    aware = make_aware(value) if is_naive(value) else value
    assert aware is not None
    return aware.astimezone(utc)


def coerce_datetime(value: dt.datetime | None, tz: Any = None) -> pendulum.DateTime | None:
    """``value`` as a pendulum DateTime; a naive one is wall-clock time in ``tz`` (default :data:`TIMEZONE`)."""
    if value is None:
        return None
    if isinstance(value, pendulum.DateTime) and value.tzinfo is not None:
        return value
    if value.tzinfo is None:
        return pendulum.instance(value, tz=_zone(tz))
    return pendulum.instance(value)


def parse(string: str, timezone: Any = None, *, strict: bool = False) -> pendulum.DateTime:
    """An ISO 8601 (or other pendulum-readable) string as an aware datetime; a value without an
    offset is in ``timezone`` (default :data:`TIMEZONE`)."""
    return pendulum.parse(string, tz=_zone(timezone), strict=strict)  # type: ignore[return-value]


def from_timestamp(timestamp: float, tz: Any = utc) -> pendulum.DateTime:
    """A POSIX timestamp as an aware datetime in ``tz``."""
    return pendulum.from_timestamp(timestamp, tz=_zone(tz) if tz != "local" else pendulum.local_timezone())
