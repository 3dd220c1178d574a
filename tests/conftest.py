"""Shared fixtures: the database fixtures live in tests/db_fixtures.py."""
from __future__ import annotations

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
