"""xcom.value is TEXT on SQLite: a bare number comes back as the JSON it was

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 (hand-written)

SQLite gives a column declared JSON NUMERIC affinity: the JSON text of a bare
number became a number, so a task returning 10.0 gave its downstream the int 10
and 2**70 a float. Declared TEXT, the column keeps the text as written. Batch
mode copies the table with every row. A value SQLite already made a number
cannot be told apart from the JSON it came from (10 and 10.0 are one integer
now): it is kept as the text of the number it is read as today. PostgreSQL's
json column always kept the text: nothing to do there.
"""
from __future__ import annotations

import json

from alembic import op
import sqlalchemy as sa


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        return
    # SQLite's own text of a REAL may drop digits: rewrite those with Python's exact one after the copy
    numbers = bind.exec_driver_sql("SELECT id, value FROM xcom WHERE typeof(value) IN ('integer', 'real')").all()
    with op.batch_alter_table('xcom', recreate='always') as batch:
        batch.alter_column('value', type_=sa.Text(), existing_type=sa.JSON(), existing_nullable=True)
    for row_id, number in numbers:
        bind.execute(sa.text("UPDATE xcom SET value = :text WHERE id = :id"),
                     {"text": json.dumps(number), "id": row_id})


def downgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    with op.batch_alter_table('xcom', recreate='always') as batch:
        batch.alter_column('value', type_=sa.JSON(), existing_type=sa.Text(), existing_nullable=True)
