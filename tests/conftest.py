"""Shared fixtures: the database fixtures live in tests/db_fixtures.py."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from flowctl.core import timezones
from tests.db_fixtures import (  # noqa: F401  (pytest finds fixtures by name)
    _pg_session_db,
    _sqlite_template,
    migrated_pg_url,
    migrated_sqlite_url,
    pg_store,
    pg_url,
    sqlite_store,
    sqlite_url,
    store,
)


@pytest.fixture(autouse=True)
def _default_timezone_back_to_utc() -> Iterator[None]:
    """A test that loads settings in this process (the CLI, DagBag, DAG.test()) sets the process's zone of
    naive dates from ``[core] default_timezone``: the next test starts from UTC again."""
    yield
    timezones.use_default_timezone("utc")
