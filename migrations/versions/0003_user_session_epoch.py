"""ab_user.session_epoch: logging out ends the user's browser sessions

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 (hand-written)

A session is a signed cookie the browser keeps; it now carries a stamp of the
user's session_epoch and password hash, and is refused once either changes.
Logout raises the epoch. Existing users start at 0; sessions made before this
migration carry no stamp, so everyone logs in once more.
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column('ab_user', sa.Column('session_epoch', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+), not a batch copy: recreating ab_user would cascade-delete
    # the users' roles and API tokens (ON DELETE CASCADE with foreign keys on).
    op.drop_column('ab_user', 'session_epoch')
