"""Wake-ups for the scheduler: ``notify_scheduler`` and ``scheduler_listener``.

Anything that creates work (trigger, clear, mark, backfill, unpause, a worker
recording a try's end) calls ``store.notify_scheduler()`` so a sleeping
scheduler acts at once instead of at its next timer. PostgreSQL: ``NOTIFY
flowctl`` (delivered to every scheduler's ``LISTEN``); the listener keeps the reasons
of its last ``drain()`` in ``.reasons``. SQLite: a datagram to a
unix socket whose path is derived from the database file's path; nobody
listening is fine. Notifying never raises: a lost wake-up costs latency, not
correctness (the scheduler also wakes on its timers).
Must not import flowctl packages above ``flowctl.db``.
"""
from __future__ import annotations

import hashlib
import os
import socket
import tempfile
from typing import Any, Protocol

from flowctl.db.base import StoreCore

CHANNEL = "flowctl"


class Listener(Protocol):
    """A readable file descriptor for select(); drain() empties it."""

    def fileno(self) -> int: ...

    def drain(self) -> int: ...

    def close(self) -> None: ...

    @property
    def reasons(self) -> list[str]: ...


def socket_path(database: str) -> str:
    """The SQLite wake-up socket of a database file (short enough for AF_UNIX)."""
    digest = hashlib.sha256(os.path.abspath(database).encode("utf-8")).hexdigest()[:20]
    return os.path.join(tempfile.gettempdir(), f"flowctl-{digest}.sock")


class SocketListener:
    """SQLite: a bound datagram socket; each datagram is one wake-up."""

    reliable = False  # a datagram sent while the socket's buffer is full is lost

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.reasons: list[str] = []  # of the last drain()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        if path is not None:
            try:
                os.unlink(path)  # a stale socket of a dead scheduler
            except FileNotFoundError:
                pass
            self._sock.bind(path)

    def fileno(self) -> int:
        return self._sock.fileno()

    def drain(self) -> int:
        self.reasons = []
        while True:
            try:
                data = self._sock.recv(512)
            except (BlockingIOError, OSError):
                return len(self.reasons)
            self.reasons.append(data.decode("utf-8", "replace"))

    def close(self) -> None:
        self._sock.close()
        if self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass


class PostgresListener:
    """PostgreSQL: a dedicated autocommit connection that LISTENs on the flowctl channel."""

    reliable = True  # a notification sent in a transaction is delivered when it commits

    def __init__(self, store: StoreCore) -> None:
        self._conn: Any = store.engine.raw_connection()
        raw = self._conn.driver_connection
        self._conn.detach()  # never returned to the pool: it stays LISTENing
        raw.autocommit = True
        with raw.cursor() as cursor:
            cursor.execute(f"LISTEN {CHANNEL}")
        self._raw = raw
        self.reasons: list[str] = []  # of the last drain()

    def fileno(self) -> int:
        return int(self._raw.fileno())

    def drain(self) -> int:
        try:
            self._raw.poll()
        except Exception:  # noqa: BLE001 - a broken connection: one wake-up; the scheduler re-reads anyway
            self.reasons = ["listener connection lost"]
            return 1
        self.reasons = [str(n.payload) for n in self._raw.notifies]
        self._raw.notifies.clear()
        return len(self.reasons)

    def close(self) -> None:
        try:
            self._raw.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass


class NotifyVerbs(StoreCore):
    """notify_scheduler, scheduler_listener."""

    def notify_scheduler(self, reason: str = "") -> None:
        """Wake every listening scheduler now; never raises."""
        try:
            if self.dialect == "postgresql":
                self._notify_postgres(reason)
            else:
                self._notify_socket(reason)
        except Exception:  # noqa: BLE001 - a lost wake-up only delays, the timers still fire
            pass

    def scheduler_listener(self) -> Listener:
        """A Listener woken by notify_scheduler (from any process on this database)."""
        if self.dialect == "postgresql":
            return PostgresListener(self)
        return SocketListener(self._socket_path())

    def _socket_path(self) -> str | None:
        database = self.engine.url.database
        if not database or database == ":memory:":
            return None
        return socket_path(database)

    def _notify_postgres(self, reason: str) -> None:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            conn.execute(text("SELECT pg_notify(:channel, :reason)"), {"channel": CHANNEL, "reason": reason[:200]})
            conn.commit()

    def _notify_socket(self, reason: str) -> None:
        path = self._socket_path()
        if path is None:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            try:
                sock.sendto(reason.encode("utf-8")[:200] or b".", path)
            except (FileNotFoundError, ConnectionRefusedError, BlockingIOError):
                pass  # nobody listening, or the listener is already full of wake-ups

