"""analytics: exact per-person-year totals (person_year_total) for the HR dashboard (issue 10)

Revision ID: 0013
Revises: 0012

One row per (person, city calendar year UTC+8): submitted exam attempts, passed, score sum (percent),
completions of active courses in the year. Rows are recomputed per person by the services that write
attempts and completions (services.analytics.rollups.refresh_person), never incremented. The table
starts empty: the dashboard's safety net (rollups.ensure_fresh) sees that its counts differ from the raw
rows and rebuilds it in SQL on first use. The migration does not call that code: a migration must keep
working on the schema of its own revision, whatever the services become later.
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


def downgrade() -> None:
    op.drop_index("ix_person_year_total_year", table_name="person_year_total")
    op.drop_table("person_year_total")
