"""question bank browser: searchable text and tags on question versions, who made a version

Revision ID: 0005
Revises: 0004
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("question_version") as b:
        b.add_column(sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
        b.add_column(sa.Column("tags_key", sa.Text(), nullable=False, server_default=""))
        b.add_column(sa.Column("created_by", sa.Integer(), sa.ForeignKey("app_user.id", name="fk_qv_created_by"), nullable=True))
    # backfill the versions already stored (same rule as models.content.search_fields, frozen here)
    conn = op.get_bind()
    table = sa.table("question_version", sa.column("id", sa.Integer), sa.column("data", sa.JSON),
                     sa.column("search_text", sa.Text), sa.column("tags_key", sa.Text))
    for row in conn.execute(sa.select(table.c.id, table.c.data)).all():
        text, tags = search_fields(row.data or {})
        conn.execute(table.update().where(table.c.id == row.id).values(search_text=text, tags_key=tags))
    op.create_index("ix_question_active_course", "question", ["active", "course_id"])


def search_fields(record: dict) -> tuple[str, str]:
    parts = [record.get("id") or "", record.get("title") or "", record.get("text") or "", record.get("explanation") or ""]
    parts += [o.get("text", "") for o in record.get("options") or []]
    parts += [str(a.get("text", "")) for a in record.get("answers") or []]
    parts += [f"{p.get('left', '')} {p.get('right', '')}" for p in record.get("pairs") or []]
    tags = [str(t) for t in record.get("tags") or []]
    return "\n".join(parts).lower(), ("|" + "|".join(tags) + "|") if tags else ""


def downgrade() -> None:
    op.drop_index("ix_question_active_course", table_name="question")
    with op.batch_alter_table("question_version") as b:
        b.drop_column("created_by")
        b.drop_column("tags_key")
        b.drop_column("search_text")
