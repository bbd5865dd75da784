"""certificates

Revision ID: 0008
Revises: 0007
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "certificate",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("serial", sa.String(length=16), nullable=False),
        sa.Column("attempt_id", sa.Integer(), sa.ForeignKey("attempt.id", name="fk_certificate_attempt"), nullable=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("app_user.id", name="fk_certificate_user"), nullable=False),
        sa.Column("holder_name", sa.String(length=64), nullable=False),
        sa.Column("unit_name", sa.String(length=128), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.Column("issued_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.Integer(), sa.ForeignKey("app_user.id", name="fk_certificate_revoked_by"), nullable=True),
        sa.Column("revoke_reason", sa.String(length=400), nullable=True),
        sa.UniqueConstraint("attempt_id", name="uq_certificate_attempt"),   # one certificate per attempt
    )
    op.create_index("ix_certificate_serial", "certificate", ["serial"], unique=True)
    op.create_index("ix_certificate_user_id", "certificate", ["user_id"])
    op.create_index("ix_certificate_issued_at", "certificate", ["issued_at"])


def downgrade() -> None:
    op.drop_index("ix_certificate_issued_at", table_name="certificate")
    op.drop_index("ix_certificate_user_id", table_name="certificate")
    op.drop_index("ix_certificate_serial", table_name="certificate")
    op.drop_table("certificate")
