from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.db import utcnow


class LessonProgress(SQLModel, table=True):
    __tablename__ = "lesson_progress"
    __table_args__ = (UniqueConstraint("user_id", "lesson_id", name="uq_lesson_progress"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    course_id: str = Field(foreign_key="course.id", index=True)
    lesson_id: str = Field(foreign_key="lesson.id")
    first_opened_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow, index=True)
    seconds_spent: int = 0
    completed_at: Optional[datetime] = None


class CourseCompletion(SQLModel, table=True):
    __tablename__ = "course_completion"
    __table_args__ = (UniqueConstraint("user_id", "course_id", name="uq_course_completion"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    course_id: str = Field(foreign_key="course.id", index=True)
    completed_at: datetime = Field(default_factory=utcnow, index=True)


class LedgerEntry(SQLModel, table=True):
    """学时 ledger: append-only. A total is always a SUM over rows, each with its reason.
    (user, source_type, source_id) is unique so the same achievement is never credited twice;
    corrections are new rows of source_type "adjustment"."""
    __tablename__ = "ledger_entry"
    __table_args__ = (
        UniqueConstraint("user_id", "source_type", "source_id", name="uq_ledger_source"),
        Index("ix_ledger_user_year", "user_id", "year"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id")
    year: int = Field(index=True)
    hours: float
    source_type: str = Field(max_length=16)   # course | quiz | exam | adjustment | import
    source_id: str = Field(max_length=64)
    course_id: Optional[str] = Field(default=None, foreign_key="course.id", index=True)
    reason: str = Field(max_length=400)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: Optional[int] = Field(default=None, foreign_key="app_user.id")


class Attempt(SQLModel, table=True):
    """One sitting of a course quiz (and, later, an exam). The paper is drawn once and stored."""
    __tablename__ = "attempt"
    __table_args__ = (Index("ix_attempt_user_course", "user_id", "course_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    kind: str = Field(default="quiz", max_length=8)      # quiz | exam
    course_id: Optional[str] = Field(default=None, foreign_key="course.id")
    started_at: datetime = Field(default_factory=utcnow)
    deadline_at: Optional[datetime] = None
    submitted_at: Optional[datetime] = None
    status: str = Field(default="in_progress", max_length=16)   # in_progress | submitted
    score: Optional[float] = None
    max_score: float = 0
    pass_percent: float = 60
    passed: Optional[bool] = None


class AttemptItem(SQLModel, table=True):
    __tablename__ = "attempt_item"
    __table_args__ = (UniqueConstraint("attempt_id", "position", name="uq_attempt_item_pos"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    attempt_id: int = Field(foreign_key="attempt.id", index=True)
    position: int
    question_version_id: int = Field(foreign_key="question_version.id", index=True)
    points: float = 1
    option_order: Optional[list[int]] = Field(default=None, sa_column=Column(JSON))  # shuffled display order
    response: Optional[Any] = Field(default=None, sa_column=Column(JSON))           # saved at every change
    saved_at: Optional[datetime] = None
    score: Optional[float] = None
