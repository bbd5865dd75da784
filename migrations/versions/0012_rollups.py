"""analytics: covering indexes for the HR dashboard's per-person sums (issue 10)

Revision ID: 0012
Revises: 0011

Each learner's exams and completions are summed per person (GROUP BY user_id) and joined to the
learners: a small scope (one town) seeks its members' rows in these indexes alone, with no table
lookups. CREATE INDEX only: nothing is rebuilt. (Exact per-person roll-ups of attempts are not kept:
a review or regrade re-totals a submitted attempt in place, so an id watermark like the ledger's
would miss it.)
"""
from collections.abc import Sequence
from typing import Union

from alembic import op  # noqa: F401

revision: str = '0012'
down_revision: Union[str, None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


INDEXES = [
    ("ix_attempt_user_exam", "attempt",
     ["user_id", "kind", "status", "submitted_at", "passed", "score", "max_score", "course_id", "exam_id"]),
    ("ix_course_completion_user_at", "course_completion", ["user_id", "completed_at", "course_id"]),
]


def upgrade() -> None:
    for name, table, cols in INDEXES:
        op.create_index(name, table, cols)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
