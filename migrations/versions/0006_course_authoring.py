"""course authoring: audience, author, lesson media minutes, lesson files

Revision ID: 0006
Revises: 0005
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("course") as b:
        b.add_column(sa.Column("audience", sa.JSON(), nullable=False, server_default="[]"))
        b.add_column(sa.Column("created_by", sa.Integer(), sa.ForeignKey("app_user.id", name="fk_course_created_by"), nullable=True))
    with op.batch_alter_table("lesson") as b:
        b.add_column(sa.Column("media_minutes", sa.Float(), nullable=False, server_default="0"))
    op.create_table(
        "lesson_file",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("lesson_id", sa.String(length=64), sa.ForeignKey("lesson.id"), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("mime", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("media_minutes", sa.Float(), nullable=False, server_default="0"),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=True),
    )
    op.create_index("ix_lesson_file_lesson_id", "lesson_file", ["lesson_id"])
    op.create_index("ix_lesson_file_sha256", "lesson_file", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_lesson_file_sha256", table_name="lesson_file")
    op.drop_index("ix_lesson_file_lesson_id", table_name="lesson_file")
    op.drop_table("lesson_file")
    with op.batch_alter_table("lesson") as b:
        b.drop_column("media_minutes")
    with op.batch_alter_table("course") as b:
        b.drop_column("created_by")
        b.drop_column("audience")
