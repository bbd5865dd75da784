"""Helpers for the exam tests: a bank of one's own (a unique category, so draws are exact), exams, clocks."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from models import Question, QuestionVersion
from models.db import session_scope
from services import exams
from services.interchange import content_hash
from services.permissions import system_actor


class Clock:
    """The server clock (models.db.utcnow), frozen and moved by hand."""

    def __init__(self, monkeypatch):
        import models.db
        self.now = datetime.now(UTC).replace(microsecond=0)
        monkeypatch.setattr(models.db, "utcnow", lambda: self.now)

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def record(qid: str, type: str, category: str, *, difficulty: int = 3, usage: str = "both", points: float = 1,
           key: int = 0) -> dict:
    base = {"id": qid, "type": type, "text": f"题目 {qid}", "category": category, "difficulty": difficulty,
            "usage": usage, "points": points, "explanation": f"解析 {qid}", "tags": []}
    if type == "true_false":
        base["answer"] = key % 2 == 0
    elif type == "single_choice":
        base["options"] = [{"text": f"选项{i}", "fraction": 1.0 if i == key % 4 else 0.0, "feedback": None} for i in range(4)]
    elif type == "multiple_choice":
        base["options"] = [{"text": "甲", "fraction": 0.5, "feedback": None}, {"text": "乙", "fraction": 0.5, "feedback": None},
                           {"text": "丙", "fraction": -1.0, "feedback": None}, {"text": "丁", "fraction": -1.0, "feedback": None}]
    elif type == "essay":
        base["rubric"] = [{"criterion": "要点一", "points": points * 0.6}, {"criterion": "要点二", "points": points * 0.4}]
    elif type == "fill_blank":
        base["text"] += " ____"
        base["answers"] = [{"text": "答案", "fraction": 1.0, "feedback": None}]
    return base


def make_questions(n: int, type: str = "true_false", *, category: str | None = None, usage: str = "both",
                   difficulty: int = 3, points: float = 1, session=None) -> tuple[str, list[str]]:
    """n new questions in a category of their own (or the one given). Returns (category, ids)."""
    category = category or f"测试考试/{uuid.uuid4().hex[:8]}"
    ids = []

    def add(s):
        for i in range(n):
            qid = f"t-{uuid.uuid4().hex[:12]}"
            data = record(qid, type, category, difficulty=difficulty, usage=usage, points=points, key=i)
            s.add(Question(id=qid, current_version=1))
            s.flush()
            s.add(QuestionVersion(question_id=qid, version=1, type=type, category=category, difficulty=difficulty,
                                  usage=usage, points=points, data=data, content_hash=content_hash(data)))
            ids.append(qid)
    if session is not None:
        add(session)
        session.flush()
    else:
        with session_scope() as s:
            add(s)
    return category, ids


def correct_key(qid: str, data: dict, session) -> None:
    """A new (current) version of a question with a corrected key (true/false flipped, or another option)."""
    q = session.get(Question, qid)
    new = dict(data)
    if data["type"] == "true_false":
        new["answer"] = not data["answer"]
    elif data["type"] == "single_choice":
        k = next(i for i, o in enumerate(data["options"]) if o["fraction"] >= 1)
        new["options"] = [dict(o, fraction=1.0 if i == (k + 1) % len(data["options"]) else 0.0)
                          for i, o in enumerate(data["options"])]
    q.current_version += 1
    session.add(q)
    session.add(QuestionVersion(question_id=qid, version=q.current_version, type=data["type"], category=data["category"],
                                difficulty=data["difficulty"], usage=data["usage"], points=data["points"], data=new,
                                content_hash=content_hash(new)))
    session.flush()


def exam_in(category: str, count: int = 4, type: str = "true_false", **over) -> exams.ExamIn:
    data = {"title": "测试考试", "rules": [{"type": type, "category": category, "count": count}],
            "time_limit_minutes": 30, "attempts_allowed": 2, "pass_percent": 60}
    data.update(over)
    return exams.ExamIn.model_validate(data)


def published(exam: exams.ExamIn, actor=None) -> int:
    actor = actor or system_actor()
    with session_scope() as s:
        exam_id = exams.create_exam(s, actor, exam_in=exam)
        exams.publish_exam(s, actor, exam_id=exam_id)
    return exam_id
