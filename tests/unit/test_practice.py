"""Practice (immediate feedback) and mock exams: scopes (course, category subtree, weak topics), number and
types, exam-only questions never drawn, no key before the check, a checked item is locked, a session
resumes from the database, mock exams timed and counting for nothing."""
from datetime import timedelta

import pytest
from sqlmodel import func, select

from models import AttemptItem, LedgerEntry, Question, QuestionVersion
from models.db import session_scope
from services import attempts, practice
from services.errors import PermissionDenied, ValidationFailed
from services.grading import correct_response
from tests.unit.examkit import Clock, exam_in, make_questions, published
from tests.unit.test_notebook import answer_all, in_course, wrong_of


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def versions(attempt_id):
    with session_scope() as s:
        return s.exec(select(AttemptItem, QuestionVersion).join(QuestionVersion)
                      .where(AttemptItem.attempt_id == attempt_id).order_by(AttemptItem.position)).all()


def test_exam_only_questions_are_never_drawn(make_user):
    actor = make_user("learner")
    cat, exam_only = make_questions(6, "true_false", usage="exam")
    _c, practice_only = make_questions(2, "true_false", category=cat, usage="practice")
    _c, both = make_questions(2, "true_false", category=cat + "/子类")
    in_course(exam_only + practice_only + both)
    for _ in range(5):
        with session_scope() as s:
            aid = practice.start_practice(s, actor, category=cat, count=50)
        drawn = {v.question_id for _, v in versions(aid)}
        assert drawn == set(practice_only + both)            # the subtree, never exam-only
    with session_scope() as s:
        cats = {c.path: c.questions for c in practice.categories(s, actor)}
    assert cats[cat] == 4 and cats[cat + "/子类"] == 2


def test_count_types_and_scope_are_checked(make_user):
    actor = make_user("learner")
    cat, tfs = make_questions(5, "true_false")
    _c, scs = make_questions(5, "single_choice", category=cat)
    in_course(tfs + scs)
    with session_scope() as s:
        aid = practice.start_practice(s, actor, category=cat, count=3, types=["single_choice"])
    got = versions(aid)
    assert len(got) == 3 and {v.type for _, v in got} == {"single_choice"}
    with session_scope() as s:
        for bad in (dict(category=cat, count=0), dict(category=cat, count=51), dict(category=cat, types=["essay"]),
                    dict(count=5), dict(category=cat, course_id="dl"), dict(category="没有这个类")):
            with pytest.raises(ValidationFailed):
                practice.start_practice(s, actor, **bad)
        aid2 = practice.start_practice(s, actor, course_id="dl", count=5)
        assert all(s.get(Question, v.question_id).course_id == "dl" for _, v in
                   s.exec(select(AttemptItem, QuestionVersion).join(QuestionVersion).where(AttemptItem.attempt_id == aid2)).all())
        # one practice session at a time: the previous one was closed when this one started
        assert attempts.own_attempt(s, actor, aid).status == "submitted"
        assert practice.open_practice(s, actor) == aid2


def test_no_key_before_the_check_then_key_and_lock(make_user):
    actor = make_user("learner")
    cat, ids = make_questions(2, "true_false")
    in_course(ids)
    with session_scope() as s:
        aid = practice.start_practice(s, actor, category=cat, count=2)
    (item, v), (item2, _v2) = versions(aid)
    with session_scope() as s:
        view = practice.practice_view(s, actor, attempt_id=aid)
        assert all(i.key is None and i.explanation is None and i.score is None for i in view.items)
        assert "answer" not in view.items[0].question and not view.show_answers
        with pytest.raises(ValidationFailed):              # nothing answered: nothing to check
            practice.check_answer(s, actor, item_id=item.id)
        attempts.save_answer(s, actor, item_id=item.id, response=wrong_of(v.data))
        shown = practice.check_answer(s, actor, item_id=item.id)
        assert shown.key == correct_response(v.data) and shown.explanation == v.data["explanation"] and shown.score == 0
        with pytest.raises(ValidationFailed) as err:        # locked
            attempts.save_answer(s, actor, item_id=item.id, response=correct_response(v.data))
        assert err.value.code == "error.item_checked"
        assert practice.check_answer(s, actor, item_id=item.id).score == 0     # the same again
    with session_scope() as s:        # a refresh: the checked item keeps its feedback, the other none
        view = practice.practice_view(s, actor, attempt_id=aid)
        first, second = view.items
        assert first.key is not None and first.response == wrong_of(v.data)
        assert second.key is None and second.item_id == item2.id
        assert practice.checked_items(s, actor, attempt_id=aid) == {item.id: False}


def test_only_the_owner_checks_and_only_in_practice(make_user):
    actor, other = make_user("learner"), make_user("learner")
    cat, ids = make_questions(2, "true_false")
    in_course(ids)
    with session_scope() as s:
        aid = practice.start_practice(s, actor, category=cat, count=2)
    (item, v), _ = versions(aid)
    with session_scope() as s:
        attempts.save_answer(s, actor, item_id=item.id, response=correct_response(v.data))
        with pytest.raises(PermissionDenied):
            practice.check_answer(s, other, item_id=item.id)
    exam_id = published(exam_in(make_questions(2, "true_false")[0], 2))
    with session_scope() as s:
        from services import exams
        eid = exams.start_exam(s, actor, exam_id=exam_id)
        ex_item = s.exec(select(AttemptItem).where(AttemptItem.attempt_id == eid)).first()
        attempts.save_answer(s, actor, item_id=ex_item.id, response=True)
        with pytest.raises(PermissionDenied):             # an exam has no check: no key before its policy
            practice.check_answer(s, actor, item_id=ex_item.id)


def test_weak_topics_are_the_worst_categories(make_user):
    actor = make_user("learner")
    weak_cat, weak = make_questions(4, "true_false")
    good_cat, good = make_questions(4, "true_false")
    in_course(weak + good)
    with session_scope() as s:
        with pytest.raises(ValidationFailed):
            practice.start_practice(s, actor, weak=True)
        a1 = practice.start_practice(s, actor, category=weak_cat, count=4)
    answer_all(actor, a1, right={weak[0]}, check=True)
    with session_scope() as s:
        a2 = practice.start_practice(s, actor, category=good_cat, count=4)
    answer_all(actor, a2, right=set(good), check=True)
    with session_scope() as s:
        practice.finish(s, actor, attempt_id=a2)
        topics = practice.weak_topics(s, actor)
        assert [w.category for w in topics] == [weak_cat] and topics[0].percent == 25.0 and topics[0].answered == 4
        a3 = practice.start_practice(s, actor, weak=True, count=10)
    assert {v.question_id for _, v in versions(a3)} == set(weak)


def test_a_practice_session_counts_for_nothing_and_shows_its_review(make_user):
    actor = make_user("learner")
    cat, ids = make_questions(3, "true_false")
    in_course(ids)
    with session_scope() as s:
        before = s.exec(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.user_id == actor.id)).one()
        aid = practice.start_practice(s, actor, category=cat, count=3)
    answer_all(actor, aid, right=set(ids))
    with session_scope() as s:
        view = practice.finish(s, actor, attempt_id=aid)
        assert view.closed and view.score == 3 and all(i.key is not None for i in view.items)
        assert practice.finish(s, actor, attempt_id=aid).score == 3        # harmless twice
        assert s.exec(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.user_id == actor.id)).one() == before
        past = practice.history(s, actor)
        assert past[0].attempt_id == aid and past[0].questions == 3 and past[0].kind == "practice"


def test_a_mock_exam_is_timed_and_finalised_at_its_deadline(make_user, clock):
    actor = make_user("learner")
    with session_scope() as s:
        courses = {c.id for c in practice.mock_courses(s, actor)}
        assert "sec" in courses
        aid = practice.start_mock(s, actor, course_id="sec")
        view = practice.practice_view(s, actor, attempt_id=aid)
        assert view.remaining_seconds == 45 * 60 and not view.closed
        assert {v.usage for _, v in versions(aid)} <= {"exam", "both"}
        before = s.exec(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.user_id == actor.id)).one()
    clock.advance(minutes=46)
    with session_scope() as s:
        assert practice.open_mock(s, actor, course_id="sec") is None      # overdue: finalised
        view = practice.practice_view(s, actor, attempt_id=aid)
        assert view.closed and view.auto_submitted and view.score == 0
        assert s.exec(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.user_id == actor.id)).one() == before
        with pytest.raises(Exception):
            practice.start_mock(s, actor, course_id="no-such-course")
    with session_scope() as s:
        assert practice.start_mock(s, actor, course_id="sec") != aid


def test_practice_session_resumes_with_saved_answers(make_user, clock):
    actor = make_user("learner")
    cat, ids = make_questions(2, "true_false")
    in_course(ids)
    with session_scope() as s:
        aid = practice.start_practice(s, actor, category=cat, count=2)
    (item, v), _ = versions(aid)
    with session_scope() as s:
        attempts.save_answer(s, actor, item_id=item.id, response=correct_response(v.data))
    clock.advance(days=3)
    with session_scope() as s:
        assert practice.open_practice(s, actor) == aid
        view = practice.practice_view(s, actor, attempt_id=aid)
        assert view.items[0].response == correct_response(v.data) and view.deadline_at is None
        assert view.server_now - view.started_at == timedelta(days=3)
