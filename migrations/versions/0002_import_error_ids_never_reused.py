"""import error ids are never reused on SQLite

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 (hand-written)

The REST API names an import error by its id (``GET /api/v1/importErrors/<id>``).
Without AUTOINCREMENT, SQLite hands the id of a deleted row (a file that parses
again) to the next new row, so a script holding an old id would read another
file's error. PostgreSQL's sequence never reuses ids: nothing to do there.
"""
from __future__ import annotations

from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | None = None
depends_on: str | None = None


def _recreate(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    with op.batch_alter_table('import_error', recreate='always',  # copies the rows, ids included
                              table_kwargs={'sqlite_autoincrement': autoincrement}):
        pass


def upgrade() -> None:
    _recreate(True)


def downgrade() -> None:
    _recreate(False)
