"""Reviewer R1's fixes: what a notebook review hands out of an exam question, the trainer's exam list in a
bounded number of statements, control characters in an exam's rules."""

import pytest

from models import AttemptItem, QuestionVersion
from models.db import session_scope
from services import attempts, exams, notebook, practice
from services.permissions import system_actor
from tests.unit.examkit import Clock, exam_in, make_questions, published
from tests.unit.test_notebook import answer_all


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def _by_question(s, view):
    return {s.get(QuestionVersion, s.get(AttemptItem, i.item_id).question_version_id).question_id: i for i in view.items}


@pytest.mark.parametrize("explanations", ["never", "after_close"])
def test_a_review_of_an_exam_only_question_keeps_the_explanation_the_exam_policy_hides(make_user, clock, explanations):
    """An exam shows right answers after submitting but explanations never / only after it closes: its missed
    exam-only questions enter the notebook, and reviewing them must not hand out the explanation (at the
    check, in the open review's view, or once the review is finished)."""
    actor = make_user("learner")
    cat, ids = make_questions(2, "true_false", usage="exam")
    exam_id = published(exam_in(cat, 2, review_answers="after_submit", review_explanations=explanations,
                                closes_at=None))
    with session_scope() as s:
        aid = exams.start_exam(s, actor, exam_id=exam_id)
    answer_all(actor, aid)
    with session_scope() as s:
        attempts.submit_attempt(s, actor, attempt_id=aid)
        exam_view = attempts.attempt_view(s, actor, attempt_id=aid)
        assert exam_view.show_answers and not exam_view.show_explanations
    clock.advance(days=1)
    with session_scope() as s:
        rid = notebook.start_review(s, actor)
    items = answer_all(actor, rid, right={ids[0]})
    with session_scope() as s:
        for qid in ids:
            shown = practice.check_answer(s, actor, item_id=items[qid])
            assert shown.key is not None            # the exam shows right answers already
            assert shown.explanation is None
        view = practice.practice_view(s, actor, attempt_id=rid)
        assert all(i.explanation is None for i in view.items)
        done = practice.finish(s, actor, attempt_id=rid)
        assert all(i.explanation is None for i in done.items)
    if explanations == "after_close":          # once the exam closes, its explanations may show
        with session_scope() as s:
            exams.close_exam(s, system_actor(), exam_id=exam_id)
        with session_scope() as s:
            later = practice.practice_view(s, actor, attempt_id=rid)
            assert all(i.explanation is not None for i in _by_question(s, later).values())


def test_a_review_of_practice_questions_still_shows_the_explanation(make_user, clock):
    actor = make_user("learner")
    cat, ids = make_questions(2, "true_false")
    from tests.unit.test_notebook import in_course
    in_course(ids)
    with session_scope() as s:
        aid = practice.start_practice(s, actor, category=cat, count=2)
    answer_all(actor, aid, check=True)
    clock.advance(days=1)
    with session_scope() as s:
        rid = notebook.start_review(s, actor)
    items = answer_all(actor, rid)
    with session_scope() as s:
        shown = practice.check_answer(s, actor, item_id=items[ids[0]])
        assert shown.key is not None and shown.explanation == f"解析 {ids[0]}"
