"""task_instance.trigger_timeout and an index on task_instance.trigger_id: deferrable operators

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 (hand-written)

The trigger table and task_instance's trigger_id, next_method and next_kwargs came with 0001.
A deferred task now also keeps when its deferral times out (the scheduler fails it then), and
the triggerer finds the task instances of a trigger by trigger_id.
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column('task_instance', sa.Column('trigger_timeout', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_task_instance_trigger_id', 'task_instance', ['trigger_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_task_instance_trigger_id', table_name='task_instance')
    # A plain DROP COLUMN (SQLite 3.35+), not a batch copy: recreating task_instance would cascade-delete
    # the rows that reference it (XComs, history, reschedules) with foreign keys on.
    op.drop_column('task_instance', 'trigger_timeout')
