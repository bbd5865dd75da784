"""The attempt life cycle the exam engine builds on (design.md §5): closed status set, one open attempt
per learner and course, conditional submission, deadlines on the server clock, per-item versions,
essays pending grading, saves racing a submission. Concurrency is tried with real threads on the test
database (SQLite by default, PostgreSQL with TEST_DATABASE_URL)."""
import threading
from datetime import datetime, timedelta, UTC

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

import models.db
from models import Attempt, AttemptItem, LedgerEntry, Lesson, Question, QuestionVersion
from models.db import session_scope
from services import learning
from services.errors import PermissionDenied, ValidationFailed
from services.grading import correct_response, score
from services.permissions import system_actor


class Clock:
    """The server clock (models.db.utcnow), frozen and moved by hand."""

    def __init__(self, monkeypatch):
        self.now = datetime.now(UTC).replace(microsecond=0)
        monkeypatch.setattr(models.db, "utcnow", lambda: self.now)

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def ready_for_quiz(actor, course_id="egov"):
    """A learner who has done every lesson of the course (committed, so other threads see it)."""
    with session_scope() as s:
        for ls in s.exec(select(Lesson).where(Lesson.course_id == course_id, Lesson.active)).all():
            learning.complete_lesson(s, actor, lesson_id=ls.id)


def started(actor, course_id="egov", deadline_at=None) -> int:
    with session_scope() as s:
        return learning.start_quiz(s, actor, course_id=course_id, deadline_at=deadline_at)


def key_of(s, item_id):
    return correct_response(s.get(QuestionVersion, s.get(AttemptItem, item_id).question_version_id).data)


def answer_all(actor, attempt_id, right=True):
    with session_scope() as s:
        for item in learning.quiz_view(s, actor, attempt_id=attempt_id).items:
            learning.save_answer(s, actor, item_id=item.item_id, response=key_of(s, item.item_id) if right else None,
                                 expected_version=item.version)


def run_together(*calls):
    """Run each call in its own thread, released at the same moment; returns (results, errors) in order."""
    barrier = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), [None] * len(calls)

    def worker(i, call):
        barrier.wait()
        try:
            results[i] = call()
        except (ValidationFailed, IntegrityError) as exc:   # the outcomes a race may legitimately have
            errors[i] = exc
    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not any(th.is_alive() for th in threads)
    return results, errors


def test_status_is_a_closed_set(make_user):
    actor = make_user("learner")
    ready_for_quiz(actor)
    attempt_id = started(actor)
    with pytest.raises(IntegrityError):
        with session_scope() as s:
            s.execute(text("UPDATE attempt SET status = 'graded' WHERE id = :i"), {"i": attempt_id})
    with session_scope() as s:
        assert s.get(Attempt, attempt_id).status == "in_progress"


def test_one_open_attempt_per_learner_and_course(make_user):
    actor = make_user("learner")
    ready_for_quiz(actor)
    attempt_id = started(actor)
    with pytest.raises(IntegrityError):      # the database refuses a second open attempt
        with session_scope() as s:
            s.add(Attempt(user_id=actor.id, kind="quiz", course_id="egov"))
    with session_scope() as s:               # a closed one is fine beside it
        s.add(Attempt(user_id=actor.id, kind="quiz", course_id="egov", status="submitted", score=0, passed=False))
    assert started(actor) == attempt_id


def test_two_starts_at_once_make_one_attempt(make_user):
    actor = make_user("learner")
    ready_for_quiz(actor)

    def start():
        with session_scope() as s:
            return learning.start_quiz(s, actor, course_id="egov")
    results, errors = run_together(start, start, start)
    assert errors == [None, None, None]
    assert len(set(results)) == 1, results       # the losers resume the winner's attempt
    with session_scope() as s:
        rows = s.exec(select(Attempt).where(Attempt.user_id == actor.id)).all()
        assert [a.status for a in rows] == ["in_progress"]
        assert s.exec(select(func.count()).select_from(AttemptItem).where(AttemptItem.attempt_id == rows[0].id)).one() == 10


def test_two_submits_at_once_grade_once(make_user):
    actor = make_user("learner")
    ready_for_quiz(actor)
    attempt_id = started(actor)
    answer_all(actor, attempt_id, right=True)

    def submit():
        with session_scope() as s:
            return learning.submit_attempt(s, actor, attempt_id=attempt_id)
    results, errors = run_together(submit, submit, submit, submit)
    assert errors == [None] * 4
    assert sorted(results) == [False, False, False, True]    # exactly one call closed and graded it
    with session_scope() as s:
        a = s.get(Attempt, attempt_id)
        assert a.status == "submitted" and a.passed is True and a.score == a.max_score
        assert s.exec(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.user_id == actor.id, LedgerEntry.source_type == "quiz")).one() == 1
        again = learning.submit_quiz(s, actor, attempt_id=attempt_id)    # a later click changes nothing
        assert again.submitted_at == a.submitted_at and again.score == a.score


def test_saves_after_the_deadline_are_refused_and_the_attempt_is_finalised_on_next_access(make_user, clock):
    actor = make_user("learner")
    ready_for_quiz(actor)
    attempt_id = started(actor, deadline_at=clock.now + timedelta(minutes=10))
    with session_scope() as s:
        items = learning.quiz_view(s, actor, attempt_id=attempt_id).items
        first, second = items[0], items[1]
        learning.save_answer(s, actor, item_id=first.item_id, response=key_of(s, first.item_id),
                             expected_version=first.version)
    clock.advance(minutes=9, seconds=59)
    with session_scope() as s:                # a second before the deadline: still saved
        learning.save_answer(s, actor, item_id=second.item_id, response=key_of(s, second.item_id),
                             expected_version=second.version)
    clock.advance(seconds=1)
    with pytest.raises(ValidationFailed) as exc:
        with session_scope() as s:
            learning.save_answer(s, actor, item_id=items[2].item_id, response=key_of(s, items[2].item_id),
                                 expected_version=items[2].version)
    assert exc.value.code == "error.attempt_overdue"
    with session_scope() as s:                # next access: finalised with what was saved, never lost
        view = learning.quiz_view(s, actor, attempt_id=attempt_id)
        assert view.status == "submitted" and view.auto_submitted
        assert view.submitted_at == clock.now
        assert view.score == first.points + second.points
        assert [i.response is not None for i in view.items] == [True, True] + [False] * (len(items) - 2)
        assert learning.open_attempt(s, actor, course_id="egov") is None


def test_a_sweep_finalises_only_overdue_attempts_once(make_user, clock):
    late, in_time = make_user("learner"), make_user("learner")
    for a in (late, in_time):
        ready_for_quiz(a)
    late_id = started(late, deadline_at=clock.now + timedelta(minutes=5))
    in_time_id = started(in_time, deadline_at=clock.now + timedelta(hours=1))
    clock.advance(minutes=6)
    with session_scope() as s:
        assert learning.sweep_overdue(s, system_actor()) >= 1
        with pytest.raises(PermissionDenied):
            learning.sweep_overdue(s, late)
    with session_scope() as s:
        assert s.get(Attempt, late_id).status == "submitted" and s.get(Attempt, late_id).auto_submitted
        assert s.get(Attempt, late_id).passed is False
        assert s.get(Attempt, in_time_id).status == "in_progress"
        assert learning.sweep_overdue(s, system_actor()) == 0


def test_a_stale_tab_cannot_overwrite_a_newer_answer(make_user):
    actor = make_user("learner")
    ready_for_quiz(actor)
    attempt_id = started(actor)
    with session_scope() as s:
        tf = next(i for i in learning.quiz_view(s, actor, attempt_id=attempt_id).items
                  if i.question["type"] == "true_false")
    assert tf.version == 0
    with session_scope() as s:                # tab A saves "true"
        assert learning.save_answer(s, actor, item_id=tf.item_id, response=True, expected_version=0) == 1
    with pytest.raises(ValidationFailed) as exc:     # tab B still shows version 0
        with session_scope() as s:
            learning.save_answer(s, actor, item_id=tf.item_id, response=False, expected_version=0)
    assert exc.value.code == "error.answer_changed_elsewhere" and exc.value.params["position"] == tf.position
    with session_scope() as s:                # B re-reads: A's answer, version 1; now B may change it
        fresh = next(i for i in learning.quiz_view(s, actor, attempt_id=attempt_id).items if i.item_id == tf.item_id)
        assert (fresh.response, fresh.version) == (True, 1)
        assert learning.save_answer(s, actor, item_id=tf.item_id, response=False, expected_version=1) == 2


def test_a_save_racing_a_submission_is_graded_or_refused(make_user):
    actor = make_user("learner")
    ready_for_quiz(actor)
    outcomes = set()
    for _ in range(6):
        attempt_id = started(actor)
        with session_scope() as s:
            item = learning.quiz_view(s, actor, attempt_id=attempt_id).items[0]
            key = key_of(s, item.item_id)

        def save():
            with session_scope() as s:
                return learning.save_answer(s, actor, item_id=item.item_id, response=key, expected_version=item.version)

        def submit():
            with session_scope() as s:
                return learning.submit_attempt(s, actor, attempt_id=attempt_id)
        (saved, closed), (save_error, submit_error) = run_together(save, submit)
        assert closed is True and submit_error is None
        with session_scope() as s:
            row = s.get(AttemptItem, item.item_id)
            record = s.get(QuestionVersion, row.question_version_id).data
            if save_error is None:
                assert row.response == key and row.score == item.points     # in the graded answers
                outcomes.add("graded")
            else:
                assert save_error.code == "error.attempt_closed"            # or refused, never lost silently
                assert row.response is None and row.score == 0
                outcomes.add("refused")
            assert row.score == score(record, row.response, row.points)
    assert outcomes   # (which of the two happened depends on the scheduler; both are correct)


def _essay_attempt(s, actor):
    """An exam-style attempt with an essay and a true/false item (quizzes draw no essays yet)."""
    essay = s.exec(select(QuestionVersion).join(Question, (Question.id == QuestionVersion.question_id)
                                                & (Question.current_version == QuestionVersion.version))
                   .where(QuestionVersion.type == "essay", Question.course_id.is_not(None))).first()
    tf = s.exec(select(QuestionVersion).where(QuestionVersion.type == "true_false")).first()
    a = Attempt(user_id=actor.id, kind="exam", course_id=s.get(Question, essay.question_id).course_id,
                max_score=essay.points + tf.points, pass_percent=60)
    s.add(a)
    s.flush()
    s.add(AttemptItem(attempt_id=a.id, position=1, question_version_id=essay.id, points=essay.points))
    s.add(AttemptItem(attempt_id=a.id, position=2, question_version_id=tf.id, points=tf.points))
    s.flush()
    return a.id, tf


def test_an_essay_is_pending_grading_not_zero_and_decides_only_when_graded(make_user):
    actor = make_user("learner", unit="village")
    trainer = make_user(("trainer", "district"), unit="district")
    outsider = make_user(("trainer", "district2"), unit="district2")
    with session_scope() as s:
        attempt_id, tf = _essay_attempt(s, actor)
    with session_scope() as s:
        view = learning.quiz_view(s, actor, attempt_id=attempt_id)
        essay_item, tf_item = view.items
        learning.save_answer(s, actor, item_id=essay_item.item_id, response="我的论述……", expected_version=0)
        learning.save_answer(s, actor, item_id=tf_item.item_id, response=tf.data["answer"], expected_version=0)
        learning.submit_attempt(s, actor, attempt_id=attempt_id)
    with session_scope() as s:
        view = learning.quiz_view(s, actor, attempt_id=attempt_id)
        assert view.status == "pending_grading" and view.passed is None
        assert view.items[0].score is None and view.items[0].pending      # not 0
        assert view.items[1].score == tf_item.points and view.score == tf_item.points
        assert all(i.key is None for i in view.items)
        with pytest.raises(PermissionDenied):
            learning.grade_item(s, outsider, item_id=essay_item.item_id, points=1)
        with pytest.raises(PermissionDenied):
            learning.grade_item(s, actor, item_id=essay_item.item_id, points=essay_item.points)
        with pytest.raises(ValidationFailed):
            learning.grade_item(s, trainer, item_id=essay_item.item_id, points=essay_item.points + 1)
    with session_scope() as s:
        graded = learning.grade_item(s, trainer, item_id=essay_item.item_id, points=essay_item.points)
        assert graded.status == "submitted" and graded.passed is True
        assert graded.score == essay_item.points + tf_item.points
    with pytest.raises(ValidationFailed) as exc:      # graded once: the attempt is no longer pending
        with session_scope() as s:
            learning.grade_item(s, trainer, item_id=essay_item.item_id, points=0)
    assert exc.value.code == "error.attempt_not_pending"


def test_an_unanswered_essay_needs_no_grader(make_user):
    actor = make_user("learner")
    with session_scope() as s:
        attempt_id, _ = _essay_attempt(s, actor)
    with session_scope() as s:
        learning.submit_attempt(s, actor, attempt_id=attempt_id)
        view = learning.quiz_view(s, actor, attempt_id=attempt_id)
        assert view.status == "submitted" and view.passed is False and view.score == 0


def test_the_course_page_state_comes_from_the_database(make_user):
    """What a fresh browser session (refresh, new sign-in, restart) sees: the open attempt with its
    answers, then after submission the result and every past attempt."""
    actor = make_user("learner")
    ready_for_quiz(actor)
    with session_scope() as s:
        assert learning.quiz_state(s, actor, course_id="egov").current is None
    attempt_id = started(actor)
    answer_all(actor, attempt_id, right=False)
    with session_scope() as s:
        state = learning.quiz_state(s, actor, course_id="egov")
        assert state.current.attempt_id == attempt_id and state.current.status == "in_progress"
        assert state.history == []
        learning.submit_quiz(s, actor, attempt_id=attempt_id)
    second = started(actor)
    answer_all(actor, second, right=True)
    with session_scope() as s:
        learning.submit_quiz(s, actor, attempt_id=second)
    with session_scope() as s:
        state = learning.quiz_state(s, actor, course_id="egov")
        assert state.current.attempt_id == second and state.current.passed is True
        assert all(i.key is not None for i in state.current.items)
        assert [(h.attempt_id, h.passed) for h in state.history] == [(second, True), (attempt_id, False)]
        assert state.history[1].score == 0 and state.history[0].score == state.history[0].max_score


def test_migration_0002_keeps_one_open_attempt_and_enforces_the_status_set():
    """Upgrading a database from 0001 that holds two open attempts of the same quiz (possible before)."""
    from alembic import command

    from models.db import get_engine
    from models.migrate import alembic_config
    from tests.dbutil import fresh_database_url
    url = fresh_database_url("mig0002")
    cfg = alembic_config(url)
    command.upgrade(cfg, "0001")
    engine = get_engine(url)
    at = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    with engine.begin() as c:
        uid = c.execute(text("INSERT INTO app_user (username, name, password_hash, must_change_password, locale, active, "
                             "failed_logins, created_at) VALUES ('m', 'm', 'x', :f, 'zh-CN', :t, 0, :at) RETURNING id"),
                        {"f": False, "t": True, "at": at}).scalar_one()
        c.execute(text("INSERT INTO course (id, title, category, required, summary, objectives, position, active, "
                       "content_hash, updated_at) VALUES ('mc', 'c', 'x', :f, '', '[]', 0, :t, '', :at)"),
                  {"f": False, "t": True, "at": at})
        c.execute(text("INSERT INTO question (id, current_version, active, created_at) VALUES ('mq', 1, :t, :at)"),
                  {"t": True, "at": at})
        qv = c.execute(text("INSERT INTO question_version (question_id, version, type, category, difficulty, usage, "
                            "points, data, content_hash, created_at) VALUES ('mq', 1, 'true_false', 'x', 1, 'both', 1, "
                            "'{}', 'h', :at) RETURNING id"), {"at": at}).scalar_one()
        ids = [c.execute(text("INSERT INTO attempt (user_id, kind, course_id, started_at, status, max_score, pass_percent) "
                              "VALUES (:u, 'quiz', 'mc', :at, 'in_progress', 1, 60) RETURNING id"),
                         {"u": uid, "at": at + timedelta(minutes=i)}).scalar_one() for i in range(3)]
        for a in ids:
            c.execute(text("INSERT INTO attempt_item (attempt_id, position, question_version_id, points) "
                           "VALUES (:a, 1, :q, 1)"), {"a": a, "q": qv})
    command.upgrade(cfg, "0002")
    with engine.connect() as c:
        got = c.execute(text("SELECT id, status, score FROM attempt ORDER BY id")).all()
        assert [(r.status, r.score) for r in got] == [("submitted", None), ("submitted", None), ("in_progress", None)]
        assert c.execute(text("SELECT DISTINCT version FROM attempt_item")).scalars().all() == [0]
    for bad in ("UPDATE attempt SET status = 'graded' WHERE id = :a",
                "UPDATE attempt SET status = 'in_progress' WHERE id = :a"):   # not in the set / a second open one
        with pytest.raises(IntegrityError):
            with engine.begin() as c:
                c.execute(text(bad), {"a": ids[0]})
    command.downgrade(cfg, "0001")
    command.upgrade(cfg, "0002")
    engine.dispose()
