"""Variables and connections inside a try: read through the store, secrets fed to the log masker.

:class:`MaskingBackend` wraps the Store for ``Variable`` (``set_variable_backend``)
and for ``BaseHook.get_connection`` (``set_connection_resolver``): a variable
whose key looks secret (password, secret, token, api_key, ...) and every
connection password (and sensitive ``extra`` field) are added to the try's
masker the moment the task reads them, so they show as ``***`` in its log. :class:`FileSecretsStore` lays the
variables and connections of local files over the Store for ``DAG.test()``.
Must not import web, cli or scheduler.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from flowctl.core import connection as conn_records
from flowctl.core.masking import SecretsMasker, should_mask


class MaskingBackend:
    """A Store proxy: variable and connection reads also teach ``masker`` their secrets."""

    def __init__(self, store: Any, masker: SecretsMasker) -> None:
        self._store = store
        self._masker = masker

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def get_variable(self, key: str) -> str | None:
        value = self._store.get_variable(key) if self._store is not None else None
        if value is not None and should_mask(key):
            self._masker.add_mask(value, key)
        return value

    def get_connection(self, conn_id: str) -> Any:
        if self._store is None:
            from flowctl.core.errors import ConnectionNotFound

            raise ConnectionNotFound(f"The conn_id `{conn_id}` isn't defined")
        record = self._store.get_connection(conn_id)
        mask_connection(self._masker, record)
        return record


class FileSecretsStore:
    """A Store proxy that answers some variables and connections itself, ahead of the database:
    those of ``DAG.test()``'s ``variable_file_path`` / ``conn_file_path`` (Airflow puts its local
    filesystem secrets backend first in the same way). Nothing of them is written to the database."""

    def __init__(self, store: Any, variables: Mapping[str, str], connections: Mapping[str, Any]) -> None:
        self._store = store
        self._variables = dict(variables)
        self._connections = dict(connections)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def get_variable(self, key: str) -> str | None:
        if key in self._variables:
            return self._variables[key]
        return self._store.get_variable(key)  # type: ignore[no-any-return]

    def get_connection(self, conn_id: str) -> Any:
        if conn_id in self._connections:
            return self._connections[conn_id]
        return self._store.get_connection(conn_id)


def mask_connection(masker: SecretsMasker, conn: Any) -> None:
    """Add a connection's password and sensitive extra fields to ``masker``."""
    password = getattr(conn, "password", None)
    if password:
        masker.add_mask(password, "password")
    extra = getattr(conn, "extra", None)
    if extra:
        masker.add_mask(conn_records.extra_as_dict(extra))


def _resolve_connection(masker: SecretsMasker) -> Any:
    def resolve(conn_id: str) -> Any:
        from flowctl.models.connection import Connection

        conn = Connection.get_connection_from_secrets(conn_id)
        mask_connection(masker, conn)
        return conn

    return resolve


def variable_lookup(backend: MaskingBackend) -> Any:
    """``key -> str | None`` (None: no such variable) for the template context's ``var``,
    environment first (as Variable)."""
    def lookup(key: str) -> str | None:
        from flowctl.core.errors import VariableNotFound
        from flowctl.models.variable import variable_from_environment

        value = variable_from_environment(key)
        if value is not None:
            if should_mask(key):
                backend._masker.add_mask(value, key)
            return value
        try:
            return backend.get_variable(key)
        except VariableNotFound:
            return None

    return lookup


def connection_lookup(masker: SecretsMasker) -> Any:
    """``conn_id -> Connection`` for the template context's ``conn``."""
    return _resolve_connection(masker)


@contextlib.contextmanager
def installed(store: Any, masker: SecretsMasker) -> Iterator[MaskingBackend]:
    """Within ``with``: Variable and hooks read through a masking proxy of ``store``."""
    from flowctl.models.variable import set_variable_backend

    backend = MaskingBackend(store, masker)
    set_variable_backend(backend)
    set_resolver = _hook_resolver_setter()
    if set_resolver is not None:
        set_resolver(_resolve_connection(masker))
    try:
        yield backend
    finally:
        set_variable_backend(None)
        if set_resolver is not None:
            set_resolver(None)


def _hook_resolver_setter() -> Any:
    try:
        from flowctl.hooks import base
    except ImportError:  # hooks not installed in this build
        return None
    return getattr(base, "set_connection_resolver", None)
