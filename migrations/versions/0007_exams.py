"""exams, exam attempts, essay grading

Revision ID: 0007
Revises: 0006

`attempt` gains exam_id, seed and tab_switches by plain ADD COLUMN (no table rebuild on SQLite: a rebuild
would drop 0002's status triggers and fail while attempt_item rows point at it); one open attempt per
learner and exam is a second partial unique index beside 0002's (NULLs are distinct in a unique index, so
adding exam_id to that one would stop enforcing one open quiz attempt).
"""
from typing import Union
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0007'
down_revision: Union[str, None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OPEN_EXAM = "status = 'in_progress' AND exam_id IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        'exam',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), nullable=False, server_default=''),
        sa.Column('course_id', sa.String(length=64), sa.ForeignKey('course.id'), nullable=True),
        sa.Column('status', sa.String(length=12), nullable=False, server_default='draft'),
        sa.Column('rules', sa.JSON(), nullable=True),
        sa.Column('question_ids', sa.JSON(), nullable=True),
        sa.Column('opens_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('closes_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('time_limit_minutes', sa.Integer(), nullable=False, server_default='60'),
        sa.Column('attempts_allowed', sa.Integer(), nullable=False, server_default='1'),
        sa.Column('grading_method', sa.String(length=8), nullable=False, server_default='highest'),
        sa.Column('pass_percent', sa.Float(), nullable=False, server_default='60'),
        sa.Column('shuffle_questions', sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column('shuffle_options', sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column('one_per_page', sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column('audience_units', sa.JSON(), nullable=False, server_default='[]'),
        sa.Column('audience_users', sa.JSON(), nullable=False, server_default='[]'),
        sa.Column('review_score', sa.String(length=12), nullable=False, server_default='after_submit'),
        sa.Column('review_answers', sa.String(length=12), nullable=False, server_default='after_close'),
        sa.Column('review_explanations', sa.String(length=12), nullable=False, server_default='after_close'),
        sa.Column('mc_scoring', sa.String(length=16), nullable=False, server_default='proportional'),
        sa.Column('credit_hours', sa.Float(), nullable=False, server_default='0'),
        sa.Column('certificate', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('tab_switch_limit', sa.Integer(), nullable=True),
        sa.Column('allow_copy', sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column('created_by', sa.Integer(), sa.ForeignKey('app_user.id'), nullable=True),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('published_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.CheckConstraint("status IN ('draft', 'published', 'closed')", name='ck_exam_status'),
    )
    op.create_index('ix_exam_course_id', 'exam', ['course_id'])
    op.create_index('ix_exam_status_window', 'exam', ['status', 'opens_at', 'closes_at'])

    if op.get_bind().dialect.name == 'sqlite':
        # ADD COLUMN ... REFERENCES is allowed on SQLite when the default is NULL (no rebuild)
        op.execute(sa.text('ALTER TABLE attempt ADD COLUMN exam_id INTEGER REFERENCES exam (id)'))
    else:
        op.add_column('attempt', sa.Column('exam_id', sa.Integer(), nullable=True))
        op.create_foreign_key('fk_attempt_exam_id', 'attempt', 'exam', ['exam_id'], ['id'])
    op.add_column('attempt', sa.Column('seed', sa.Integer(), nullable=True))
    op.add_column('attempt', sa.Column('tab_switches', sa.Integer(), nullable=False, server_default=sa.text('0')))
    op.add_column('attempt_item', sa.Column('flagged', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index('ix_attempt_exam_id', 'attempt', ['exam_id'])
    op.create_index('uq_attempt_open_exam', 'attempt', ['user_id', 'exam_id'], unique=True,
                    sqlite_where=sa.text(OPEN_EXAM), postgresql_where=sa.text(OPEN_EXAM))

    op.create_table(
        'attempt_event',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('attempt_id', sa.Integer(), sa.ForeignKey('attempt.id'), nullable=False),
        sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
    )
    op.create_index('ix_attempt_event_attempt', 'attempt_event', ['attempt_id', 'at'])
    op.create_table(
        'essay_grade',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('attempt_item_id', sa.Integer(), sa.ForeignKey('attempt_item.id'), nullable=False),
        sa.Column('round', sa.Integer(), nullable=False, server_default='1'),
        sa.Column('grader_id', sa.Integer(), sa.ForeignKey('app_user.id'), nullable=False),
        sa.Column('rubric_scores', sa.JSON(), nullable=False),
        sa.Column('score', sa.Float(), nullable=False),
        sa.Column('comment', sa.Text(), nullable=False, server_default=''),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.UniqueConstraint('attempt_item_id', 'round', name='uq_essay_grade_round'),
    )
    op.create_index('ix_essay_grade_attempt_item_id', 'essay_grade', ['attempt_item_id'])


def downgrade() -> None:
    op.drop_index('ix_essay_grade_attempt_item_id', table_name='essay_grade')
    op.drop_table('essay_grade')
    op.drop_index('ix_attempt_event_attempt', table_name='attempt_event')
    op.drop_table('attempt_event')
    op.drop_index('uq_attempt_open_exam', table_name='attempt')
    op.drop_index('ix_attempt_exam_id', table_name='attempt')
    op.drop_column('attempt_item', 'flagged')
    op.drop_column('attempt', 'tab_switches')        # SQLite >= 3.35 drops plain columns in place
    op.drop_column('attempt', 'seed')
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint('fk_attempt_exam_id', 'attempt', type_='foreignkey')
    op.drop_column('attempt', 'exam_id')
    op.drop_index('ix_exam_status_window', table_name='exam')
    op.drop_index('ix_exam_course_id', table_name='exam')
    op.drop_table('exam')
