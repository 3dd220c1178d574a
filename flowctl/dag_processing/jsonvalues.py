"""Free-form Python values <-> JSON-safe values, stable across parses.

Used for the parts of a DAG whose type is not fixed: default_args, param
values, template field sources, mapped tasks' partial and expand arguments.
Typed values become ``{"__type": ..., "__var": ...}`` (Airflow's shape), an
XComArg becomes ``{"__type": "xcomarg", "__var": {"task_id", "key"}}`` (its
``.map()`` / ``.zip()`` / ``.concat()`` forms ``"xcomarg_map"`` with ``{"arg",
"callables"}`` — the callables' dotted names only —, ``"xcomarg_zip"`` with
``{"args"}`` and ``"fillvalue"`` when one was given, ``"xcomarg_concat"`` with
``{"args"}``), a callable its dotted name, and any other object a description
without memory addresses, so that the same file always gives the same JSON (and hash).
Must not import db, web, cli or scheduler.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any


def encode_value(value: Any) -> Any:
    """A JSON-safe form of ``value`` (lossy only for objects JSON cannot hold)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Enum):
        return encode_value(value.value)
    if isinstance(value, datetime):
        return {"__type": "datetime", "__var": value.isoformat()}
    if isinstance(value, date):
        return {"__type": "date", "__var": value.isoformat()}
    if isinstance(value, timedelta):
        return {"__type": "timedelta", "__var": value.total_seconds()}
    if isinstance(value, dict):
        return {str(k): encode_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_value(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((encode_value(v) for v in value), key=repr)
    to_ref = getattr(value, "to_ref", None)
    if callable(to_ref):  # an XComArg: its form's type and what it is made of (nested XComArgs too)
        return {"__type": getattr(value, "ref_type", None) or "xcomarg", "__var": encode_value(to_ref())}
    return _describe_object(value)


def _describe_object(value: Any) -> Any:
    if callable(value) and hasattr(value, "__qualname__"):
        return {"__type": "callable", "__var": f"{getattr(value, '__module__', '?')}.{value.__qualname__}"}
    text = repr(value)
    if " at 0x" in text or text.startswith("<"):
        text = f"{type(value).__module__}.{type(value).__qualname__}"
    return {"__type": "object", "__var": text}


def decode_value(value: Any) -> Any:
    """The Python value for :func:`encode_value` output (objects stay descriptions)."""
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get("__type")
    if kind is None or "__var" not in value or len(value) != 2:
        return {k: decode_value(v) for k, v in value.items()}
    raw = value["__var"]
    if kind == "datetime":
        return datetime.fromisoformat(raw)
    if kind == "date":
        return date.fromisoformat(raw)
    if kind == "timedelta":
        return timedelta(seconds=raw)
    return value


def seconds_of(value: Any) -> float | None:
    """A duration field as seconds (None stays None; numbers are already seconds)."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def timedelta_of(value: float | None) -> timedelta | None:
    """The inverse of :func:`seconds_of`."""
    return None if value is None else timedelta(seconds=value)


def iso_of(value: Any) -> str | None:
    """A datetime field as ISO 8601 text (None stays None)."""
    return None if value is None else value.isoformat()


def datetime_of(value: str | None) -> datetime | None:
    """The inverse of :func:`iso_of`."""
    return None if value is None else datetime.fromisoformat(value)
