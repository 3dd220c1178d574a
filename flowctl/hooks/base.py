"""BaseHook: the base class of connectors, and how they look up connections.

A hook asks :meth:`BaseHook.get_connection` for a connection id; the lookup goes
to one process-wide resolver that the task runner installs with
:func:`set_connection_resolver` (it reads the metadata database / secrets
backends). The resolver takes a conn_id and returns a connection object (host,
login, password, port, schema, extra, extra_dejson, ...) or raises
NotFoundError naming the id. Outside a flowctl worker no resolver is set and
the lookup reads the environment, then the metadata database (``Connection.get_connection_from_secrets``).

Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flowctl.core.errors import FlowctlError

ConnectionResolver = Callable[[str], Any]
_resolver: ConnectionResolver | None = None


def set_connection_resolver(resolver: ConnectionResolver | None) -> None:
    """Install (or with None, remove) the process-wide connection lookup."""
    global _resolver
    _resolver = resolver


def get_connection_resolver() -> ConnectionResolver | None:
    """The installed connection lookup, if any."""
    return _resolver


class BaseHook:
    """Base of hooks: subclasses implement ``get_conn()`` from a connection's fields."""

    conn_name_attr: str = "conn_id"
    default_conn_name: str = "default_conn_id"
    conn_type: str = ""
    hook_name: str = ""

    def __init__(self, logger_name: str | None = None) -> None:
        self.log = logging.getLogger(logger_name or f"flowctl.hooks.{type(self).__name__}")

    @classmethod
    def get_connection(cls, conn_id: str) -> Any:
        """The connection ``conn_id`` from the resolver the task runner installed; outside a task,
        from the environment (``FLOWCTL_CONN_<ID>``) and then the metadata database, as
        ``Variable.get`` reads variables there (and as Airflow does)."""
        if _resolver is None:
            from flowctl.models.connection import Connection

            return Connection.get_connection_from_secrets(conn_id)
        return _resolver(conn_id)

    @classmethod
    def get_hook(cls, conn_id: str) -> Any:
        """A hook for ``conn_id``, if its connection object can build one (``get_hook()``)."""
        connection = cls.get_connection(conn_id)
        if not hasattr(connection, "get_hook"):
            raise FlowctlError(f"connection {conn_id!r} cannot build a hook")
        return connection.get_hook()

    def get_conn(self) -> Any:
        """A client for the external system."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_conn()")
