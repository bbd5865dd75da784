"""attempt life cycle: closed status set, one open attempt per learner and course, per-item version

Revision ID: 0002
Revises: 0001
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: Union[str, None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

STATUSES = "status IN ('in_progress', 'pending_grading', 'submitted')"
OPEN = "status = 'in_progress'"


def upgrade() -> None:
    # plain ADD COLUMN (no table rebuild on SQLite: see the CHECK below)
    op.add_column('attempt_item', sa.Column('version', sa.Integer(), nullable=False, server_default=sa.text('0')))
    op.add_column('attempt', sa.Column('auto_submitted', sa.Boolean(), nullable=False, server_default=sa.text('false')))
    # Before 0002 nothing but the page stopped a second open attempt of the same quiz (two tabs starting at
    # once). Keep the newest open one; close the others as submitted without a score (score and passed stay
    # NULL: they were never graded, and inventing a result would be worse). Works on SQLite and PostgreSQL.
    op.execute(sa.text(
        "UPDATE attempt SET status = 'submitted', auto_submitted = true, submitted_at = started_at "
        "WHERE status = 'in_progress' AND EXISTS (SELECT 1 FROM attempt newer WHERE newer.status = 'in_progress' "
        "AND newer.user_id = attempt.user_id AND newer.kind = attempt.kind AND newer.id > attempt.id "
        "AND (newer.course_id = attempt.course_id OR (newer.course_id IS NULL AND attempt.course_id IS NULL)))"))
    op.execute(sa.text(f"UPDATE attempt SET status = 'submitted' WHERE NOT ({STATUSES})"))
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite cannot add a CHECK to an existing table without recreating it, and recreating `attempt`
        # (DROP TABLE) fails while attempt_item rows point at it with foreign keys on. Triggers enforce
        # the same closed set for every INSERT and UPDATE.
        for event in ('INSERT', 'UPDATE OF status'):
            name = 'ck_attempt_status_' + event.split()[0].lower()
            op.execute(sa.text(f"CREATE TRIGGER {name} BEFORE {event} ON attempt WHEN NOT (NEW.{STATUSES}) "
                               "BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: ck_attempt_status'); END"))
    else:
        op.create_check_constraint('ck_attempt_status', 'attempt', STATUSES)
    op.create_index('uq_attempt_open', 'attempt', ['user_id', 'course_id', 'kind'], unique=True,
                    sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))


def downgrade() -> None:
    op.drop_index('uq_attempt_open', table_name='attempt')
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(sa.text('DROP TRIGGER IF EXISTS ck_attempt_status_insert'))
        op.execute(sa.text('DROP TRIGGER IF EXISTS ck_attempt_status_update'))
    else:
        op.drop_constraint('ck_attempt_status', 'attempt', type_='check')
    op.drop_column('attempt', 'auto_submitted')      # SQLite >= 3.35 drops a plain column in place
    op.drop_column('attempt_item', 'version')
