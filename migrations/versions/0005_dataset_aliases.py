"""dataset_alias and its links: dataset aliases (Airflow 2.10)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 (hand-written)

A task lists DatasetAlias("name") in its outlets and adds real datasets to it while
it runs; a DAG may be scheduled on the alias. dataset_alias holds the names (made
when a DAG naming one is stored), dataset_alias_dataset the datasets each alias has
resolved to, dataset_alias_dataset_event the events recorded through an alias, and
dataset_alias_dag_ref the DAGs scheduled on one. New tables only: nothing existing
changes, so downgrading drops them with what they held.
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table('dataset_alias',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=1500), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dataset_alias')),
    sa.UniqueConstraint('name', name=op.f('uq_dataset_alias_name'))
    )
    op.create_table('dataset_alias_dag_ref',
    sa.Column('alias_id', sa.Integer(), nullable=False),
    sa.Column('dag_id', sa.String(length=250), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alias_id'], ['dataset_alias.id'],
                            name=op.f('fk_dataset_alias_dag_ref_alias_id_dataset_alias'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['dag_id'], ['dag.dag_id'], name=op.f('fk_dataset_alias_dag_ref_dag_id_dag'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('alias_id', 'dag_id', name=op.f('pk_dataset_alias_dag_ref'))
    )
    op.create_table('dataset_alias_dataset',
    sa.Column('alias_id', sa.Integer(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['alias_id'], ['dataset_alias.id'],
                            name=op.f('fk_dataset_alias_dataset_alias_id_dataset_alias'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['dataset_id'], ['dataset.id'], name=op.f('fk_dataset_alias_dataset_dataset_id_dataset'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('alias_id', 'dataset_id', name=op.f('pk_dataset_alias_dataset'))
    )
    op.create_index('ix_dataset_alias_dataset_dataset_id', 'dataset_alias_dataset', ['dataset_id'], unique=False)
    op.create_table('dataset_alias_dataset_event',
    sa.Column('alias_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['alias_id'], ['dataset_alias.id'],
                            name=op.f('fk_dataset_alias_dataset_event_alias_id_dataset_alias'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['dataset_event.id'],
                            name=op.f('fk_dataset_alias_dataset_event_event_id_dataset_event'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('alias_id', 'event_id', name=op.f('pk_dataset_alias_dataset_event'))
    )
    op.create_index('ix_dataset_alias_dataset_event_event_id', 'dataset_alias_dataset_event', ['event_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_dataset_alias_dataset_event_event_id', table_name='dataset_alias_dataset_event')
    op.drop_table('dataset_alias_dataset_event')
    op.drop_index('ix_dataset_alias_dataset_dataset_id', table_name='dataset_alias_dataset')
    op.drop_table('dataset_alias_dataset')
    op.drop_table('dataset_alias_dag_ref')
    op.drop_table('dataset_alias')
