"""offline training classes and attendance (issue 10)

Revision ID: 0011
Revises: 0010
"""
from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0011'
down_revision: Union[str, None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

PRESENT_WHERE = "removed_at IS NULL"


def upgrade() -> None:
    # two new tables only: no table is rebuilt, so SQLite and PostgreSQL run the same statements
    op.create_table(
        "offline_class",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("organiser", sa.String(length=128), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("hours", sa.Float(), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("org_unit.id", name="fk_offline_class_unit"), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("app_user.id", name="fk_offline_class_created_by"),
                  nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint("hours > 0", name="ck_offline_class_hours"),
        sa.CheckConstraint("end_date >= start_date", name="ck_offline_class_dates"),
    )
    op.create_index("ix_offline_class_end_date", "offline_class", ["end_date"])
    op.create_index("ix_offline_class_unit_id", "offline_class", ["unit_id"])
    op.create_table(
        "offline_attendance",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("class_id", sa.Integer(), sa.ForeignKey("offline_class.id", name="fk_offline_attendance_class"),
                  nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("app_user.id", name="fk_offline_attendance_user"),
                  nullable=False),
        sa.Column("ledger_entry_id", sa.Integer(),
                  sa.ForeignKey("ledger_entry.id", name="fk_offline_attendance_ledger"), nullable=True),
        sa.Column("added_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("added_by", sa.Integer(), sa.ForeignKey("app_user.id", name="fk_offline_attendance_added_by"),
                  nullable=True),
        sa.Column("removed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("removed_by", sa.Integer(), sa.ForeignKey("app_user.id", name="fk_offline_attendance_removed_by"),
                  nullable=True),
    )
    # one present attendance per class and person; removed ones stay as history
    op.create_index("uq_offline_attendance_present", "offline_attendance", ["class_id", "user_id"], unique=True,
                    sqlite_where=sa.text(PRESENT_WHERE), postgresql_where=sa.text(PRESENT_WHERE))
    op.create_index("ix_offline_attendance_user", "offline_attendance", ["user_id", "class_id"])


def downgrade() -> None:
    op.drop_index("ix_offline_attendance_user", table_name="offline_attendance")
    op.drop_index("uq_offline_attendance_present", table_name="offline_attendance")
    op.drop_table("offline_attendance")
    op.drop_index("ix_offline_class_unit_id", table_name="offline_class")
    op.drop_index("ix_offline_class_end_date", table_name="offline_class")
    op.drop_table("offline_class")
