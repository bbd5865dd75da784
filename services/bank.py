"""Trainers' view of the question bank (content is city-wide, so not org-scoped)."""
from __future__ import annotations

import pandas as pd
from sqlmodel import Session, col, func, select

from models import Course, Question, QuestionVersion
from services.errors import NotFound
from services.permissions import Actor, require_role


def _current():
    return (select(QuestionVersion, Question.course_id)
            .join(Question, (Question.id == QuestionVersion.question_id) & (Question.current_version == QuestionVersion.version))
            .where(Question.active))


def bank_stats(session: Session, actor: Actor) -> pd.DataFrame:
    """Questions per course and type (current versions of active questions)."""
    require_role(actor, "trainer")
    rows = session.exec(
        select(Course.title, QuestionVersion.type, func.count())
        .join(Question, (Question.id == QuestionVersion.question_id) & (Question.current_version == QuestionVersion.version))
        .join(Course, Course.id == Question.course_id).where(Question.active)
        .group_by(Course.title, QuestionVersion.type)).all()
    df = pd.DataFrame(rows, columns=["course", "type", "n"])
    if df.empty:
        return df
    return df.pivot_table(index="course", columns="type", values="n", fill_value=0, aggfunc="sum")


def list_questions(session: Session, actor: Actor, *, course_id: str | None = None, qtype: str | None = None,
                   text: str = "", difficulty: tuple[int, int] = (1, 5), limit: int = 500) -> pd.DataFrame:
    require_role(actor, "trainer")
    q = _current().where(QuestionVersion.difficulty >= difficulty[0], QuestionVersion.difficulty <= difficulty[1])
    if course_id:
        q = q.where(Question.course_id == course_id)
    if qtype:
        q = q.where(QuestionVersion.type == qtype)
    rows = session.exec(q.order_by(QuestionVersion.question_id).limit(5000 if text else limit)).all()
    data = [{"id": v.question_id, "version": v.version, "type": v.type, "category": v.category,
             "difficulty": v.difficulty, "usage": v.usage, "points": v.points, "text": v.data["text"]} for v, _ in rows]
    df = pd.DataFrame(data, columns=["id", "version", "type", "category", "difficulty", "usage", "points", "text"])
    if text.strip() and not df.empty:
        needle = text.strip().lower()
        df = df[df["text"].str.lower().str.contains(needle, regex=False) | df["id"].str.contains(needle, regex=False)
                | df["category"].str.lower().str.contains(needle, regex=False)].head(limit)
    return df


def question_record(session: Session, actor: Actor, *, question_id: str) -> dict:
    """The full record with its key: trainers only."""
    require_role(actor, "trainer")
    row = session.exec(_current().where(Question.id == question_id)).first()
    if row is None:
        raise NotFound(what="question", id=question_id)
    versions = session.exec(select(func.count()).select_from(QuestionVersion).where(QuestionVersion.question_id == question_id)).one()
    return {**row[0].data, "_version": row[0].version, "_versions": versions}


def courses(session: Session, actor: Actor) -> list[tuple[str, str]]:
    require_role(actor, "trainer")
    return [(c.id, c.title) for c in session.exec(select(Course).where(Course.active).order_by(col(Course.position))).all()]
