"""practice attempts, mistake notebook and FSRS review cards (issue 9)

Revision ID: 0010
Revises: 0009

Only new tables: practice and mock attempts are attempt rows of kind "practice" / "mock" / "review".
"""
from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0010'
down_revision: Union[str, None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'mistake',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('question_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('misses', sa.Integer(), nullable=False),
        sa.Column('first_missed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('last_missed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('last_source', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column('missed_version', sa.Integer(), nullable=False),
        sa.Column('left_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('times_left', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id']),
        sa.ForeignKeyConstraint(['question_id'], ['question.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id', 'question_id', name='uq_mistake_user_question'),
    )
    op.create_index('ix_mistake_user_left', 'mistake', ['user_id', 'left_at'])
    op.create_index('ix_mistake_question_id', 'mistake', ['question_id'])
    op.create_table(
        'review_card',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('question_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('state', sa.Integer(), nullable=False),
        sa.Column('step', sa.Integer(), nullable=True),
        sa.Column('stability', sa.Float(), nullable=True),
        sa.Column('difficulty', sa.Float(), nullable=True),
        sa.Column('due', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('last_review', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('reviews', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id']),
        sa.ForeignKeyConstraint(['question_id'], ['question.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id', 'question_id', name='uq_review_card_user_question'),
    )
    op.create_index('ix_review_card_user_due', 'review_card', ['user_id', 'due'])
    op.create_table(
        'review_log',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('card_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('question_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('rating', sa.Integer(), nullable=False),
        sa.Column('reviewed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('duration_ms', sa.Integer(), nullable=True),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column('chosen', sa.Boolean(), nullable=False),
        sa.Column('attempt_item_id', sa.Integer(), nullable=True),
        sa.Column('due_after', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('stability_after', sa.Float(), nullable=True),
        sa.Column('difficulty_after', sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(['card_id'], ['review_card.id']),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id']),
        sa.ForeignKeyConstraint(['attempt_item_id'], ['attempt_item.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('attempt_item_id'),
    )
    op.create_index('ix_review_log_card_id', 'review_log', ['card_id'])
    op.create_index('ix_review_log_user_at', 'review_log', ['user_id', 'reviewed_at'])
    op.create_table(
        'practice_check',
        sa.Column('attempt_item_id', sa.Integer(), nullable=False),
        sa.Column('checked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('correct', sa.Boolean(), nullable=False),
        sa.Column('duration_ms', sa.Integer(), nullable=True),
        sa.Column('rated', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['attempt_item_id'], ['attempt_item.id']),
        sa.PrimaryKeyConstraint('attempt_item_id'),
    )


def downgrade() -> None:
    op.drop_table('practice_check')
    op.drop_index('ix_review_log_user_at', table_name='review_log')
    op.drop_index('ix_review_log_card_id', table_name='review_log')
    op.drop_table('review_log')
    op.drop_index('ix_review_card_user_due', table_name='review_card')
    op.drop_table('review_card')
    op.drop_index('ix_mistake_question_id', table_name='mistake')
    op.drop_index('ix_mistake_user_left', table_name='mistake')
    op.drop_table('mistake')
