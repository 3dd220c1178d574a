"""Database fixtures shared by every test folder: ``store``, ``sqlite_store``, ``pg_store``, URLs.

``store`` is parametrized over SQLite (a temporary file copied from one
migrated once per session) and PostgreSQL (a fresh database
``flowctl_test_<random>`` on 127.0.0.1:5432, migrated once per session and
worker, emptied before each test, dropped at the end; creating a database per
test would cost a second each). If PostgreSQL is unreachable the postgres
cases are skipped, unless ``CI=true``, where they fail.
Imported by ``tests/conftest.py``.
"""
from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from flowctl.db import migrate
from flowctl.db.engine import make_engine
from flowctl.db.store import Store
from flowctl.db.tables import Base

PG_SERVER = os.environ.get("FLOWCTL_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432")
PG_MAINTENANCE_DBS = ("postgres", "test")
PROTECTED_DBS = frozenset({"postgres", "test", "template0", "template1"})


def _admin_engine() -> sa.Engine:
    last: Exception | None = None
    for name in PG_MAINTENANCE_DBS:
        engine = sa.create_engine(f"{PG_SERVER}/{name}", isolation_level="AUTOCOMMIT",
                                  connect_args={"connect_timeout": 3}, poolclass=sa.pool.NullPool)
        try:
            with engine.connect():
                return engine
        except sa.exc.OperationalError as exc:
            last = exc
    raise ConnectionError(str(last).splitlines()[0] if last else "no maintenance database")


def _unreachable(reason: str) -> None:
    message = f"PostgreSQL at 127.0.0.1:5432 unreachable: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def create_pg_database(template: str | None = None) -> str:
    """Create a fresh database (optionally cloned from ``template``); returns its URL."""
    name = f"flowctl_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        clause = f' TEMPLATE "{template}"' if template else ""
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"{clause}')
    admin.dispose()
    return f"{PG_SERVER}/{name}"


def drop_pg_database(url: str) -> None:
    """Drop a test database (never one of the maintenance databases)."""
    name = sa.engine.make_url(url).database
    assert name and name not in PROTECTED_DBS and name.startswith("flowctl_test_"), name
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    admin.dispose()


@pytest.fixture(scope="session")
def _pg_session_db() -> Iterator[str]:
    try:
        url = create_pg_database()
    except (ConnectionError, sa.exc.OperationalError) as exc:
        _unreachable(str(exc).splitlines()[0])
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    drop_pg_database(url)


def _empty_tables(url: str) -> None:
    """Back to the state right after migration: no rows but default_pool."""
    engine = make_engine(url)
    with engine.begin() as conn:  # DELETE, not TRUNCATE: on a few rows it is 100x faster
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
        conn.exec_driver_sql("INSERT INTO slot_pool (pool, slots, description, include_deferred) "
                             "VALUES ('default_pool', 128, 'Default pool', false)")
    engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite_template") / "flowctl.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()  # closing the last connection checkpoints the WAL into the file
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of an empty (unmigrated) SQLite file."""
    return f"sqlite:///{tmp_path / 'flowctl.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a fresh, empty (unmigrated) PostgreSQL database, dropped afterwards."""
    try:
        url = create_pg_database()
    except (ConnectionError, sa.exc.OperationalError) as exc:
        _unreachable(str(exc).splitlines()[0])
    yield url
    drop_pg_database(url)


@pytest.fixture
def migrated_sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    """URL of a migrated SQLite file of this test's own."""
    path = tmp_path / "flowctl.db"
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def migrated_pg_url(_pg_session_db: str) -> str:
    """URL of a migrated PostgreSQL database with empty tables.

    One fresh database per test session (per xdist worker), emptied before each
    test: creating a database per test costs a second on PostgreSQL.
    """
    _empty_tables(_pg_session_db)
    return _pg_session_db


def _yield_store(url: str) -> Iterator[Store]:
    store = Store(make_engine(url))
    yield store
    leaked = store.engine.pool.checkedout()  # type: ignore[attr-defined]
    store.close()
    assert leaked == 0, f"{leaked} database connection(s) were not returned to the pool"


@pytest.fixture
def sqlite_store(migrated_sqlite_url: str) -> Iterator[Store]:
    """A Store on a migrated SQLite file."""
    yield from _yield_store(migrated_sqlite_url)


@pytest.fixture
def pg_store(migrated_pg_url: str) -> Iterator[Store]:
    """A Store on a migrated PostgreSQL database."""
    yield from _yield_store(migrated_pg_url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """A Store on a freshly migrated database, once on SQLite and once on PostgreSQL."""
    yield request.getfixturevalue(f"{'sqlite' if request.param == 'sqlite' else 'pg'}_store")
