"""Store verbs for connections, with password and extra encrypted at rest.

Owns :class:`ConnectionVerbs`, a mixin of the Store. A connection's password
and extra are Fernet tokens in the database (``is_encrypted`` /
``is_extra_encrypted``); writing one without a configured ``[core]
fernet_key`` is an error rather than a silent plaintext copy. The record is
:class:`flowctl.core.connection.Connection`. Must not import web or cli.
"""
from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, select
from sqlalchemy.orm import Session

from flowctl.core.connection import Connection, ConnectionFormatError, check_conn_id
from flowctl.core.errors import AlreadyExistsError, ConnectionNotFound, FlowctlError
from flowctl.db.secrets import FernetBox
from flowctl.db.tables import ConnectionRow


#: The fields of a connection that :meth:`ConnectionVerbs.update_connection` may change (not its conn_id).
UPDATABLE_FIELDS = frozenset({"conn_type", "host", "login", "password", "schema", "port", "extra", "description"})
#: The most characters each text field holds, from the table (conn_id, conn_type, host, schema; the rest are TEXT).
FIELD_LENGTHS = {column.name: column.type.length for column in ConnectionRow.__table__.columns
                 if isinstance(column.type, String) and column.type.length}


def check_storable(conn: Connection) -> None:
    """ConnectionFormatError naming the field unless ``conn`` can be stored in any database: a conn_id of
    letters, digits, '_', '.' or '-', and no field longer than its column (SQLite would store it, PostgreSQL
    would not)."""
    check_conn_id(conn.conn_id)
    _check_lengths(conn)


def _check_lengths(conn: Connection) -> None:
    for name, limit in FIELD_LENGTHS.items():
        value = getattr(conn, name)
        if value is not None and len(value) > limit:
            shown = repr(conn.conn_id) if len(conn.conn_id) <= 40 else f"{conn.conn_id[:40]!r}..."
            raise ConnectionFormatError(f"connection {shown}: {name} has {len(value)} characters; "
                                        f"at most {limit} fit in the database")


class ConnectionVerbs:
    """Add, update, get, list, delete connections; mixed into the Store."""

    if TYPE_CHECKING:  # provided by the Store and AdminVerbs; no runtime stubs to shadow them
        def _session(self) -> AbstractContextManager[Session]: ...

        def _read(self) -> AbstractContextManager[Session]: ...

        def _fernet(self) -> FernetBox: ...

    def add_connection(self, conn: Connection) -> None:
        """Add a connection; AlreadyExistsError when the conn_id is taken, ConnectionFormatError when it
        cannot be stored (:func:`check_storable`)."""
        check_storable(conn)
        with self._session() as s:
            if s.scalar(select(ConnectionRow.id).where(ConnectionRow.conn_id == conn.conn_id)) is not None:
                raise AlreadyExistsError(f"a connection with conn_id {conn.conn_id!r} exists already")
            row = ConnectionRow(conn_id=conn.conn_id)
            self._fill(row, conn)
            s.add(row)

    def upsert_connection(self, conn: Connection) -> None:
        """Add a connection, or replace every field of the one with this conn_id (:func:`check_storable` first)."""
        check_storable(conn)
        with self._session() as s:
            row = s.scalar(select(ConnectionRow).where(ConnectionRow.conn_id == conn.conn_id))
            if row is None:
                row = ConnectionRow(conn_id=conn.conn_id)
                s.add(row)
            self._fill(row, conn)

    def update_connection(self, conn_id: str, changes: Mapping[str, Any]) -> Connection:
        """Change some fields of an existing connection in one transaction (the others, the password
        too, are kept); ConnectionNotFound when there is none. Returns the connection as saved."""
        unknown = set(changes) - UPDATABLE_FIELDS
        if unknown:
            raise FlowctlError(f"a connection has no updatable field(s) {', '.join(sorted(unknown))}")
        with self._session() as s:
            row = s.scalar(select(ConnectionRow).where(ConnectionRow.conn_id == conn_id))
            if row is None:
                raise ConnectionNotFound(f"the conn_id {conn_id!r} is not defined")
            conn = replace(self._record(row), **changes)
            _check_lengths(conn)
            self._fill(row, conn)
            return conn

    def get_connection(self, conn_id: str) -> Connection:
        """One connection, decrypted; ConnectionNotFound when there is none."""
        with self._read() as s:
            row = s.scalar(select(ConnectionRow).where(ConnectionRow.conn_id == conn_id))
            if row is None:
                raise ConnectionNotFound(f"the conn_id {conn_id!r} is not defined")
            return self._record(row)

    def list_connections(self) -> list[Connection]:
        """Every connection, decrypted, by conn_id."""
        with self._read() as s:
            rows = s.scalars(select(ConnectionRow).order_by(ConnectionRow.conn_id)).all()
            return [self._record(row) for row in rows]

    def delete_connection(self, conn_id: str) -> bool:
        """Delete a connection; False when there was none."""
        with self._session() as s:
            row = s.scalar(select(ConnectionRow).where(ConnectionRow.conn_id == conn_id))
            if row is None:
                return False
            s.delete(row)
            return True

    def _rotate_connections(self, s: Session, box: FernetBox) -> int:
        """Re-encrypt every connection secret with the first key; plaintext ones get encrypted."""
        count = 0
        for row in s.scalars(select(ConnectionRow)).all():
            if row.password:
                row.password = box.rotate(row.password) if row.is_encrypted else box.encrypt(row.password)
                row.is_encrypted = True
                count += 1
            if row.extra:
                row.extra = box.rotate(row.extra) if row.is_extra_encrypted else box.encrypt(row.extra)
                row.is_extra_encrypted = True
                count += 1
        return count

    def _fill(self, row: ConnectionRow, conn: Connection) -> None:
        needs_key = bool(conn.password) or bool(conn.extra)
        box = self._fernet() if needs_key else None
        row.conn_type = conn.conn_type or ""
        row.description = conn.description
        row.host, row.schema, row.login, row.port = conn.host, conn.schema, conn.login, conn.port
        row.password = box.encrypt(conn.password) if box and conn.password else None
        row.is_encrypted = row.password is not None
        row.extra = box.encrypt(conn.extra) if box and conn.extra else None
        row.is_extra_encrypted = row.extra is not None

    def _record(self, row: ConnectionRow) -> Connection:
        password, extra = row.password, row.extra
        if (password and row.is_encrypted) or (extra and row.is_extra_encrypted):
            box = self._fernet()
            password = box.decrypt(password) if password and row.is_encrypted else password
            extra = box.decrypt(extra) if extra and row.is_extra_encrypted else extra
        return Connection(conn_id=row.conn_id, conn_type=row.conn_type or None, host=row.host,
                          login=row.login, password=password, schema=row.schema, port=row.port,
                          extra=extra, description=row.description)
