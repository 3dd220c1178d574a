"""Programmatic Alembic: upgrade, downgrade, current, check, using ``migrations/`` at the repo root.

The migrations folder sits next to the ``flowctl`` package (a git checkout or
an editable install); ``$FLOWCTL_MIGRATIONS`` points elsewhere. The connection
is always passed from code. On SQLite, foreign keys are switched off while
migrating (batch mode copies tables, and a cascading FK would empty children).
Must not import above ``db``.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from flowctl.core.errors import ConfigError, FlowctlError
from flowctl.db.clean_archive import is_archive_table
from flowctl.db.tables import Base

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class RevisionError(FlowctlError, ValueError):
    """Alembic cannot migrate to the revision asked for (unknown, or not that way from here); the message
    says why and names the revisions there are."""


def migrations_dir() -> Path:
    """The Alembic folder: ``$FLOWCTL_MIGRATIONS`` or ``migrations/`` beside the package."""
    override = os.environ.get("FLOWCTL_MIGRATIONS")
    folder = Path(override) if override else PACKAGE_ROOT / "migrations"
    if not (folder / "env.py").exists():
        raise ConfigError(f"no Alembic migrations at {folder}: run flowctl from a checkout or an editable "
                          f"install, or set FLOWCTL_MIGRATIONS to the migrations folder")
    return folder


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["connection"] = connection
    return cfg


@contextmanager
def _migration_connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # outside any transaction, where the pragma takes effect
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                yield conn
        finally:
            if sqlite:
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def head() -> str:
    """The newest revision in the migrations folder."""
    rev = ScriptDirectory.from_config(_config()).get_current_head()
    if rev is None:
        raise ConfigError("the migrations folder has no revisions")
    return rev


def revisions() -> list[str]:
    """Every revision, oldest first."""
    return [s.revision for s in reversed(list(ScriptDirectory.from_config(_config()).walk_revisions()))]


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database up to ``revision``."""
    with _migration_connection(engine) as conn, _revision_errors():
        command.upgrade(_config(conn), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database down to ``revision`` (``base`` removes every table)."""
    with _migration_connection(engine) as conn, _revision_errors():
        command.downgrade(_config(conn), revision)


@contextmanager
def _revision_errors() -> Iterator[None]:
    """Alembic's CommandError (what it raises for a target it cannot reach) as a RevisionError."""
    try:
        yield
    except CommandError as exc:
        known = revisions()
        listed = f"base, {known[0]} to {known[-1]}, head" if known else "base, head"
        raise RevisionError(f"{exc} (flowctl's are {listed})") from None


def current(engine: Engine) -> str | None:
    """The database's revision, or None when it was never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def include_name(name: str | None, type_: str, _parent: Any) -> bool:
    """What migrations compare: not the archive tables ``db clean`` makes beside flowctl's own."""
    return not (type_ == "table" and name is not None and is_archive_table(name))


def drift(engine: Engine) -> list[Any]:
    """Differences between the models and the database (empty when they agree)."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name})
        return list(compare_metadata(ctx, Base.metadata))


def check(engine: Engine) -> list[str]:
    """Problems that stop flowctl from using this database; empty when it is ready."""
    at, newest = current(engine), head()
    if at is None:
        return ["the database has no flowctl tables: run `flowctl db init`"]
    if at != newest:
        return [f"the database is at revision {at}, flowctl needs {newest}: run `flowctl db upgrade`"]
    return [f"models and database differ: {d}" for d in drift(engine)]


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a new version from the models (a developer tool; review the file)."""
    with _migration_connection(engine) as conn:
        command.revision(_config(conn), message=message, autogenerate=True)


if __name__ == "__main__":  # python -m flowctl.db.migrate revision "message" [URL]
    from flowctl.db.engine import make_engine

    if len(sys.argv) < 3 or sys.argv[1] != "revision":
        sys.exit('usage: python -m flowctl.db.migrate revision "message" [database URL]')
    _engine = make_engine(sys.argv[3] if len(sys.argv) > 3 else "sqlite:///:memory:")
    upgrade(_engine)
    revision(_engine, sys.argv[2])
