"""The values that cross between task processes and the task agent: JSON lines, typed by a tag.

Plain JSON carries what it can (None, bools, numbers, text, lists, dicts with
text keys). Everything else the agent's verbs take or return is tagged as
``{"__t": tag, "v": ...}``: datetimes, tuples, sets, dicts whose keys are not
text (or that hold the tag key themselves), the state enums, and the frozen
records of ``flowctl.core`` and ``flowctl.db.records``. Decoding builds only
the types named here: nothing in a message can make the other side import or
call anything else (no pickle). Errors travel as a type name and a message;
only flowctl's own errors and a few builtin ones come back as themselves.
Must not import SQLAlchemy, web, cli or scheduler.
"""
from __future__ import annotations

import builtins
import dataclasses
import json
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

from flowctl.core import errors
from flowctl.core.connection import Connection
from flowctl.core.datasets import DatasetEvent
from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.core.states import DagRunState, TaskInstanceState
from flowctl.db import records

TAG = "__t"
RECORDS: dict[str, type] = {cls.__name__: cls for cls in (
    RunKey, TaskInstanceKey, Connection, records.DagRunRecord, records.TaskInstanceRecord, records.XComRecord,
    records.ClaimedTry, records.TryEnd, records.FollowOptions, DatasetEvent)}
#: Each record type's field names, in order (``dataclasses.fields`` costs more than the encoding).
FIELDS: dict[type, tuple[str, ...]] = {cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in RECORDS.values()}
ENUMS: dict[str, type[Enum]] = {cls.__name__: cls for cls in (TaskInstanceState, DagRunState)}
_SCALARS = frozenset({str, int, float, bool, type(None)})  # exact types: JSON as they are, both ways
BUILTIN_ERRORS = frozenset({"KeyError", "LookupError", "ValueError", "TypeError", "PermissionError"})


class AgentError(errors.FlowctlError):
    """An error the agent reported whose type does not travel (its message says what it was)."""


def encode(value: Any) -> Any:
    """``value`` as plain JSON data (see the module docstring for what is tagged)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    names = FIELDS.get(kind)
    if names is not None:  # a record: claims and ends carry dozens of fields each
        return {TAG: kind.__name__, "v": {name: _encode_field(getattr(value, name)) for name in names}}
    if isinstance(value, (bool, int, float, str)) and not isinstance(value, Enum):
        return value
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        if TAG not in value and all(type(k) is str for k in value):
            return {k: encode(item) for k, item in value.items()}
        return {TAG: "dict", "v": [[encode(k), encode(item)] for k, item in value.items()]}
    if isinstance(value, datetime):
        return {TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, date):
        return {TAG: "date", "v": value.isoformat()}
    if isinstance(value, timedelta):
        return {TAG: "timedelta", "v": value.total_seconds()}
    if isinstance(value, Enum) and type(value).__name__ in ENUMS:
        return {TAG: type(value).__name__, "v": value.value}
    if isinstance(value, tuple) and type(value).__name__ not in RECORDS:
        return {TAG: "tuple", "v": [encode(item) for item in value]}
    if isinstance(value, (set, frozenset)):
        return {TAG: "set", "v": [encode(item) for item in value]}
    raise TypeError(f"a {type(value).__name__} cannot be sent to or from the task agent")


def _encode_field(value: Any) -> Any:
    return value if type(value) in _SCALARS else encode(value)


def decode(data: Any) -> Any:
    """The value ``encode`` gave ``data`` for."""
    if isinstance(data, list):
        return [decode(item) for item in data]
    if not isinstance(data, dict):
        return data
    tag = data.get(TAG)
    if tag is None:
        return {k: decode(item) for k, item in data.items()}
    inner = data["v"]
    record = RECORDS.get(tag)
    if record is not None:
        return record(**{name: item if type(item) in _SCALARS else decode(item) for name, item in inner.items()})
    if tag == "dict":
        return {_hashable(decode(k)): decode(item) for k, item in inner}
    if tag == "datetime":
        return datetime.fromisoformat(inner)
    if tag == "date":
        return date.fromisoformat(inner)
    if tag == "timedelta":
        return timedelta(seconds=inner)
    if tag == "tuple":
        return tuple(decode(item) for item in inner)
    if tag == "set":
        return {_hashable(decode(item)) for item in inner}
    if tag in ENUMS:
        return ENUMS[tag](inner)
    raise ValueError(f"unknown value tag {tag!r} from the task agent")


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def dump_line(message: dict[str, Any]) -> bytes:
    """One message as a JSON line."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def error_message(error: BaseException) -> dict[str, str]:
    """How an error raised by a verb travels back."""
    return {"type": type(error).__name__, "message": str(error)}


def error_from(data: dict[str, str]) -> Exception:
    """The exception to raise for an error that travelled: the same type where it may travel."""
    name, message = data.get("type", ""), data.get("message", "")
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, errors.FlowctlError):
        try:
            return cls(message)
        except TypeError:  # an error class whose constructor wants more than a message
            pass
    elif name in BUILTIN_ERRORS:
        return getattr(builtins, name)(message)
    return AgentError(f"{name}: {message}")
