"""In-app notices (站内通知): one message from a sender to many recipients, read state per recipient.
Also the indexes the HR analytics queries need on tables declared elsewhere (migration 0009)."""
from datetime import datetime
from typing import Optional

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from models.db import utcnow
from models.learning import Attempt, CourseCompletion, LedgerEntry


class Notice(SQLModel, table=True):
    """A message. sender_name is kept as it was when sent (a notice from HR names its sender even
    after the account is renamed); sender_id is None for system notices."""
    __tablename__ = "notice"
    id: Optional[int] = Field(default=None, primary_key=True)
    sender_id: Optional[int] = Field(default=None, foreign_key="app_user.id", index=True)
    sender_name: str = Field(default="", max_length=128)
    kind: str = Field(default="message", max_length=16)     # message | reminder
    text: str = Field(max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, index=True)


class NoticeRecipient(SQLModel, table=True):
    __tablename__ = "notice_recipient"
    __table_args__ = (Index("ix_notice_recipient_user_read", "user_id", "read_at"),)
    notice_id: int = Field(foreign_key="notice.id", primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", primary_key=True)
    read_at: Optional[datetime] = None


# analytics indexes on other tables (created by migration 0009 with CREATE INDEX: no table rebuild)
ANALYTICS_INDEXES = (
    # per-person yearly sums read the index alone (year, user_id, hours): no table lookups
    Index("ix_ledger_year_user_hours", LedgerEntry.__table__.c.year, LedgerEntry.__table__.c.user_id,
          LedgerEntry.__table__.c.hours),
    Index("ix_attempt_status_deadline", Attempt.__table__.c.status, Attempt.__table__.c.deadline_at),
    # exam KPIs and pass rates by exam read this index alone: the window, who, the result, which exam (0014)
    Index("ix_attempt_kind_submitted", *(Attempt.__table__.c[c] for c in (
        "kind", "submitted_at", "status", "user_id", "passed", "score", "max_score", "course_id", "exam_id"))),
    Index("ix_course_completion_course_at", CourseCompletion.__table__.c.course_id,
          CourseCompletion.__table__.c.completed_at, CourseCompletion.__table__.c.user_id),
    # migration 0012: one person's exams and completions read from the index alone (drill-down)
    Index("ix_attempt_user_exam", *(Attempt.__table__.c[c] for c in (
        "user_id", "kind", "status", "submitted_at", "passed", "score", "max_score", "course_id", "exam_id"))),
    Index("ix_course_completion_user_at", *(CourseCompletion.__table__.c[c] for c in (
        "user_id", "completed_at", "course_id"))),
)


# --- analytics roll-ups (kept here with the other analytics tables of migration 0009) ------------
# The ledger is append-only, so sums over it can be carried forward exactly: rows with an id above
# AnalyticsState("ledger").last_id are added once (services.analytics.dashboard.refresh_rollups).

class LedgerYearTotal(SQLModel, table=True):
    """学时 per person and credited year: the sum of that person's ledger rows of that year."""
    __tablename__ = "ledger_year_total"
    __table_args__ = (Index("ix_ledger_year_total_year", "year", "user_id", "hours"),)
    user_id: int = Field(foreign_key="app_user.id", primary_key=True)
    year: int = Field(primary_key=True)
    hours: float = 0
    entries: int = 0


class LedgerWeekTotal(SQLModel, table=True):
    """学时 per unit and local week (Monday, YYYY-MM-DD), attributed to the unit the learner belonged to
    when the rows were rolled up (within minutes of being earned in live use)."""
    __tablename__ = "ledger_week_total"
    unit_id: int = Field(foreign_key="org_unit.id", primary_key=True)
    year: int = Field(primary_key=True)
    week: str = Field(max_length=10, primary_key=True)
    hours: float = 0
    entries: int = 0


class AnalyticsState(SQLModel, table=True):
    """Watermarks of the roll-ups: the highest ledger id already added."""
    __tablename__ = "analytics_state"
    key: str = Field(primary_key=True, max_length=32)
    last_id: int = 0
