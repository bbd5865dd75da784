from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, event
from sqlmodel import Field, SQLModel

from models.db import utcnow


class Course(SQLModel, table=True):
    __tablename__ = "course"
    id: str = Field(primary_key=True, max_length=64)
    title: str = Field(max_length=200)
    title_en: str | None = Field(default=None, max_length=200)
    category: str = Field(max_length=64, index=True)
    required: bool = False
    summary: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    objectives: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    quiz: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    exam_rule_set: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    position: int = 0
    active: bool = True
    content_hash: str = Field(default="", max_length=64)   # of the package files at the last load
    updated_at: datetime = Field(default_factory=utcnow)
    # who may take it: org unit ids, each with its subtree; empty = everyone (migration 0006)
    audience: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    created_by: int | None = Field(default=None, foreign_key="app_user.id")   # None: from question_bank/


class Lesson(SQLModel, table=True):
    __tablename__ = "lesson"
    id: str = Field(primary_key=True, max_length=64)
    course_id: str = Field(foreign_key="course.id", index=True)
    position: int
    title: str = Field(max_length=200)
    body_md: str = Field(sa_column=Column(Text, nullable=False))
    minutes: int
    active: bool = True
    # self-check question ids shown at the end of the lesson (course.yaml lessons[].checks; migration 0004)
    checks: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    media_minutes: float = Field(default=0, sa_column_kwargs={"server_default": "0"})   # attached media's running time


class LessonFile(SQLModel, table=True):
    """A file attached to a lesson (PDF or video), stored once under data/files/ by its SHA-256."""
    __tablename__ = "lesson_file"
    id: int | None = Field(default=None, primary_key=True)
    lesson_id: str = Field(foreign_key="lesson.id", index=True)
    sha256: str = Field(max_length=64, index=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=8)            # pdf | video
    mime: str = Field(max_length=64)
    size: int
    media_minutes: float = 0                   # running time of a video (read from the file when it says)
    position: int = 0
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    created_by: int | None = Field(default=None, foreign_key="app_user.id")


class Question(SQLModel, table=True):
    """A question's identity; its content lives in immutable versions."""
    __tablename__ = "question"
    __table_args__ = (Index("ix_question_active_course", "active", "course_id"),)   # migration 0005
    id: str = Field(primary_key=True, max_length=64)
    course_id: str | None = Field(default=None, foreign_key="course.id", index=True)
    current_version: int = 1
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class QuestionVersion(SQLModel, table=True):
    """Immutable: attempts point at a version, so editing a question never changes a past paper."""
    __tablename__ = "question_version"
    __table_args__ = (
        UniqueConstraint("question_id", "version", name="uq_question_version"),
        Index("ix_qv_pick", "type", "usage", "difficulty"),
    )
    id: int | None = Field(default=None, primary_key=True)
    question_id: str = Field(foreign_key="question.id", index=True)
    version: int
    type: str = Field(max_length=20)
    category: str = Field(max_length=200, index=True)
    difficulty: int = 3
    usage: str = Field(default="both", max_length=10)
    points: float = 1.0
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # the interchange-format record
    content_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: int | None = Field(default=None, foreign_key="app_user.id")   # None: loaded from question_bank/
    # for the bank browser's filters in SQL: lower-cased stem, options, explanation and id; tags as |a|b|
    search_text: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    tags_key: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))


def search_fields(record: dict[str, Any]) -> tuple[str, str]:
    """(search_text, tags_key) of an interchange record."""
    parts = [record.get("id") or "", record.get("title") or "", record.get("text") or "", record.get("explanation") or ""]
    parts += [o.get("text", "") for o in record.get("options") or []]
    parts += [str(a.get("text", "")) for a in record.get("answers") or []]
    parts += [f"{p.get('left', '')} {p.get('right', '')}" for p in record.get("pairs") or []]
    tags = [str(t) for t in record.get("tags") or []]
    return "\n".join(parts).lower(), ("|" + "|".join(tags) + "|") if tags else ""


@event.listens_for(QuestionVersion, "before_insert")
def _fill_search_fields(_mapper, _conn, target: QuestionVersion) -> None:
    # every way a version is written (bank load, import, editor) gets searchable fields
    target.search_text, target.tags_key = search_fields(target.data or {})
