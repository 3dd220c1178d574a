"""Airflow-compatible ``Connection``: conn_id, conn_type, host, login, password, schema, port, extra.

A mutable object as hooks expect, built from fields or from ``uri=``, with
``extra_dejson`` and ``get_uri()``; :meth:`Connection.get_connection_from_secrets`
reads ``FLOWCTL_CONN_<ID>`` (or ``AIRFLOW_CONN_<ID>``; a URI or a JSON object)
and then the store set by :func:`flowctl.models.variable.set_variable_backend`.
The record and its text forms live in :mod:`flowctl.core.connection`. Must not
import web or cli.
"""
from __future__ import annotations

import json
import os
from typing import Any

from flowctl.core import connection as records
from flowctl.core.errors import ConnectionNotFound
from flowctl.core.masking import mask_secret

ENV_PREFIXES = ("FLOWCTL_CONN_", "AIRFLOW_CONN_")


class Connection:
    """Where a hook connects and with which credentials."""

    def __init__(self, conn_id: str | None = None, conn_type: str | None = None, description: str | None = None,
                 host: str | None = None, login: str | None = None, password: str | None = None,
                 schema: str | None = None, port: int | None = None, extra: str | dict[str, Any] | None = None,
                 uri: str | None = None) -> None:
        if uri and any(v is not None for v in (conn_type, host, login, password, schema, port, extra)):
            raise ValueError("give either uri or the connection fields, not both")
        if uri:
            rec = records.parse_uri(conn_id or "", uri, description)
        else:
            rec = records.Connection(
                conn_id=conn_id or "", conn_type=records.normalize_conn_type(conn_type) if conn_type else None,
                host=host, login=login, password=password, schema=schema,
                port=int(port) if port is not None else None,
                extra=json.dumps(extra) if isinstance(extra, dict) else extra, description=description)
        self._set(rec)

    def _set(self, rec: records.Connection) -> None:
        self.conn_id: str | None = rec.conn_id or None
        self.conn_type = rec.conn_type
        self.description = rec.description
        self.host = rec.host
        self.login = rec.login
        self.password = rec.password
        self.schema = rec.schema
        self.port = rec.port
        self.extra = rec.extra

    def __repr__(self) -> str:
        return f"Connection(conn_id={self.conn_id!r}, conn_type={self.conn_type!r}, host={self.host!r})"

    def to_record(self) -> records.Connection:
        """The frozen record the Store saves."""
        return records.Connection(conn_id=self.conn_id or "", conn_type=self.conn_type, host=self.host,
                                  login=self.login, password=self.password, schema=self.schema,
                                  port=self.port, extra=self.extra, description=self.description)

    @classmethod
    def from_record(cls, rec: records.Connection) -> Connection:
        """A Connection holding the record's fields."""
        conn = cls.__new__(cls)
        conn._set(rec)
        return conn

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """``extra`` parsed as a JSON object ({} when empty or invalid)."""
        return records.extra_as_dict(self.extra)

    def get_uri(self) -> str:
        """``conn-type://login:password@host:port/schema?extra``."""
        return self.to_record().get_uri()

    def get_password(self) -> str | None:
        return self.password

    def get_extra(self) -> str | None:
        return self.extra

    @classmethod
    def get_connection_from_secrets(cls, conn_id: str) -> Connection:
        """The connection from the environment, else the metadata database; ConnectionNotFound else."""
        record = connection_from_environment(conn_id)
        if record is None:
            from flowctl.models.variable import get_variable_backend

            try:
                record = get_variable_backend().get_connection(conn_id)
            except ConnectionNotFound:
                raise ConnectionNotFound(f"The conn_id `{conn_id}` isn't defined") from None
        if record.password:
            mask_secret(record.password)
        return cls.from_record(record)


def connection_from_environment(conn_id: str) -> records.Connection | None:
    """The connection ``FLOWCTL_CONN_<ID>`` (or ``AIRFLOW_CONN_<ID>``) holds, a URI or a JSON object, which
    wins over the database; None if unset."""
    for prefix in ENV_PREFIXES:
        raw = os.environ.get(prefix + conn_id.upper())
        if raw is None:
            continue
        text = raw.strip()
        if text.startswith("{"):
            return records.from_json_dict(conn_id, json.loads(text))
        return records.parse_uri(conn_id, text)
    return None
