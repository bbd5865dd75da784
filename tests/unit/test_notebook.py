"""The mistake notebook (错题本): entry rules (practice, self-check, quiz, exam with and without its review
policy showing answers, mock exams never taking exam-only questions), FSRS scheduling through the `fsrs`
library on a frozen clock (due moves out after Good, back after Again), leaving at a stable interval and
coming back after a new miss, the review log, a question edited since it was missed."""
from datetime import timedelta

import pytest
from sqlmodel import select

from models import AttemptItem, Course, Lesson, Question, QuestionVersion
from models.db import session_scope
from models.practice import Mistake, ReviewCard, ReviewLog
from services import attempts, exams, learning, notebook, practice, selfcheck, settings
from services.errors import ValidationFailed
from services.grading import correct_response
from services.permissions import system_actor
from tests.unit.examkit import Clock, correct_key, exam_in, make_questions, published


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def in_course(ids, course_id="dl"):
    with session_scope() as s:
        for qid in ids:
            q = s.get(Question, qid)
            q.course_id = course_id
            s.add(q)


def wrong_of(data):
    key = correct_response(data)
    if data["type"] == "true_false":
        return not key
    if data["type"] == "single_choice":
        return next(i for i in range(len(data["options"])) if i != key)
    raise AssertionError(data["type"])


def answer_all(actor, attempt_id, *, right: set[str] = frozenset(), check=False):
    """Answer every item (right for question ids in `right`, else wrong); check each when asked."""
    with session_scope() as s:
        rows = s.exec(select(AttemptItem, QuestionVersion).join(QuestionVersion)
                      .where(AttemptItem.attempt_id == attempt_id).order_by(AttemptItem.position)).all()
        for item, v in rows:
            resp = correct_response(v.data) if v.question_id in right else wrong_of(v.data)
            attempts.save_answer(s, actor, item_id=item.id, response=resp)
            if check:
                practice.check_answer(s, actor, item_id=item.id)
        return {v.question_id: item.id for item, v in rows}


def entries(actor):
    with session_scope() as s:
        return {e.question_id: e for e in notebook.notebook(s, actor).entries}


def card(actor, qid):
    with session_scope() as s:
        return s.exec(select(ReviewCard).where(ReviewCard.user_id == actor.id, ReviewCard.question_id == qid)).one()


def test_wrong_practice_answers_enter_at_check_grouped_by_category(make_user, clock):
    actor = make_user("learner")
    cat, ids = make_questions(4, "true_false")
    in_course(ids)
    with session_scope() as s:
        aid = practice.start_practice(s, actor, category=cat, count=4)
    answer_all(actor, aid, right=set(ids[:2]), check=True)
    got = entries(actor)
    assert set(got) == set(ids[2:])                       # the two wrong ones, at once (no submission yet)
    assert all(e.misses == 1 and e.last_source == "practice" and e.category == cat for e in got.values())
    with session_scope() as s:
        nb = notebook.notebook(s, actor)
        group = next(g for g in nb.groups if g.category == cat)
        assert len(group.entries) == 2 and group.misses == 2
        assert nb.due_today == 0                          # a miss is due the next day
        practice.finish(s, actor, attempt_id=aid)         # finishing counts nothing twice
    assert {q: e.misses for q, e in entries(actor).items()} == {q: 1 for q in ids[2:]}


def test_a_wrong_self_check_enters_and_a_right_one_does_not(make_user, clock):
    actor = make_user("learner")
    with session_scope() as s:
        lesson = next(ls for ls in s.exec(select(Lesson).where(Lesson.course_id == "dl").order_by(Lesson.position)).all()
                      if len(ls.checks) >= 2)
        qid_wrong, qid_right = lesson.checks[0], lesson.checks[1]
        data_w = s.exec(select(QuestionVersion).join(Question, (Question.id == QuestionVersion.question_id)
                                                     & (Question.current_version == QuestionVersion.version))
                        .where(QuestionVersion.question_id == qid_wrong)).one().data
        data_r = s.exec(select(QuestionVersion).join(Question, (Question.id == QuestionVersion.question_id)
                                                     & (Question.current_version == QuestionVersion.version))
                        .where(QuestionVersion.question_id == qid_right)).one().data
        bad = [] if data_w["type"] == "multiple_choice" else wrong_of(data_w)
        res = selfcheck.check_answer(s, actor, lesson_id=lesson.id, question_id=qid_wrong, response=bad)
        assert not res.correct
        selfcheck.check_answer(s, actor, lesson_id=lesson.id, question_id=qid_wrong, response=bad)   # a double click
        selfcheck.check_answer(s, actor, lesson_id=lesson.id, question_id=qid_right, response=correct_response(data_r))
    got = entries(actor)
    assert set(got) == {qid_wrong} and got[qid_wrong].misses == 1 and got[qid_wrong].last_source == "selfcheck"


def test_a_course_quiz_enters_its_wrong_answers_when_submitted(make_user, clock):
    actor = make_user("learner")
    with session_scope() as s:
        for ls in s.exec(select(Lesson).where(Lesson.course_id == "dl", Lesson.active)).all():
            learning.complete_lesson(s, actor, lesson_id=ls.id)
        aid = learning.start_quiz(s, actor, course_id="dl")
        rows = s.exec(select(AttemptItem, QuestionVersion).join(QuestionVersion).where(AttemptItem.attempt_id == aid)).all()
        tf = [(i, v) for i, v in rows if v.type in ("true_false", "single_choice")]
        wrong_q = tf[0][1].question_id
        attempts.save_answer(s, actor, item_id=tf[0][0].id, response=wrong_of(tf[0][1].data))
        for i, v in tf[1:]:
            attempts.save_answer(s, actor, item_id=i.id, response=correct_response(v.data))
        assert wrong_q not in {m.question_id for m in s.exec(select(Mistake).where(Mistake.user_id == actor.id)).all()}
        learning.submit_quiz(s, actor, attempt_id=aid)
    got = entries(actor)
    assert wrong_q in got and got[wrong_q].last_source == "quiz"
    assert all(e.last_source == "quiz" for e in got.values())
    answered = {v.question_id for _, v in tf}
    assert set(got) == {wrong_q}, "only answered wrong items enter (unanswered ones were not answered wrong)"
    assert set(got) <= answered


@pytest.mark.parametrize("policy, enters", [("after_submit", True), ("never", False)])
def test_an_exam_enters_only_once_its_review_policy_shows_right_answers(make_user, clock, policy, enters):
    actor = make_user("learner")
    cat, ids = make_questions(3, "true_false")
    exam_id = published(exam_in(cat, 3, review_answers=policy, review_explanations=policy))
    with session_scope() as s:
        aid = exams.start_exam(s, actor, exam_id=exam_id)
    answer_all(actor, aid, right={ids[0]})
    with session_scope() as s:
        attempts.submit_attempt(s, actor, attempt_id=aid)
    assert (set(entries(actor)) == set(ids[1:])) is enters
    if not enters:
        assert entries(actor) == {}


def test_an_exam_answered_after_close_enters_when_it_closes(make_user, clock):
    actor = make_user("learner")
    cat, ids = make_questions(2, "true_false")
    exam_id = published(exam_in(cat, 2, review_answers="after_close", review_explanations="after_close"))
    with session_scope() as s:
        aid = exams.start_exam(s, actor, exam_id=exam_id)
    answer_all(actor, aid)
    with session_scope() as s:
        attempts.submit_attempt(s, actor, attempt_id=aid)
    assert entries(actor) == {}
    with session_scope() as s:
        exams.close_exam(s, system_actor(), exam_id=exam_id)
    got = entries(actor)      # opening the notebook picks it up
    assert set(got) == set(ids) and all(e.last_source == "exam" for e in got.values())
    assert set(entries(actor)) == set(ids) and all(e.misses == 1 for e in entries(actor).values())   # once


def test_fsrs_due_moves_out_after_good_and_back_after_again(make_user, clock):
    actor = make_user("learner")
    _cat, ids = make_questions(1, "true_false")
    qid = ids[0]
    with session_scope() as s:
        notebook.record_miss(s, actor.id, qid, source="practice", version=1)
    missed_at = clock.now
    first = card(actor, qid)
    assert first.due - missed_at == timedelta(days=1)          # Again: the next day (no learning steps)
    clock.advance(days=1)
    with session_scope() as s:
        assert notebook.due_count(s, actor) == 1
        notebook.record_recall(s, actor.id, qid, notebook.GOOD)
    after_good = card(actor, qid)
    assert after_good.due - clock.now >= timedelta(days=2)      # Good: further out than the miss gave
    assert after_good.stability > first.stability
    with session_scope() as s:
        assert notebook.due_count(s, actor) == 0
    clock.advance(days=2)
    with session_scope() as s:
        notebook.record_miss(s, actor.id, qid, source="review", version=1)
    after_again = card(actor, qid)
    assert after_again.due - clock.now == timedelta(days=1)     # Again: back to the next day
    assert after_again.stability < after_good.stability
    with session_scope() as s:
        log = notebook.review_log(s, actor, question_id=qid)
    assert [r["rating"] for r in log] == [notebook.AGAIN, notebook.GOOD, notebook.AGAIN]
    assert entries(actor)[qid].misses == 2


def test_automatic_ratings():
    assert notebook.auto_rating(False, 1000) == notebook.AGAIN
    assert notebook.auto_rating(True, 5_000) == notebook.EASY
    assert notebook.auto_rating(True, 40_000) == notebook.GOOD
    assert notebook.auto_rating(True, 200_000) == notebook.HARD
    assert notebook.auto_rating(True, None) == notebook.GOOD


def test_leaves_at_a_stable_interval_and_returns_when_missed_again(make_user, clock):
    actor = make_user("learner")
    _cat, ids = make_questions(1, "true_false")
    qid = ids[0]
    with session_scope() as s:
        notebook.record_miss(s, actor.id, qid, source="practice", version=1)
    intervals = []
    while qid in entries(actor):
        clock.now = card(actor, qid).due
        with session_scope() as s:
            notebook.record_recall(s, actor.id, qid, notebook.GOOD)
        intervals.append((card(actor, qid).due - clock.now).days)
        assert len(intervals) < 10
    assert intervals[-1] >= 21 and all(i < 21 for i in intervals[:-1])
    with session_scope() as s:
        m = s.exec(select(Mistake).where(Mistake.user_id == actor.id, Mistake.question_id == qid)).one()
        assert m.left_at == clock.now and m.times_left == 1
        assert notebook.notebook(s, actor).left >= 1
    clock.advance(days=3)
    with session_scope() as s:
        notebook.record_miss(s, actor.id, qid, source="quiz", version=1)
    back = entries(actor)[qid]
    assert back.misses == 2 and back.last_source == "quiz"


def test_the_leaving_interval_is_a_setting(make_user, clock):
    actor = make_user("learner")
    _cat, ids = make_questions(1, "true_false")
    with session_scope() as s:
        settings.set_notebook_leave_days(s, system_actor(), days=2)
    try:
        with session_scope() as s:
            notebook.record_miss(s, actor.id, ids[0], source="practice", version=1)
        clock.advance(days=1)
        with session_scope() as s:
            notebook.record_recall(s, actor.id, ids[0], notebook.GOOD)   # next interval 2 days: leaves
        assert ids[0] not in entries(actor)
        with session_scope() as s:
            with pytest.raises(ValidationFailed):
                settings.set_notebook_leave_days(s, system_actor(), days=0)
    finally:
        with session_scope() as s:
            settings.set_notebook_leave_days(s, system_actor(), days=settings.DEFAULT_NOTEBOOK_LEAVE_DAYS)


def test_review_session_of_due_questions_with_ratings(make_user, clock):
    actor = make_user("learner")
    cat, ids = make_questions(3, "true_false")
    in_course(ids)
    with session_scope() as s:
        aid = practice.start_practice(s, actor, category=cat, count=3)
    answer_all(actor, aid, right={ids[0]}, check=True)
    with session_scope() as s:
        with pytest.raises(ValidationFailed):          # nothing due today: the misses are due tomorrow
            notebook.start_review(s, actor)
    clock.advance(days=1)
    with session_scope() as s:
        assert notebook.due_count(s, actor) == 2
        rid = notebook.start_review(s, actor)
        assert notebook.start_review(s, actor) == rid   # resumes
    items = answer_all(actor, rid, right={ids[1]}, check=True)
    with session_scope() as s:
        choice = notebook.rating_choice(s, actor, item_id=items[ids[1]])
        assert choice.correct and not choice.rated and set(choice.options) == set(notebook.RATINGS)
        assert choice.options[notebook.EASY] > choice.options[notebook.GOOD] > choice.options[notebook.AGAIN]
        due = notebook.rate(s, actor, item_id=items[ids[1]], rating=notebook.EASY)
        assert due == choice.options[notebook.EASY]
        assert notebook.rate(s, actor, item_id=items[ids[1]], rating=notebook.HARD) == due    # once
        wrong = notebook.rating_choice(s, actor, item_id=items[ids[2]])
        assert not wrong.correct and wrong.due - clock.now == timedelta(days=1)
        practice.finish(s, actor, attempt_id=rid)
        logs = s.exec(select(ReviewLog).where(ReviewLog.user_id == actor.id, ReviewLog.question_id == ids[1])).all()
        assert [(r.rating, r.source, r.chosen) for r in logs] == [(notebook.AGAIN, "practice", False), (notebook.EASY, "review", True)]
        assert notebook.due_count(s, actor) == 0


def test_an_edited_question_shows_its_current_version_with_a_note(make_user, clock):
    actor = make_user("learner")
    _cat, ids = make_questions(1, "single_choice")
    with session_scope() as s:
        notebook.record_miss(s, actor.id, ids[0], source="practice", version=1)
    assert entries(actor)[ids[0]].edited is False
    with session_scope() as s:
        v1 = s.exec(select(QuestionVersion).where(QuestionVersion.question_id == ids[0])).one()
        correct_key(ids[0], v1.data, s)
    assert entries(actor)[ids[0]].edited is True
    clock.advance(days=1)
    with session_scope() as s:
        rid = notebook.start_review(s, actor)
        view = practice.practice_view(s, actor, attempt_id=rid)
        v2 = s.exec(select(QuestionVersion).where(QuestionVersion.question_id == ids[0], QuestionVersion.version == 2)).one()
        assert s.get(AttemptItem, view.items[0].item_id).question_version_id == v2.id


def test_a_mock_exam_never_enters_or_shows_exam_only_questions(make_user, clock):
    actor = make_user("learner")
    cat, exam_only = make_questions(2, "true_false", usage="exam")
    _cat, both = make_questions(2, "true_false", category=cat)
    course = f"mock{exam_only[0][-6:]}"
    with session_scope() as s:
        s.add(Course(id=course, title="模拟考试课程", category="测试", exam_rule_set={
            "title": "t", "time_limit_minutes": 20, "pass_percent": 60,
            "rules": [{"type": "true_false", "category": cat, "count": 4}]}))
        s.flush()
        s.add(Lesson(id=f"{course}-l1", course_id=course, position=1, title="一", body_md="# 一", minutes=10))
    in_course(exam_only + both, course)
    with session_scope() as s:
        aid = practice.start_mock(s, actor, course_id=course)
        assert practice.start_mock(s, actor, course_id=course) == aid
        view = practice.practice_view(s, actor, attempt_id=aid)
        assert view.deadline_at - view.started_at == timedelta(minutes=20) and view.kind == "mock"
    answer_all(actor, aid)
    with session_scope() as s:
        view = practice.finish(s, actor, attempt_id=aid)
        assert view.score == 0 and view.passed is False
        by_q = {s.get(QuestionVersion, s.get(AttemptItem, i.item_id).question_version_id).question_id: i for i in view.items}
        assert all(by_q[q].key is None and by_q[q].explanation is None for q in exam_only)
        assert all(by_q[q].key is not None for q in both)
        plain = attempts.attempt_view(s, actor, attempt_id=aid)     # the player's view: no keys at all
        assert all(i.key is None for i in plain.items)
    assert set(entries(actor)) == set(both)


def test_a_review_closed_without_ratings_rates_right_answers_automatically(make_user, clock):
    actor = make_user("learner")
    cat, ids = make_questions(2, "true_false")
    in_course(ids)
    with session_scope() as s:
        aid = practice.start_practice(s, actor, category=cat, count=2)
    answer_all(actor, aid, check=True)
    clock.advance(days=1)
    with session_scope() as s:
        rid = notebook.start_review(s, actor)
    answer_all(actor, rid, right=set(ids), check=True)       # right, checked, never rated (the tab was closed)
    with session_scope() as s:
        attempts.submit_attempt(s, actor, attempt_id=rid)     # the player's submit, not practice.finish
        logs = s.exec(select(ReviewLog).where(ReviewLog.user_id == actor.id, ReviewLog.source == "review")).all()
        assert sorted(r.question_id for r in logs) == sorted(ids)
        assert all(r.rating in (notebook.HARD, notebook.GOOD, notebook.EASY) and not r.chosen for r in logs)
        assert notebook.due_count(s, actor) == 0
