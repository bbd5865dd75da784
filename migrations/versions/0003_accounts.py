"""accounts: case-insensitive usernames, sign-in throttling per account and client

Revision ID: 0003
Revises: 0002
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Sign-in matches usernames regardless of case, so two accounts may not differ only in case.
    clashes = op.get_bind().execute(sa.text(
        "SELECT lower(username) AS lowered, COUNT(*) AS n FROM app_user GROUP BY lower(username) "
        "HAVING COUNT(*) > 1 ORDER BY lower(username)")).all()
    if clashes:
        names = ", ".join(f"{row.lowered} ({row.n}×)" for row in clashes[:20])
        raise RuntimeError(
            f"migration 0003: {len(clashes)} username(s) exist in several spellings of case: {names}"
            f"{' …' if len(clashes) > 20 else ''}. Rename or deactivate-and-rename the extra accounts "
            "so that every username is unique regardless of case, then run the upgrade again.")
    op.create_index('uq_app_user_username_lower', 'app_user', [sa.text('lower(username)')], unique=True)

    op.create_table(
        'sign_in_throttle',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('client', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('window_start', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('last_failure_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('locked_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('scope', 'username', 'client', name='uq_sign_in_throttle'),
    )
    op.create_index('ix_sign_in_throttle_last_failure_at', 'sign_in_throttle', ['last_failure_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_sign_in_throttle_last_failure_at', table_name='sign_in_throttle')
    op.drop_table('sign_in_throttle')
    op.drop_index('uq_app_user_username_lower', table_name='app_user')
