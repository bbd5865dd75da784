"""Self-checks: the learner view carries no key; checking an answer returns the key and the explanation."""
import pytest

from models import Lesson
from services import selfcheck
from services.errors import NotFound, PermissionDenied
from services.grading import correct_response


def _lesson_with_checks(session):
    return next(ls for ls in session.exec(__import__("sqlmodel").select(Lesson).where(Lesson.course_id == "strat")).all() if ls.checks)


def test_checks_carry_no_key_until_answered(session, make_user):
    learner = make_user("learner")
    lesson = _lesson_with_checks(session)
    checks = selfcheck.lesson_checks(session, learner, lesson_id=lesson.id)
    assert [c.question_id for c in checks] == [q for q in lesson.checks][:len(checks)] and checks
    for c in checks:
        assert "fraction" not in str(c.question) and "explanation" not in c.question and "answer" not in c.question
    from models import Question, QuestionVersion
    q = session.get(Question, checks[0].question_id)
    record = session.exec(__import__("sqlmodel").select(QuestionVersion).where(
        QuestionVersion.question_id == q.id, QuestionVersion.version == q.current_version)).one().data
    right = selfcheck.check_answer(session, learner, lesson_id=lesson.id, question_id=q.id, response=correct_response(record))
    assert right.correct and right.key == correct_response(record) and right.explanation == record.get("explanation")


def test_only_the_lessons_own_checks(session, make_user):
    learner = make_user("learner")
    lesson = _lesson_with_checks(session)
    with pytest.raises(NotFound):
        selfcheck.check_answer(session, learner, lesson_id=lesson.id, question_id="egov-001", response=None)
    hr = make_user("hr")
    with pytest.raises(PermissionDenied):
        selfcheck.lesson_checks(session, hr, lesson_id=lesson.id)
