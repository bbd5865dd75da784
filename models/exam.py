"""Exams (migration 0007): the definition a trainer sets, tab-switch events of attempts, essay grades.
The attempts themselves are `models.learning.Attempt` rows of kind "exam" with `exam_id` set."""
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, CheckConstraint, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.db import utcnow

EXAM_STATUSES = ("draft", "published", "closed")
REVIEW_WHEN = ("never", "after_submit", "after_close")
GRADING_METHODS = ("highest", "last")
MC_SCORING = ("all_or_nothing", "proportional")


class Exam(SQLModel, table=True):
    """An exam: a rule-based paper (`rules`, DrawRule dumps) or a fixed one (`question_ids`), its window,
    limits, audience (org units with their subtrees and/or named users), review policy and rewards.
    Draft -> published -> closed; a published exam's paper (rules / questions) no longer changes."""
    __tablename__ = "exam"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published', 'closed')", name="ck_exam_status"),
        Index("ix_exam_status_window", "status", "opens_at", "closes_at"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    course_id: Optional[str] = Field(default=None, foreign_key="course.id", index=True)
    status: str = Field(default="draft", max_length=12)
    rules: Optional[list[dict[str, Any]]] = Field(default=None, sa_column=Column(JSON))
    question_ids: Optional[list[str]] = Field(default=None, sa_column=Column(JSON))
    opens_at: Optional[datetime] = None
    closes_at: Optional[datetime] = None
    time_limit_minutes: int = 60
    attempts_allowed: int = 1                    # 0 = unlimited
    grading_method: str = Field(default="highest", max_length=8)     # highest | last
    pass_percent: float = 60
    shuffle_questions: bool = True
    shuffle_options: bool = True
    one_per_page: bool = True                    # the player: one question per screen, or all on one page
    audience_units: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    audience_users: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    review_score: str = Field(default="after_submit", max_length=12)          # never | after_submit | after_close
    review_answers: str = Field(default="after_close", max_length=12)
    review_explanations: str = Field(default="after_close", max_length=12)
    mc_scoring: str = Field(default="proportional", max_length=16)            # all_or_nothing | proportional
    credit_hours: float = 0
    certificate: bool = False
    tab_switch_limit: Optional[int] = None       # None: switches are counted, never submit
    allow_copy: bool = True
    created_by: Optional[int] = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    published_at: Optional[datetime] = None
    closed_at: Optional[datetime] = None


class AttemptEvent(SQLModel, table=True):
    """Something the browser reported during an attempt, with the server time: tab switches
    (kind "hidden" for visibilitychange, "blur" for a lost focus)."""
    __tablename__ = "attempt_event"
    __table_args__ = (Index("ix_attempt_event_attempt", "attempt_id", "at"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    attempt_id: int = Field(foreign_key="attempt.id")
    at: datetime = Field(default_factory=utcnow)
    kind: str = Field(max_length=16)


class EssayGrade(SQLModel, table=True):
    """A human's score of one item: rubric item scores, total, comment. Round 1 is the grader's,
    round 2 a second grader's review (its score replaces the first)."""
    __tablename__ = "essay_grade"
    __table_args__ = (UniqueConstraint("attempt_item_id", "round", name="uq_essay_grade_round"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    attempt_item_id: int = Field(foreign_key="attempt_item.id", index=True)
    round: int = 1
    grader_id: int = Field(foreign_key="app_user.id")
    rubric_scores: list[float] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    score: float
    comment: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: datetime = Field(default_factory=utcnow)
