"""Strict reading of REST API input: query parameters and JSON bodies, every mistake a 400.

Airflow's API refuses what it does not know; a script that sends ``dag_id_patern=x``
(a typo) must learn so instead of acting on every DAG. Each reader here aborts with
400 and a ``detail`` naming the parameter; dates go through
:func:`flowctl.web.browse.parse_when` (``core.timezones.parse_moment``). Page sizes
follow Airflow's ``check_limit`` with the app's settings: above ``[api]
maximum_page_limit`` capped, none (or 0) ``[api] fallback_page_limit``.
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any, NoReturn

from flask import abort, request

from flowctl.core.errors import FlowctlError
from flowctl.core.keys import MAX_MAP_INDEX, check_note
from flowctl.web import context
from flowctl.web.browse import parse_when

PAGING = frozenset({"limit", "offset"})
TRUE_WORDS, FALSE_WORDS = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})
#: Airflow's ``…_gte`` / ``…_lte`` filters, by the name the API gives the field.
RANGE_SUFFIXES = ("_gte", "_lte")
DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def bad(detail: str) -> NoReturn:
    """Abort the request with 400 and this detail."""
    abort(400, description=detail)


def check_known_args(known: Collection[str]) -> None:
    """400 naming any query parameter the endpoint does not take."""
    unknown = sorted(set(request.args) - set(known))
    if unknown:
        bad(f"unknown query parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


def _whole(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        bad(f"{name} must be a whole number, not {raw[:20]!r}")


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter within ``[low, high]``."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    value = _whole(name, raw)
    if not low <= value <= high:
        bad(f"{name} must be between {low} and {high}")
    return value


def page_limits() -> tuple[int, int]:
    """(maximum, fallback) page size: ``[api] maximum_page_limit`` and ``fallback_page_limit`` of the app's
    settings (the fallback no larger than the maximum)."""
    settings = context.settings()
    maximum = int(settings.get("api", "maximum_page_limit"))
    return maximum, min(int(settings.get("api", "fallback_page_limit")), maximum)


def page_size(limit: int) -> int:
    """Airflow's ``check_limit`` of a limit from 0: 0 is the fallback page size, above the maximum the maximum."""
    maximum, fallback = page_limits()
    return fallback if limit == 0 else min(limit, maximum)


def limit_arg() -> int:
    """``?limit=``: capped, not refused, when above the maximum (a script asking for 5,000 gets pages of
    the maximum and pages on with ``offset``); 400 when negative or not a whole number."""
    raw = request.args.get("limit")
    value = 0 if raw is None or raw == "" else _whole("limit", raw)
    if value < 0:
        maximum, fallback = page_limits()
        bad(f"limit must be a whole number from 1 (0: the default, {fallback}; above {maximum}: {maximum})")
    return page_size(value)


def paging() -> tuple[int, int]:
    """(offset, limit) of a list, Airflow's defaults: offset 0, limit 100."""
    return int_arg("offset", 0, 0, 10**9), limit_arg()


def map_index_arg() -> int:
    """``?map_index=`` (-1, a task that is not mapped, when absent)."""
    return int_arg("map_index", -1, -1, MAX_MAP_INDEX)


def check_map_index(map_index: int) -> None:
    """404 for a map index in a path that no task instance can have (never a database overflow)."""
    if not -1 <= map_index <= MAX_MAP_INDEX:
        abort(404, description=f"no task instance has map_index {map_index}: "
                               f"map_index must be between -1 and {MAX_MAP_INDEX}")


def number_arg(name: str) -> float | None:
    """A finite decimal query parameter (``5``, ``0.5``, ``1e3``) in ASCII; None when absent. ``float``
    alone takes "nan", "inf", "1_0" and a full-width digit."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if not DECIMAL.fullmatch(raw) or not math.isfinite(float(raw)):
        bad(f"{name} must be a number, such as 5 or 0.5, not {raw[:20]!r}")
    return float(raw)


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


def body_number(body: Mapping[str, Any], name: str) -> float | None:
    """A finite JSON number field (not true or false, which Python counts as 1 and 0, nor a string);
    None when absent or null."""
    value = body.get(name)
    if value is None:
        return None
    try:
        number = None if isinstance(value, bool) or not isinstance(value, (int, float)) else float(value)
    except OverflowError:  # an integer of 400 digits
        number = None
    if number is None or not math.isfinite(number):
        bad(f"{name} must be a finite number")
    return number


def body_int(body: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    """A whole-number field within ``[low, high]``."""
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        bad(f"{name} must be a whole number between {low} and {high}")
    return value


def note_body() -> str | None:
    """The ``note`` of a ``{"note": ...}`` body (null removes the note), at most MAX_NOTE characters."""
    note = body_str(json_body({"note"}, required=("note",)), "note")
    check_note(note)  # ParamValidationError -> 400
    return note


def body_page_limit(body: Mapping[str, Any]) -> int:
    """``page_limit`` of a list body: a whole number from 1, above the maximum capped as ``?limit=`` is;
    the fallback page size when absent."""
    if "page_limit" not in body:
        return page_size(0)
    value = body["page_limit"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        maximum = page_limits()[0]
        bad(f"page_limit must be a whole number from 1 (above {maximum}: {maximum})")
    return page_size(value)
