"""Strict reading of REST API input: query parameters and JSON bodies, every mistake a 400.

Airflow's API refuses what it does not know; a script that sends ``dag_id_patern=x``
(a typo) must learn so instead of acting on every DAG. Each reader here aborts with
400 and a ``detail`` naming the parameter; dates go through
:func:`flowctl.web.browse.parse_when` (``core.timezones.parse_moment``).
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any, NoReturn

from flask import abort, request

from flowctl.core.errors import FlowctlError
from flowctl.web.browse import parse_when

MAX_LIMIT = 1_000
PAGING = frozenset({"limit", "offset"})
TRUE_WORDS, FALSE_WORDS = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})
#: Airflow's ``…_gte`` / ``…_lte`` filters, by the name the API gives the field.
RANGE_SUFFIXES = ("_gte", "_lte")


def bad(detail: str) -> NoReturn:
    """Abort the request with 400 and this detail."""
    abort(400, description=detail)


def check_known_args(known: Collection[str]) -> None:
    """400 naming any query parameter the endpoint does not take."""
    unknown = sorted(set(request.args) - set(known))
    if unknown:
        bad(f"unknown query parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter within ``[low, high]``."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        bad(f"{name} must be a whole number, not {raw[:20]!r}")
    if not low <= value <= high:
        bad(f"{name} must be between {low} and {high}")
    return value


def paging() -> tuple[int, int]:
    """(offset, limit) of a list, Airflow's defaults: offset 0, limit 100."""
    return int_arg("offset", 0, 0, 10**9), int_arg("limit", 100, 1, MAX_LIMIT)


def bool_arg(name: str) -> bool | None:
    """A true/false query parameter; None when absent."""
    raw = request.args.get(name)
    if raw is None:
        return None
    word = raw.strip().lower()
    if word not in TRUE_WORDS | FALSE_WORDS:
        bad(f"{name} must be true or false, not {raw[:20]!r}")
    return word in TRUE_WORDS


def list_arg(name: str) -> tuple[str, ...]:
    """A repeatable query parameter: ``tags=a&tags=b`` or ``tags=a,b``."""
    return tuple(v.strip() for raw in request.args.getlist(name) for v in raw.split(",") if v.strip())


def choices_arg(name: str, allowed: Collection[str]) -> tuple[str, ...]:
    """A repeatable query parameter (:func:`list_arg`), each value allowed."""
    return check_choices(name, list_arg(name), allowed)


def check_choices(name: str, values: Iterable[str], allowed: Collection[str]) -> tuple[str, ...]:
    """The values, or 400 naming the first one not allowed."""
    out = tuple(values)
    for value in out:
        if value not in allowed:
            bad(f"{name} {value!r} is not one of {', '.join(sorted(allowed))}")
    return out


def order_by_arg(allowed: Collection[str], raw: str | None = None) -> str:
    """``order_by`` (a field, ``-`` before it for descending) from ``allowed``; "" when absent."""
    text = (request.args.get("order_by") if raw is None else raw) or ""
    if text and text.removeprefix("-") not in allowed:
        bad(f"order_by {text!r} is not one of {', '.join(sorted(allowed))} (prefix - to reverse)")
    return text


def when(name: str, text: Any) -> datetime | None:
    """A date from the query or body (None when absent); 400 naming ``name`` when not a date."""
    if text is None:
        return None
    if not isinstance(text, str):
        bad(f"{name} must be a date string")
    try:
        return parse_when(text)
    except FlowctlError as error:
        bad(f"{name}: {error}")


def date_ranges(source: Mapping[str, Any], fields: Iterable[str]) -> tuple[tuple[str, Any, Any], ...]:
    """(field, gte, lte) for each field given ``field_gte`` / ``field_lte`` in ``source``."""
    out = []
    for field in fields:
        low, high = (when(field + s, source.get(field + s)) for s in RANGE_SUFFIXES)
        if low is not None or high is not None:
            out.append((field, low, high))
    return tuple(out)


def range_names(fields: Iterable[str]) -> set[str]:
    """The ``…_gte`` / ``…_lte`` parameter names of these fields."""
    return {f + s for f in fields for s in RANGE_SUFFIXES}


# --- JSON bodies ----------------------------------------------------------------------------------

def json_body(known: Collection[str], *, required: Collection[str] = ()) -> dict[str, Any]:
    """The request's JSON object (``{}`` when empty); 400 for other JSON, unknown or missing fields."""
    body = request.get_json(silent=True)
    if body is None and not request.get_data():
        body = {}
    if not isinstance(body, dict):
        bad("send a JSON object (Content-Type: application/json)")
    unknown = sorted(set(body) - set(known))
    if unknown:
        bad(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    missing = sorted(set(required) - set(body))
    if missing:
        bad(f"missing field(s) {', '.join(missing)}")
    return body


def body_bool(body: Mapping[str, Any], name: str, default: bool) -> bool:
    """A boolean field (JSON true/false only)."""
    value = body.get(name, default)
    if not isinstance(value, bool):
        bad(f"{name} must be true or false")
    return value


def body_str(body: Mapping[str, Any], name: str) -> str | None:
    """A string field, None when absent or null."""
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        bad(f"{name} must be a string")
    return value


def body_strs(body: Mapping[str, Any], name: str) -> tuple[str, ...] | None:
    """A list-of-strings field, None when absent or null."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        bad(f"{name} must be a list of strings")
    return tuple(value)


def body_int(body: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    """A whole-number field within ``[low, high]``."""
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        bad(f"{name} must be a whole number between {low} and {high}")
    return value
