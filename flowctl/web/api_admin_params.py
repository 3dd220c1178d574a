"""What the admin REST API (:mod:`flowctl.web.api_admin`) reads from a request, checked, in Airflow 2's terms.

Owns paging of in-memory lists (``limit``, ``offset``), sorting (``order_by``,
``-`` for descending), the type checks of JSON bodies, ``update_mask`` and the
masking of variable values; the readers every API module shares are
:mod:`flowctl.web.api_params`'s. Every bad
input ends in ``abort(400)`` (a JSON error body from the app's handler),
never a 500. Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import request

from flowctl.core.masking import REDACTED, should_mask
from flowctl.web.api_params import bad as bad_request
from flowctl.web.api_params import int_arg, limit_arg

T = TypeVar("T")
MAX_OFFSET = 10**9


# --- query string ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Paging:
    """``limit`` and ``offset`` of a list."""

    limit: int
    offset: int


def paging() -> Paging:
    """``?limit=&offset=`` (Airflow's defaults: 100 from 0; a larger limit than the maximum is capped)."""
    return Paging(limit_arg(), int_arg("offset", 0, 0, MAX_OFFSET))


@dataclass(frozen=True, slots=True)
class Order:
    """A sort: the attribute of the record, and whether descending."""

    attribute: str
    descending: bool


def order_arg(fields: Mapping[str, str], default: str) -> Order:
    """``?order_by=field`` or ``-field``; ``fields`` maps API names to record attributes."""
    raw = request.args.get("order_by", "").strip() or default
    name = raw[1:] if raw.startswith("-") else raw
    if name not in fields:
        bad_request(f"order_by {raw[:40]!r} is not one of {', '.join(sorted(fields))} (prefix - to reverse)")
    return Order(fields[name], raw.startswith("-"))


def page_of(items: Sequence[T], order: Order, page: Paging) -> list[T]:
    """Sort records in memory (None first, as ascending SQL on SQLite) and cut one page out."""
    def key(item: T) -> tuple[bool, Any]:
        value = getattr(item, order.attribute)
        return (value is not None, value)
    ordered = sorted(items, key=key, reverse=order.descending)
    return ordered[page.offset:page.offset + page.limit]


def update_mask(allowed: Iterable[str]) -> frozenset[str] | None:
    """``?update_mask=a,b`` (or repeated) as field names; None when not given."""
    raw = [part.strip() for value in request.args.getlist("update_mask") for part in value.split(",")]
    names = frozenset(part for part in raw if part)
    if not names:
        return None
    unknown = sorted(names - set(allowed))
    if unknown:
        bad_request(f"update_mask names field(s) that cannot be updated: {', '.join(unknown)}; "
                    f"updatable: {', '.join(sorted(allowed))}")
    return names


# --- JSON bodies -----------------------------------------------------------------------------------

def changes_of(body: Mapping[str, Any], mask: frozenset[str] | None, updatable: Iterable[str]) -> dict[str, Any]:
    """The fields a PATCH changes: those in ``update_mask`` (each must be in the body), else every
    updatable field the body has; 400 when that is none."""
    if mask is not None:
        missing = sorted(mask - set(body))
        if missing:
            bad_request(f"update_mask names {', '.join(missing)} but the body has no such field")
        return {name: body[name] for name in mask if name in set(updatable)}
    changes = {name: body[name] for name in updatable if name in body}
    if not changes:
        bad_request(f"nothing to update: give one of {', '.join(sorted(updatable))}")
    return changes


def check_types(body: Mapping[str, Any], types: Mapping[str, Callable[[Any], bool]],
                required: Iterable[str] = ()) -> None:
    """400 when a required field is missing or a field's value fails its type check."""
    missing = sorted(name for name in required if body.get(name) is None)
    if missing:
        bad_request(f"missing required field(s): {', '.join(missing)}")
    for name, ok in types.items():
        if name in body and not ok(body[name]):
            bad_request(f"{name} has the wrong type or value: {json.dumps(body[name])[:60]}")


def is_text(value: Any) -> bool:
    return isinstance(value, str)


def is_text_or_null(value: Any) -> bool:
    return value is None or isinstance(value, str)


def is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- masking -----------------------------------------------------------------------------------------

def masked_value(key: str, value: str | None) -> str | None:
    """A variable's value as the API shows it: ``***`` when its key names a secret."""
    return REDACTED if value not in (None, "") and should_mask(key) else value
