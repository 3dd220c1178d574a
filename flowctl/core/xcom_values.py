"""What an XCom value may be, and its stored form: JSON of at most ``[core] xcom_max_size`` bytes. Pure.

A task may push JSON data (dicts, lists, tuples, str, int, float, bool, None)
holding, at any depth, ``datetime.datetime`` (naive or aware; pendulum's
DateTime too), ``datetime.date``, ``datetime.time``, ``datetime.timedelta``,
``decimal.Decimal`` (what database drivers give for NUMERIC columns), ``set``
and ``frozenset`` (Airflow 2's XCom keeps these too).
:func:`encode_xcom_value` turns each of those into a tagged dict, where the
value is pushed; :func:`decode_xcom_value` turns it back, where it is pulled:

    {"__flowctl_type__": "datetime", "value": "2024-01-01T00:00:00+00:00"}
    {"__flowctl_type__": "date", "value": "2024-01-01"}
    {"__flowctl_type__": "time", "value": "06:30:00"}
    {"__flowctl_type__": "timedelta", "value": 5400}       (seconds, exact below ~285 years)
    {"__flowctl_type__": "decimal", "value": "12.50"}      (exact: its text)
    {"__flowctl_type__": "set", "value": [1, 2]}           (and "frozenset"; the items encoded in turn)
    {"__flowctl_type__": "tuple", "value": [1, 2]}         (the items encoded in turn; a namedtuple too)

Everything between the two (the supervision pipes, the task agent's wire, the
Store, the size check, the scheduler's map lengths) sees plain JSON only. An
aware datetime comes back with a fixed UTC offset: the same instant, not the
zone's name; a tuple comes back a tuple, as Airflow 2.6+ gives it. A user's
dict key ``__flowctl_type__`` (or that key followed by ``~``s) is stored with
one more ``~``, so such a dict round-trips unchanged and every container keeps
its length: map lengths are counted on stored JSON, a tagged tuple's on its
items (:func:`stored_items`). A value with none of these is returned as the
very same object, so plain values are stored exactly as before this form
existed; a malformed tag (data written before it existed) is read as the plain
dict it is, and a tuple stored before its tag existed reads back as the list
it was stored as.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from flowctl.core.errors import FlowctlError, XComTooLargeError
from flowctl.core.keys import TaskInstanceKey

TYPE_KEY = "__flowctl_type__"
_SUPPORTED = ("an XCom value must be JSON data (dict, list, tuple, str, int, float, bool, None) holding, "
              "at any depth, only those and datetime, date, time, timedelta, Decimal, set or frozenset")
_JSON_KEYS = (str, int, float, bool, type(None))
_NOT_A_TAG = object()
#: tag -> (the JSON type of its "value", what turns that back into the value)
_DECODERS: dict[str, tuple[type | tuple[type, ...], Callable[[Any], Any]]] = {
    "datetime": (str, datetime.fromisoformat), "date": (str, date.fromisoformat), "time": (str, time.fromisoformat),
    "timedelta": ((int, float), lambda seconds: timedelta(seconds=seconds)),
    "decimal": (str, lambda text: _decimal().Decimal(text)),
    "set": (list, lambda items: set(decode_xcom_value(items))),
    "frozenset": (list, lambda items: frozenset(decode_xcom_value(items))),
    "tuple": (list, lambda items: tuple(decode_xcom_value(items))),
}


def encode_xcom_value(value: Any) -> Any:
    """``value`` as plain JSON data (the same object when it holds nothing to tag or escape);
    FlowctlError naming the type when it holds something an XCom cannot."""
    return _encode(value, "", set())


def _encode(value: Any, where: str, within: set[int]) -> Any:
    if value is None or isinstance(value, (str, int, float)):  # bool is an int
        return value
    if isinstance(value, (datetime, date, time, timedelta)) or _is_decimal(value):
        return _tag(value)
    if isinstance(value, (set, frozenset)):
        kind = "set" if isinstance(value, set) else "frozenset"
        return {TYPE_KEY: kind, "value": _encode_list(list(value), f"{where}{{{kind}}}", within)}
    if isinstance(value, tuple):  # no cycle check: a tuple can hold itself only through a list or dict
        return {TYPE_KEY: "tuple", "value": list(_encode_list(value, where, within))}
    if isinstance(value, (list, dict)):
        if id(value) in within:
            raise FlowctlError(f"XCom value contains itself{_at(where)}; {_SUPPORTED}")
        within.add(id(value))
        try:
            return _encode_dict(value, where, within) if isinstance(value, dict) else \
                _encode_list(value, where, within)
        finally:
            within.discard(id(value))
    raise FlowctlError(f"XCom value of type {type(value).__qualname__}{_at(where)} cannot be stored; {_SUPPORTED}")


def _encode_list(value: list[Any] | tuple[Any, ...], where: str, within: set[int]) -> Any:
    items = [_encode(item, f"{where}[{i}]", within) for i, item in enumerate(value)]
    return value if all(new is old for new, old in zip(items, value)) else items


def _encode_dict(value: dict[Any, Any], where: str, within: set[int]) -> Any:
    changed = False
    items: dict[Any, Any] = {}
    for key, item in value.items():
        if not isinstance(key, _JSON_KEYS):
            raise FlowctlError(f"XCom dict key of type {type(key).__qualname__}{_at(where)} cannot be stored; "
                               f"keys must be str, int, float, bool or None")
        new_key = f"{key}~" if _is_type_key(key) else key
        new_item = _encode(item, f"{where}[{key!r}]", within)
        changed = changed or new_key is not key or new_item is not item
        items[new_key] = new_item
    return items if changed else value


def _is_type_key(key: Any) -> bool:
    """``__flowctl_type__`` followed by any number of ``~`` (a user's such key is stored with one more)."""
    return isinstance(key, str) and key.startswith(TYPE_KEY) and not key[len(TYPE_KEY):].strip("~")


def _is_decimal(value: Any) -> bool:
    """Whether ``value`` is a ``decimal.Decimal``: never, if nothing imported the decimal module
    (this module does not: a forked try would pay for its pages)."""
    module = sys.modules.get("decimal")
    return module is not None and isinstance(value, module.Decimal)


def _decimal() -> Any:
    import decimal

    return decimal


def _tag(value: Any) -> dict[str, Any]:
    if _is_decimal(value):
        return {TYPE_KEY: "decimal", "value": str(value)}
    if isinstance(value, timedelta):
        exact = value.days * 86400 + value.seconds
        return {TYPE_KEY: "timedelta", "value": value.total_seconds() if value.microseconds else exact}
    kind = "datetime" if isinstance(value, datetime) else "date" if isinstance(value, date) else "time"
    return {TYPE_KEY: kind, "value": value.isoformat()}


def _at(where: str) -> str:
    return f" (at {where})" if where else ""


def decode_xcom_value(data: Any) -> Any:
    """The value :func:`encode_xcom_value` gave ``data`` for (``data`` itself when nothing is tagged)."""
    if isinstance(data, list):
        items = [decode_xcom_value(item) for item in data]
        return data if all(new is old for new, old in zip(items, data)) else items
    if isinstance(data, dict):
        return _decode_dict(data)
    return data


def _decode_dict(data: dict[Any, Any]) -> Any:
    if TYPE_KEY in data:
        tagged = _untag(data)
        if tagged is not _NOT_A_TAG:
            return tagged
    changed = False
    fields: dict[Any, Any] = {}
    for key, item in data.items():
        old_key = key[:-1] if key != TYPE_KEY and _is_type_key(key) else key
        new_item = decode_xcom_value(item)
        changed = changed or old_key is not key or new_item is not item
        fields[old_key] = new_item
    return fields if changed else data


def _untag(data: dict[Any, Any]) -> Any:
    """The value of a tagged dict; ``_NOT_A_TAG`` for any other dict that holds the type key."""
    kind, text = data[TYPE_KEY], data.get("value")
    found = _DECODERS.get(kind) if isinstance(kind, str) and len(data) == 2 and "value" in data else None
    if found is None or not isinstance(text, found[0]) or isinstance(text, bool):
        return _NOT_A_TAG
    try:
        return found[1](text)
    except (ValueError, OverflowError, TypeError, ArithmeticError):  # TypeError: an unhashable set item;
        # ArithmeticError: decimal's InvalidOperation
        return _NOT_A_TAG


def stored_items(data: Any) -> Any:
    """The list a stored tuple's items are kept in; any other stored value as it is (what a mapped
    task's length is counted on)."""
    if isinstance(data, dict) and data.get(TYPE_KEY) == "tuple" and len(data) == 2 \
            and isinstance(data.get("value"), list):
        return data["value"]
    return data


def xcom_size(value: Any) -> int:
    """Bytes the value takes as JSON; FlowctlError if it is not JSON-serializable."""
    try:
        return len(json.dumps(value).encode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise FlowctlError(f"XCom value is not JSON-serializable: {exc}") from None


def check_xcom_value(ti: TaskInstanceKey, key: str, value: Any, max_size: int) -> None:
    """Raise what pushing this (encoded) value would (not JSON, or too large); else nothing."""
    size = xcom_size(value)
    if size > max_size:
        raise XComTooLargeError(
            f"XCom {key!r} of task {ti.task_id!r} is {size} bytes, more than [core] xcom_max_size "
            f"({max_size}); keep large data in external storage (or a custom XCom backend) "
            f"and push a reference to it")
