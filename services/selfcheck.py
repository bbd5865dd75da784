"""Self-checks at the end of a lesson (course.yaml lessons[].checks): practice questions answered with
instant feedback and the explanation — not graded, not counted against the learner. The key reaches the
page only in the answer to a check the learner has made."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from models import Lesson, Question, QuestionVersion
from services.errors import NotFound, ValidationFailed
from services.grading import correct_response, fraction, valid_response
from services.learning import learner_view
from services.permissions import Actor, require_role


@dataclass
class SelfCheck:
    question_id: str
    position: int
    question: dict[str, Any]        # the learner view: no fractions, keys or explanations


@dataclass
class CheckResult:
    fraction: float | None          # 0..1; None for an essay (nothing to mark)
    correct: bool
    key: Any                        # the keyed response, in the learner view's terms
    explanation: str | None


def _versions(session: Session, ids: list[str]) -> dict[str, QuestionVersion]:
    rows = session.exec(select(QuestionVersion).join(
        Question, (Question.id == QuestionVersion.question_id) & (Question.current_version == QuestionVersion.version))
        .where(col(Question.id).in_(ids), Question.active, col(QuestionVersion.usage).in_(("practice", "both")))).all()
    return {v.question_id: v for v in rows}


def lesson_checks(session: Session, actor: Actor, *, lesson_id: str) -> list[SelfCheck]:
    require_role(actor, "learner")
    lesson = session.get(Lesson, lesson_id)
    if lesson is None or not lesson.active:
        raise NotFound(what="lesson", id=lesson_id)
    ids = list(lesson.checks or [])
    versions = _versions(session, ids)
    return [SelfCheck(qid, n, learner_view(versions[qid].data, None))
            for n, qid in enumerate([i for i in ids if i in versions], start=1)]


def check_answer(session: Session, actor: Actor, *, lesson_id: str, question_id: str, response: Any) -> CheckResult:
    """Mark one self-check answer and hand back the key and explanation (only now)."""
    require_role(actor, "learner")
    lesson = session.get(Lesson, lesson_id)
    if lesson is None or not lesson.active or question_id not in (lesson.checks or []):
        raise NotFound(what="self-check", id=question_id)
    version = _versions(session, [question_id]).get(question_id)
    if version is None:
        raise NotFound(what="self-check", id=question_id)
    record = version.data
    if not valid_response(record, response):
        raise ValidationFailed("error.bad_response")
    f = fraction(record, response)
    if f is not None and f < 0.999:   # a wrong self-check answer enters the mistake notebook
        from services import notebook
        notebook.record_miss(session, actor.id, question_id, source="selfcheck", version=version.version)
    return CheckResult(f, f is not None and f >= 0.999, correct_response(record), record.get("explanation"))
