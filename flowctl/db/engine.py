"""Engine construction for the metadata database (SQLite or PostgreSQL).

SQLite gets WAL mode, a busy timeout and foreign keys on every connection;
PostgreSQL gets a pool sized from settings whose connections are pinged on
checkout only after they sat idle in the pool for ``IDLE_PING_SECONDS`` (a
dropped connection is then replaced before use). Connections used back to
back (a scheduler tick, a task try) pay no extra round trip; a connection that
breaks while in use raises once and SQLAlchemy invalidates the pool, so the
next checkout reconnects. Must not import flowctl packages above ``flowctl.db``.
"""
from __future__ import annotations

import importlib.util
import os
import time
from typing import Any

from sqlalchemy import create_engine, event, exc
from sqlalchemy.engine import URL, Engine, make_url

from flowctl.core.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS = 30_000
IDLE_PING_SECONDS = 10.0  # a pooled connection idle longer than this is pinged before use
_CHECKED_IN_AT = "flowctl_checked_in_at"


def normalize_url(url: str | URL) -> URL:
    """The URL with an installed PostgreSQL driver chosen when none is named."""
    parsed = make_url(url)
    if parsed.drivername in {"postgres", "postgresql"}:
        has_psycopg3 = importlib.util.find_spec("psycopg") is not None
        parsed = parsed.set(drivername="postgresql+psycopg" if has_psycopg3 else "postgresql+psycopg2")
    return parsed


def make_engine(url: str | URL, pool_size: int = 5) -> Engine:
    """An Engine for ``url``, configured for flowctl's concurrency model; ConfigError for a database
    other than SQLite or PostgreSQL."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"[database] sql_alchemy_conn names a {parsed.get_backend_name()} database; flowctl's "
                          f"metadata database is SQLite or PostgreSQL")
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    options: dict[str, Any] = {"pool_recycle": 1800}
    if parsed.get_backend_name() == "postgresql":
        options.update(pool_size=pool_size, max_overflow=pool_size * 2)
    engine = create_engine(parsed, **options)
    _guard_forks(engine)
    event.listen(engine, "checkin", _on_checkin)
    event.listen(engine, "checkout", _on_checkout)
    return engine


_OWNER_PID = "flowctl_owner_pid"


def _guard_forks(engine: Engine) -> None:
    """A connection is only ever used by the process that opened it.

    A forked child (a task try forked from the local executor's zygote) inherits
    the pool with its parent's open connections; the first time the child checks
    one out it is dropped, unclosed (it stays the parent's), and the pool connects
    afresh. Nothing is paid at fork time, and a child that never uses the
    database never connects.
    """
    event.listen(engine, "connect", _remember_owner)
    event.listen(engine, "checkout", _refuse_foreign)


def _remember_owner(_dbapi_connection: Any, record: Any) -> None:
    record.info[_OWNER_PID] = os.getpid()


def _refuse_foreign(_dbapi_connection: Any, record: Any, proxy: Any) -> None:
    owner = record.info.get(_OWNER_PID)
    if owner is not None and owner != os.getpid():
        record.dbapi_connection = proxy.dbapi_connection = None  # never closed here: it is the parent's
        raise exc.DisconnectionError(f"connection opened by process {owner}; connecting afresh in {os.getpid()}")


def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info[_CHECKED_IN_AT] = time.monotonic()


def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Ping a connection that sat idle; a dead one makes the pool connect afresh (DisconnectionError)."""
    checked_in = record.info.get(_CHECKED_IN_AT)
    if checked_in is None or time.monotonic() - checked_in < IDLE_PING_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
    except Exception as error:  # noqa: BLE001 - any failure: this connection is unusable
        raise exc.DisconnectionError(f"pooled connection failed its ping: {error}") from error


def _sqlite_engine(url: URL) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )
    _guard_forks(engine)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy issue BEGIN itself (see _on_sqlite_begin), so that a
    # transaction takes the write lock up front instead of failing on upgrade.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if not _is_memory(dbapi_connection):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


READ_ONLY = "flowctl_read_only"  # execution option: a transaction that never writes


def _on_sqlite_begin(connection: Any) -> None:
    # BEGIN IMMEDIATE: a read-then-write transaction never hits SQLITE_BUSY on
    # lock upgrade (which busy_timeout cannot retry); writers queue instead.
    # Read-only transactions begin deferred so WAL readers never wait.
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _is_memory(dbapi_connection: Any) -> bool:
    cursor = dbapi_connection.cursor()
    try:
        rows = cursor.execute("PRAGMA database_list").fetchall()
    finally:
        cursor.close()
    return any(row[1] == "main" and not row[2] for row in rows)


def is_sqlite(engine: Engine) -> bool:
    """True when the engine talks to SQLite."""
    return engine.dialect.name == "sqlite"
