"""analytics: exact per-person-year totals (person_year_total) for the HR dashboard (issue 10)

Revision ID: 0013
Revises: 0012

One row per (person, city calendar year UTC+8): submitted exam attempts, passed, score sum (percent),
completions of active courses in the year. Rows are recomputed per person by the services that write
attempts and completions (services.analytics.rollups.refresh_person), never incremented. The backfill
is the same INSERT ... SELECT (one per year) the services use to rebuild the table, so it has exactly
their semantics; it runs in SQL on SQLite and PostgreSQL.
"""
from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision: str = '0013'
down_revision: Union[str, None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "person_year_total",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("app_user.id"), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("exam_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("exam_passed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("exam_score_sum", sa.Float(), nullable=False, server_default="0"),
        sa.Column("done", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_person_year_total_year", "person_year_total",
                    ["year", "user_id", "exam_attempts", "exam_passed", "exam_score_sum", "done"])
    # backfill from the existing rows, in SQL (the services' own rebuild: identical semantics)
    from sqlmodel import Session

    from services.analytics.rollups import rebuild
    session = Session(bind=op.get_bind())
    rebuild(session)
    session.flush()


def downgrade() -> None:
    op.drop_index("ix_person_year_total_year", table_name="person_year_total")
    op.drop_table("person_year_total")
