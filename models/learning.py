from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, CheckConstraint, Column, Index, UniqueConstraint, text
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
    source_type: str = Field(max_length=16)   # lesson | quiz | exam | adjustment | import | course (before 0002)
    source_id: str = Field(max_length=64)
    course_id: Optional[str] = Field(default=None, foreign_key="course.id", index=True)
    reason: str = Field(max_length=400)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: Optional[int] = Field(default=None, foreign_key="app_user.id")


# The attempt life cycle (course quizzes now, exams next), a closed set checked by the database:
#   in_progress      open: answers are saved one by one until submission or the deadline
#   pending_grading  closed, but some item needs a human score (essays): no pass/fail yet
#   submitted        closed and fully graded: score and passed are final
# Closing is one conditional UPDATE ... WHERE status = 'in_progress', so it happens exactly once.
ATTEMPT_OPEN = "in_progress"
ATTEMPT_PENDING = "pending_grading"
ATTEMPT_DONE = "submitted"
ATTEMPT_STATUSES = (ATTEMPT_OPEN, ATTEMPT_PENDING, ATTEMPT_DONE)
OPEN_ATTEMPT_WHERE = "status = 'in_progress'"
OPEN_EXAM_ATTEMPT_WHERE = "status = 'in_progress' AND exam_id IS NOT NULL"


class Attempt(SQLModel, table=True):
    """One sitting of a course quiz (and, later, an exam). The paper is drawn once and stored.
    At most one open attempt per learner, course and kind (a unique index over open attempts only)."""
    __tablename__ = "attempt"
    __table_args__ = (
        Index("ix_attempt_user_course", "user_id", "course_id"),
        CheckConstraint("status IN ('in_progress', 'pending_grading', 'submitted')", name="ck_attempt_status"),
        Index("uq_attempt_open", "user_id", "course_id", "kind", unique=True,
              sqlite_where=text(OPEN_ATTEMPT_WHERE), postgresql_where=text(OPEN_ATTEMPT_WHERE)),
        # exams (0007): one open attempt per learner and exam. A second index rather than exam_id added to
        # the one above: NULLs are distinct in a unique index, so (user, course, NULL, kind) would no longer
        # stop a second open quiz attempt. Exam attempts leave course_id NULL.
        Index("uq_attempt_open_exam", "user_id", "exam_id", unique=True,
              sqlite_where=text(OPEN_EXAM_ATTEMPT_WHERE), postgresql_where=text(OPEN_EXAM_ATTEMPT_WHERE)),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    kind: str = Field(default="quiz", max_length=8)      # quiz | exam (practice | mock later)
    course_id: Optional[str] = Field(default=None, foreign_key="course.id")
    exam_id: Optional[int] = Field(default=None, foreign_key="exam.id", index=True)   # kind "exam" (0007)
    seed: Optional[int] = None                            # of the paper's drawing and shuffles (0007)
    tab_switches: int = 0                                 # counted on the server (0007; events in attempt_event)
    started_at: datetime = Field(default_factory=utcnow)
    deadline_at: Optional[datetime] = None               # server clock; saves at or after it are refused
    submitted_at: Optional[datetime] = None
    status: str = Field(default=ATTEMPT_OPEN, max_length=16)   # one of ATTEMPT_STATUSES
    auto_submitted: bool = False                          # finalised at the deadline, not by the learner
    score: Optional[float] = None
    max_score: float = 0
    pass_percent: float = 60
    passed: Optional[bool] = None                         # None while open or pending grading


class AttemptItem(SQLModel, table=True):
    __tablename__ = "attempt_item"
    __table_args__ = (UniqueConstraint("attempt_id", "position", name="uq_attempt_item_pos"),
                      # the item analysis reads every scored item of an exam from this index alone (0014)
                      Index("ix_attempt_item_marks", "attempt_id", "question_version_id", "score", "points"))
    id: Optional[int] = Field(default=None, primary_key=True)
    attempt_id: int = Field(foreign_key="attempt.id")
    position: int
    question_version_id: int = Field(foreign_key="question_version.id", index=True)
    points: float = 1
    option_order: Optional[list[int]] = Field(default=None, sa_column=Column(JSON))  # shuffled display order
    response: Optional[Any] = Field(default=None, sa_column=Column(JSON))           # saved at every change
    saved_at: Optional[datetime] = None
    version: int = 0            # +1 at every save: a save names the version it replaces (stale tabs are refused)
    score: Optional[float] = None   # None until graded (an essay waits for a human)
    flagged: bool = False           # the learner marked it to come back to (0007)
