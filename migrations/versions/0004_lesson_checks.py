"""lesson self-checks: lesson.checks, the ids of the practice questions shown at the end of a lesson

Revision ID: 0004
Revises: 0003
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # plain ADD COLUMN with a constant default: existing lessons get no self-checks until the next content load
    op.add_column('lesson', sa.Column('checks', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    with op.batch_alter_table('lesson') as batch_op:
        batch_op.drop_column('checks')
