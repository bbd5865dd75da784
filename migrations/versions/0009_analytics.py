"""analytics: notices, offline training, rollup indexes

Revision ID: 0009
Revises: 0008

Only new tables and CREATE INDEX: nothing big is rebuilt on SQLite.
"""
from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0009'
down_revision: Union[str, None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

INDEXES = [
    ("ix_ledger_year_user_hours", "ledger_entry", ["year", "user_id", "hours"]),
    ("ix_attempt_status_deadline", "attempt", ["status", "deadline_at"]),
    ("ix_attempt_kind_submitted", "attempt",
     ["kind", "submitted_at", "status", "user_id", "passed", "score", "max_score", "course_id"]),
    ("ix_course_completion_course_at", "course_completion", ["course_id", "completed_at", "user_id"]),
]


def upgrade() -> None:
    op.create_table(
        'notice',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sender_id', sa.Integer(), nullable=True),
        sa.Column('sender_name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['sender_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_notice_sender_id', 'notice', ['sender_id'])
    op.create_index('ix_notice_created_at', 'notice', ['created_at'])
    op.create_table(
        'notice_recipient',
        sa.Column('notice_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('read_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['notice_id'], ['notice.id']),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('notice_id', 'user_id'),
    )
    op.create_index('ix_notice_recipient_user_read', 'notice_recipient', ['user_id', 'read_at'])
    for name, table, cols in INDEXES:
        op.create_index(name, table, cols)
    op.create_table(
        'ledger_year_total',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('hours', sa.Float(), nullable=False),
        sa.Column('entries', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('user_id', 'year'),
    )
    op.create_index('ix_ledger_year_total_year', 'ledger_year_total', ['year', 'user_id', 'hours'])
    op.create_table(
        'ledger_week_total',
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('week', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column('hours', sa.Float(), nullable=False),
        sa.Column('entries', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['unit_id'], ['org_unit.id']),
        sa.PrimaryKeyConstraint('unit_id', 'year', 'week'),
    )
    op.create_table(
        'analytics_state',
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('last_id', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )


def downgrade() -> None:
    op.drop_table('analytics_state')
    op.drop_table('ledger_week_total')
    op.drop_index('ix_ledger_year_total_year', table_name='ledger_year_total')
    op.drop_table('ledger_year_total')
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index('ix_notice_recipient_user_read', table_name='notice_recipient')
    op.drop_table('notice_recipient')
    op.drop_index('ix_notice_created_at', table_name='notice')
    op.drop_index('ix_notice_sender_id', table_name='notice')
    op.drop_table('notice')
