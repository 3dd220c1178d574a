"""Airflow-compatible ``Variable``: ``Variable.get / set / delete / setdefault / update``.

Owns the process-wide variable backend: the task runner calls
:func:`set_variable_backend` with its Store; when none is set the first call
builds a Store from ``Settings.load()``. Environment variables
``FLOWCTL_VAR_<KEY>`` (or ``AIRFLOW_VAR_<KEY>``) win over the database, as in
Airflow. Imports flowctl.db lazily; must not import web or cli.
"""
from __future__ import annotations

import json
import os
import threading
from typing import Any, Protocol

from flowctl.core.errors import VariableNotFound
from flowctl.core.masking import mask_secret, should_mask

ENV_PREFIXES = ("FLOWCTL_VAR_", "AIRFLOW_VAR_")


class VariableBackend(Protocol):
    """What Variable needs from a store (flowctl.db.store.Store provides it)."""

    def get_variable(self, key: str) -> str | None: ...

    def set_variable(self, key: str, value: str | None, description: str | None = None) -> None: ...

    def delete_variable(self, key: str) -> bool: ...


_backend: Any = None
_lock = threading.Lock()


def set_variable_backend(backend: Any) -> None:
    """Use this store for Variable (and Connection) look-ups in this process; None resets."""
    global _backend
    with _lock:
        _backend = backend


def get_variable_backend() -> Any:
    """The backend in use, built from ``Settings.load()`` on first use when none was set."""
    global _backend
    with _lock:
        if _backend is None:
            from flowctl.db.store import Store
            from flowctl.settings import Settings

            _backend = Store.from_settings(Settings.load())
        return _backend


class _NoDefault:
    def __repr__(self) -> str:
        return "<no default>"


NO_DEFAULT: Any = _NoDefault()


def variable_from_environment(key: str) -> str | None:
    """The value of ``FLOWCTL_VAR_<KEY>`` (or ``AIRFLOW_VAR_<KEY>``), which wins over the database; None if unset."""
    for prefix in ENV_PREFIXES:
        value = os.environ.get(prefix + key.upper())
        if value is not None:
            return value
    return None


class Variable:
    """Key-value settings shared by DAGs, stored (encrypted) in the metadata database."""

    def __init__(self, key: str | None = None, val: str | None = None, description: str | None = None) -> None:
        self.key = key
        self.val = val
        self.description = description

    def __repr__(self) -> str:
        return f"Variable(key={self.key!r})"

    @classmethod
    def get(cls, key: str, default_var: Any = NO_DEFAULT, deserialize_json: bool = False) -> Any:
        """The value of ``key``; ``default_var`` when missing, else KeyError."""
        value = variable_from_environment(key)
        if value is None:
            try:
                value = get_variable_backend().get_variable(key)
            except VariableNotFound:
                if default_var is NO_DEFAULT:
                    raise VariableNotFound(f"Variable {key} does not exist") from None
                return default_var
        if value is not None and should_mask(key):
            mask_secret(value, key)
        if deserialize_json and value is not None:
            return json.loads(value)
        return value

    @classmethod
    def set(cls, key: str, value: Any, description: str | None = None, serialize_json: bool = False) -> None:
        """Create or replace ``key``; ``serialize_json`` stores ``value`` as JSON text."""
        text = json.dumps(value, indent=2) if serialize_json else (None if value is None else str(value))
        get_variable_backend().set_variable(key, text, description)

    @classmethod
    def setdefault(cls, key: str, default: Any, description: str | None = None,
                   deserialize_json: bool = False) -> Any:
        """The value of ``key``, first storing ``default`` when it is missing."""
        value = cls.get(key, default_var=None, deserialize_json=deserialize_json)
        if value is None:
            if default is None:
                raise ValueError("Default Value must be set")
            cls.set(key, default, description=description, serialize_json=deserialize_json)
            return default
        return value

    @classmethod
    def update(cls, key: str, value: Any, serialize_json: bool = False) -> None:
        """Replace the value of an existing ``key``; KeyError when missing."""
        get_variable_backend().get_variable(key)
        cls.set(key, value, serialize_json=serialize_json)

    @classmethod
    def delete(cls, key: str) -> int:
        """Delete ``key``; how many were deleted (0 or 1)."""
        return 1 if get_variable_backend().delete_variable(key) else 0
