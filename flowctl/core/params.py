"""DAG and task params: ``Param`` (a default plus a JSON schema) and ``ParamsDict``.

A run's params are built by :func:`ParamsDict.resolve`: the DAG's params,
overlaid by the task's, overlaid by the run's ``conf``; every value is then
validated against its Param's JSON schema (jsonschema: a pure library, no I/O).
A failure raises ParamValidationError naming the param.

Must not import anything outside flowctl.core, jsonschema and the standard library
(jsonschema is imported lazily so that parsing DAG files stays cheap).
"""
from __future__ import annotations

import copy
import datetime
import re
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from flowctl.core.errors import ParamValidationError


class _NoValue:
    """The one "no value" marker: copies and unpickled copies are itself, so ``is NOTSET`` holds
    for a Param copied into a task's params."""

    def __repr__(self) -> str:
        return "NOTSET"

    def __bool__(self) -> bool:
        return False

    def __copy__(self) -> _NoValue:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _NoValue:
        return self

    def __reduce__(self) -> str:
        return "NOTSET"  # pickled by reference to this module's NOTSET


NOTSET: Any = _NoValue()


class Param:
    """A param value with an optional description and JSON-schema keywords (``type=``, ``minimum=``...)."""

    def __init__(self, default: Any = NOTSET, description: str | None = None, **schema: Any) -> None:
        self.value = default
        self.description = description
        self.schema: dict[str, Any] = schema

    def __repr__(self) -> str:
        return f"Param({self.value!r}, schema={self.schema!r})"

    def __copy__(self) -> Param:
        return Param(copy.deepcopy(self.value), self.description, **self.schema)

    @property
    def has_value(self) -> bool:
        return self.value is not NOTSET

    def resolve(self, value: Any = NOTSET, name: str = "") -> Any:
        """The validated value: ``value`` if given, else the default."""
        final = self.value if value is NOTSET else value
        label = f"param {name!r}" if name else "param"
        if final is NOTSET:
            raise ParamValidationError(f"{label} has no value and no default")
        if self.schema:
            _validate(final, self.schema, label)
        return final

    def dump(self) -> dict[str, Any]:
        """JSON-safe form: ``{"value", "has_value", "description", "schema"}``."""
        value = None if self.value is NOTSET else self.value
        return {"value": value, "has_value": self.has_value, "description": self.description, "schema": dict(self.schema)}

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Param:
        """Inverse of :meth:`dump`."""
        value = data.get("value") if data.get("has_value", True) else NOTSET
        return cls(value, data.get("description"), **dict(data.get("schema") or {}))


_RFC3339_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T([01]\d|2[0-3]):([0-5]\d):([0-5]\d|60)(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)",
    re.IGNORECASE)


def is_rfc3339_date_time(value: object) -> bool:
    """JSON schema's ``date-time`` format (RFC 3339: a date, ``T``, a time and an offset or ``Z``);
    what jsonschema checks only with the rfc3339-validator package, which Airflow installs."""
    if not isinstance(value, str):
        return True  # formats apply to strings only
    match = _RFC3339_DATE_TIME.fullmatch(value)
    if match is None:
        return False
    try:
        datetime.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return False
    return True


def _format_checker(jsonschema: Any) -> Any:
    checker = jsonschema.FormatChecker()
    if "date-time" not in checker.checkers:
        checker.checks("date-time")(is_rfc3339_date_time)
    return checker


def _validate(value: Any, schema: dict[str, Any], label: str) -> None:
    import jsonschema

    try:
        jsonschema.validate(value, schema, format_checker=_format_checker(jsonschema))
    except jsonschema.ValidationError as exc:
        raise ParamValidationError(f"{label} is invalid: {exc.message}") from None
    except jsonschema.SchemaError as exc:
        raise ParamValidationError(f"{label} has an invalid schema: {exc.message}") from None


class ParamsDict(MutableMapping[str, Any]):
    """A mapping of names to Params; reading an item gives the Param's current value."""

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self._params: dict[str, Param] = {}
        for key, value in (params or {}).items():
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, Param):
            self._params[key] = value
        elif key in self._params:
            self._params[key].value = value
        else:
            self._params[key] = Param(value)

    def __getitem__(self, key: str) -> Any:
        param = self._params[key]
        return None if param.value is NOTSET else param.value

    def __delitem__(self, key: str) -> None:
        del self._params[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return f"ParamsDict({self._params!r})"

    def __copy__(self) -> ParamsDict:
        return ParamsDict({key: copy.copy(param) for key, param in self._params.items()})

    def get_param(self, key: str) -> Param:
        """The Param object (not its value) under ``key``."""
        return self._params[key]

    def items_params(self) -> Iterator[tuple[str, Param]]:
        """(name, Param) pairs."""
        return iter(self._params.items())

    def merged(self, other: Mapping[str, Any] | None) -> ParamsDict:
        """A new ParamsDict: these params overlaid by ``other`` (Params or plain values)."""
        result = copy.copy(self)
        if isinstance(other, ParamsDict):
            for key, param in other.items_params():
                result[key] = copy.copy(param)
        else:
            for key, value in (other or {}).items():
                result[key] = value
        return result

    def resolve(self, conf: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Validated plain values: defaults overlaid by ``conf``; unknown conf keys pass through."""
        conf = dict(conf or {})
        values = {key: param.resolve(conf.pop(key, NOTSET), key) for key, param in self._params.items()}
        values.update(conf)
        return values

    def validate(self) -> dict[str, Any]:
        """Validate every default (Airflow's name); returns the values."""
        return self.resolve()

    def dump(self) -> dict[str, dict[str, Any]]:
        """JSON-safe form of every Param."""
        return {key: param.dump() for key, param in self._params.items()}

    @classmethod
    def load(cls, data: Mapping[str, Mapping[str, Any]]) -> ParamsDict:
        """Inverse of :meth:`dump`."""
        return cls({key: Param.load(value) for key, value in data.items()})


def merge_params(*layers: Mapping[str, Any] | None) -> ParamsDict:
    """DAG params, then task params, ...: later layers win."""
    result = ParamsDict()
    for layer in layers:
        result = result.merged(layer)
    return result
