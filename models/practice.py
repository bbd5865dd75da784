"""Practice and the mistake notebook (错题本, migration 0010).

- `Mistake`: one notebook entry per learner x question: how often and when it was missed, where last
  (practice | selfcheck | quiz | exam | mock | review), the question version missed, and whether it is in
  the notebook now (`left_at` is set when it was recalled correctly at a stable interval; a new miss
  brings it back).
- `ReviewCard`: the FSRS card per learner x question (the `fsrs` package's Card state, in columns so
  "due today" is one indexed query).
- `ReviewLog`: every rating the card got (misses elsewhere are rated Again), append-only: FSRS can be
  re-fitted from it. `attempt_item_id` is unique, so one answered item is never counted twice.
- `PracticeCheck`: an item of a practice or review attempt the learner checked (核对答案) — it is locked
  from then on; the check time gives the answer's duration for the automatic rating.
"""
from datetime import datetime
from typing import Optional

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.db import utcnow

MISTAKE_SOURCES = ("practice", "selfcheck", "quiz", "exam", "mock", "review")


class Mistake(SQLModel, table=True):
    __tablename__ = "mistake"
    __table_args__ = (
        UniqueConstraint("user_id", "question_id", name="uq_mistake_user_question"),
        Index("ix_mistake_user_left", "user_id", "left_at"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id")
    question_id: str = Field(foreign_key="question.id", max_length=64, index=True)
    misses: int = 1
    first_missed_at: datetime = Field(default_factory=utcnow)
    last_missed_at: datetime = Field(default_factory=utcnow)
    last_source: str = Field(default="practice", max_length=12)      # one of MISTAKE_SOURCES
    missed_version: int = 1            # the question's version the learner last missed
    left_at: Optional[datetime] = None  # None: in the notebook
    times_left: int = 0                 # how often it left (and so, after a return, came back)


class ReviewCard(SQLModel, table=True):
    """fsrs.Card of one learner x question: state 1 learning, 2 review, 3 relearning."""
    __tablename__ = "review_card"
    __table_args__ = (
        UniqueConstraint("user_id", "question_id", name="uq_review_card_user_question"),
        Index("ix_review_card_user_due", "user_id", "due"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id")
    question_id: str = Field(foreign_key="question.id", max_length=64)
    state: int = 1
    step: Optional[int] = 0
    stability: Optional[float] = None
    difficulty: Optional[float] = None
    due: datetime = Field(default_factory=utcnow)
    last_review: Optional[datetime] = None
    reviews: int = 0


class ReviewLog(SQLModel, table=True):
    __tablename__ = "review_log"
    __table_args__ = (Index("ix_review_log_user_at", "user_id", "reviewed_at"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    card_id: int = Field(foreign_key="review_card.id", index=True)
    user_id: int = Field(foreign_key="app_user.id")
    question_id: str = Field(max_length=64)
    rating: int                        # fsrs.Rating: 1 Again, 2 Hard, 3 Good, 4 Easy
    reviewed_at: datetime = Field(default_factory=utcnow)
    duration_ms: Optional[int] = None
    source: str = Field(max_length=12)  # one of MISTAKE_SOURCES
    chosen: bool = False               # the learner's own rating (not the automatic one)
    attempt_item_id: Optional[int] = Field(default=None, foreign_key="attempt_item.id", unique=True)
    due_after: datetime
    stability_after: Optional[float] = None
    difficulty_after: Optional[float] = None


class PracticeCheck(SQLModel, table=True):
    __tablename__ = "practice_check"
    attempt_item_id: int = Field(primary_key=True, foreign_key="attempt_item.id")
    checked_at: datetime = Field(default_factory=utcnow)
    correct: bool = False
    duration_ms: Optional[int] = None
    rated: bool = False                # a review item: its rating was recorded
