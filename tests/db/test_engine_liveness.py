"""Pooled PostgreSQL connections: pinged only after sitting idle; a dead one is replaced before use."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from flowctl.db import engine as engine_module
from flowctl.db.engine import make_engine

pytestmark = pytest.mark.postgres


def _statements(engine: sa.Engine) -> list[str]:
    seen: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def _backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_reused_at_once_costs_no_ping_round_trip(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        _backend_pid(engine)
        seen = _statements(engine)
        _backend_pid(engine)
        _backend_pid(engine)
        assert seen == ["SELECT pg_backend_pid()"] * 2
    finally:
        engine.dispose()


def test_an_idle_connection_killed_by_the_server_is_replaced_before_use(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(pg_url)
    try:
        first = _backend_pid(engine)
        admin = make_engine(pg_url)
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        admin.dispose()
        monkeypatch.setattr(engine_module, "IDLE_PING_SECONDS", 0.0)
        second = _backend_pid(engine)
        assert second != first
    finally:
        engine.dispose()



def test_a_forked_child_never_uses_its_parents_connection(pg_url: str) -> None:
    """A child that inherited a pooled connection connects afresh; the parent's connection stays usable."""
    import os

    engine = make_engine(pg_url)
    try:
        parent_backend = _backend_pid(engine)
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through the pipe
            try:
                os.write(write_fd, str(_backend_pid(engine)).encode())
            finally:
                os._exit(0)
        os.close(write_fd)
        child_backend = os.read(read_fd, 100).decode()
        os.close(read_fd)
        os.waitpid(pid, 0)
        assert child_backend and int(child_backend) != parent_backend
        assert _backend_pid(engine) == parent_backend  # the same connection, alive after the child exited
    finally:
        engine.dispose()
