"""Alembic environment for flowctl's metadata database.

Run through ``flowctl.db.migrate`` (``flowctl db upgrade`` …): the connection
comes from code in ``config.attributes["connection"]``, never from an
alembic.ini in the user's working directory. SQLite uses batch mode so that
ALTERs work by copying tables.
"""
from __future__ import annotations

from typing import Any

from alembic import context
import sqlalchemy as sa

from flowctl.db.migrate import include_name
from flowctl.db.tables import Base, JsonText, UtcDateTime

target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render flowctl's column types as plain SQLAlchemy ones so migrations never import flowctl."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, JsonText):
        return "sa.JSON().with_variant(sa.Text(), 'sqlite')"
    return False


def configure(connection: sa.Connection) -> None:
    """Point Alembic at ``connection`` with flowctl's comparison options."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
        include_name=include_name,
    )


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with flowctl.db.migrate (flowctl db upgrade), not the alembic CLI")
    configure(connection)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; use flowctl db upgrade")
run_migrations_online()
