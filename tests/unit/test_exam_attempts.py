"""Exam attempts (design §5): deadlines on a frozen server clock, one open attempt per exam under a race,
idempotent submission from threads, the sweep and the server's sweeper thread, tab switches past the
limit, review policies (no key or explanation in the learner's view before allowed), multiple-choice
scoring, the essay queue with a second grader, regrading a corrected key."""
import threading
from dataclasses import asdict
from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

from models import Attempt, AttemptEvent, AttemptItem, AuditLog, QuestionVersion
from models.db import session_scope
from services import attempts, exams
from services.errors import PermissionDenied, ValidationFailed
from services.grading import correct_response
from services.permissions import system_actor
from tests.unit.examkit import Clock, correct_key, exam_in, make_questions, published


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


@pytest.fixture(scope="module")
def bank():
    return make_questions(10, "true_false")[0]


def run_together(*calls):
    barrier = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), [None] * len(calls)

    def worker(i, call):
        barrier.wait()
        try:
            results[i] = call()
        except (ValidationFailed, IntegrityError) as exc:
            errors[i] = exc
    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not any(th.is_alive() for th in threads)
    return results, errors


def start(actor, exam_id):
    with session_scope() as s:
        return exams.start_exam(s, actor, exam_id=exam_id)


def key(s, item_id):
    return correct_response(s.get(QuestionVersion, s.get(AttemptItem, item_id).question_version_id).data)


def items(actor, attempt_id):
    with session_scope() as s:
        return attempts.attempt_view(s, actor, attempt_id=attempt_id).items


def test_the_deadline_is_stored_and_checked_on_the_server_clock(make_user, tree, bank, clock):
    learner = make_user("learner")
    exam_id = published(exam_in(bank, audience_units=[tree["district"]], time_limit_minutes=10))
    attempt_id = start(learner, exam_id)
    its = items(learner, attempt_id)
    with session_scope() as s:
        assert s.get(Attempt, attempt_id).deadline_at == clock.now + timedelta(minutes=10)
        attempts.save_answer(s, learner, item_id=its[0].item_id, response=key(s, its[0].item_id), expected_version=0)
    clock.advance(minutes=9, seconds=59)
    with session_scope() as s:
        view = attempts.attempt_view(s, learner, attempt_id=attempt_id)
        assert view.remaining_seconds == 1 and view.answered == 1
        attempts.save_answer(s, learner, item_id=its[1].item_id, response=key(s, its[1].item_id), expected_version=0)
    clock.advance(seconds=1)
    with pytest.raises(ValidationFailed) as exc, session_scope() as s:
        attempts.save_answer(s, learner, item_id=its[2].item_id, response=True, expected_version=0)
    assert exc.value.code == "error.attempt_overdue"
    assert start(learner, exam_id) != attempt_id      # a new start finalises the overdue one first, then draws
    with session_scope() as s:
        a = s.get(Attempt, attempt_id)
        assert a.status == "submitted" and a.auto_submitted and a.submitted_at == clock.now and a.score == 2


def test_two_starts_at_once_make_one_attempt_with_a_complete_paper(make_user, tree, bank):
    learner = make_user("learner")
    exam_id = published(exam_in(bank, audience_units=[tree["district"]], count=6))
    results, errors = run_together(*[lambda: start(learner, exam_id)] * 4)
    assert errors == [None] * 4 and len(set(results)) == 1
    with session_scope() as s:
        assert s.exec(select(func.count()).select_from(Attempt).where(Attempt.exam_id == exam_id)).one() == 1
        assert s.exec(select(func.count()).select_from(AttemptItem).where(AttemptItem.attempt_id == results[0])).one() == 6
    with pytest.raises(IntegrityError), session_scope() as s:      # the database itself refuses a second open one
        s.add(Attempt(user_id=learner.id, kind="exam", exam_id=exam_id))


def test_submitting_at_once_from_many_threads_closes_once(make_user, tree, bank):
    learner = make_user("learner")
    exam_id = published(exam_in(bank, audience_units=[tree["district"]], credit_hours=1.5))
    attempt_id = start(learner, exam_id)
    with session_scope() as s:
        for it in attempts.attempt_view(s, learner, attempt_id=attempt_id).items:
            attempts.save_answer(s, learner, item_id=it.item_id, response=key(s, it.item_id), expected_version=it.version)

    def submit():
        with session_scope() as s:
            return attempts.submit_attempt(s, learner, attempt_id=attempt_id)
    results, errors = run_together(*[submit] * 5)
    assert errors == [None] * 5 and sorted(results) == [False] * 4 + [True]
    with session_scope() as s:
        a = s.get(Attempt, attempt_id)
        assert a.status == "submitted" and a.passed and a.score == a.max_score == 4
        from models import LedgerEntry
        assert s.exec(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.user_id == learner.id, LedgerEntry.source_type == "exam")).one() == 1


def test_the_sweep_and_the_sweeper_thread_finalise_overdue_attempts(make_user, tree, bank, clock):
    late, in_time = make_user("learner"), make_user("learner")
    short = published(exam_in(bank, audience_units=[tree["district"]], time_limit_minutes=5))
    long = published(exam_in(bank, audience_units=[tree["district"]], time_limit_minutes=60))
    late_id, in_time_id = start(late, short), start(in_time, long)
    clock.advance(minutes=6)
    with session_scope() as s:
        with pytest.raises(PermissionDenied):
            attempts.sweep_overdue(s, late)
        assert attempts.sweep_overdue(s, system_actor()) >= 1
    with session_scope() as s:
        assert s.get(Attempt, late_id).status == "submitted" and s.get(Attempt, late_id).auto_submitted
        assert s.get(Attempt, in_time_id).status == "in_progress"
        assert attempts.sweep_overdue(s, system_actor()) == 0
    clock.advance(minutes=60)
    attempts.stop_sweeper()          # a sweeper another test (or an imported server) started has its own interval
    thread = attempts.start_sweeper(interval_seconds=0.05)
    try:
        assert attempts.start_sweeper(interval_seconds=0.05) is thread      # started once per process
        for _ in range(400):
            with session_scope() as s:
                if s.get(Attempt, in_time_id).status != "in_progress":
                    break
            threading.Event().wait(0.05)
    finally:
        attempts.stop_sweeper()
    with session_scope() as s:
        assert s.get(Attempt, in_time_id).status == "submitted"


def test_tab_switches_are_stored_and_past_the_limit_submit(make_user, tree, bank):
    learner = make_user("learner")
    exam_id = published(exam_in(bank, audience_units=[tree["district"]], tab_switch_limit=2))
    attempt_id = start(learner, exam_id)
    outcomes = []
    for kind in ("hidden", "blur", "hidden"):
        with session_scope() as s:
            outcomes.append(attempts.record_tab_switch(s, learner, attempt_id=attempt_id, kind=kind))
    assert [(o.count, o.submitted) for o in outcomes] == [(1, False), (2, False), (3, True)]
    with session_scope() as s:
        assert attempts.record_tab_switch(s, learner, attempt_id=attempt_id).count == 3      # closed: not counted
        a = s.get(Attempt, attempt_id)
        assert a.status == "submitted" and a.auto_submitted and a.tab_switches == 3
        assert [k for _, k in attempts.tab_events(s, attempt_id)] == ["hidden", "blur", "hidden"]
        assert s.exec(select(func.count()).select_from(AttemptEvent).where(AttemptEvent.attempt_id == attempt_id)).one() == 3
        assert exams.results(s, system_actor(), exam_id=exam_id).attempts[0].tab_switches == 3
        with pytest.raises(ValidationFailed):
            attempts.record_tab_switch(s, learner, attempt_id=attempt_id, kind="focus")


def _no_keys(view):
    assert view.show_answers is False and view.show_explanations is False
    for it in view.items:
        assert it.key is None and it.explanation is None
        assert not ({"options", "answer", "answers", "pairs", "explanation", "rubric"} & set(it.question) - {"options"})
        for _, text in it.question.get("options", []):
            assert isinstance(text, str)
    assert "fraction" not in repr([asdict(i) for i in view.items]) and "解析" not in repr([asdict(i) for i in view.items])


@pytest.mark.parametrize("policy", ["never", "after_submit", "after_close"])
def test_review_policy_decides_what_the_learner_sees(make_user, tree, bank, clock, policy):
    learner = make_user("learner")
    exam_id = published(exam_in(bank, audience_units=[tree["district"]], closes_at=clock.now + timedelta(hours=2),
                                review_score=policy, review_answers=policy, review_explanations=policy))
    attempt_id = start(learner, exam_id)
    with session_scope() as s:
        view = attempts.attempt_view(s, learner, attempt_id=attempt_id)
        _no_keys(view)
        assert view.score is None and all(i.score is None for i in view.items)
        attempts.submit_attempt(s, learner, attempt_id=attempt_id)
    with session_scope() as s:
        view = attempts.attempt_view(s, learner, attempt_id=attempt_id)
        if policy == "after_submit":
            assert view.show_answers and all(i.key is not None and i.explanation for i in view.items)
            assert view.score == 0 and view.passed is False
        else:
            _no_keys(view)
            assert view.score is None and view.passed is None
            card = exams.exam_card(s, learner, exam_id=exam_id)
            assert card.score is None and card.passed is None
    clock.advance(hours=3)
    with session_scope() as s:
        view = attempts.attempt_view(s, learner, attempt_id=attempt_id)
        if policy == "never":
            _no_keys(view)
            assert view.score is None
        else:
            assert view.show_answers and view.score == 0 and all(i.key is not None for i in view.items)


def test_multiple_choice_all_or_nothing_or_proportional_never_below_zero(make_user, tree):
    learner = make_user("learner")
    cat, _ = make_questions(1, "multiple_choice")
    results = {}
    for scoring in ("all_or_nothing", "proportional"):
        exam_id = published(exam_in(cat, count=1, type="multiple_choice", audience_units=[tree["district"]],
                                    mc_scoring=scoring, attempts_allowed=0, review_score="after_submit"))
        got = []
        for response in ([0], [0, 1], [0, 2], [0, 1, 2, 3]):
            attempt_id = start(learner, exam_id)
            with session_scope() as s:
                (it,) = attempts.attempt_view(s, learner, attempt_id=attempt_id).items
                attempts.save_answer(s, learner, item_id=it.item_id, response=response, expected_version=0)
                attempts.submit_attempt(s, learner, attempt_id=attempt_id)
                got.append(s.get(Attempt, attempt_id).score)
        results[scoring] = got
    assert results == {"all_or_nothing": [0, 1, 0, 0], "proportional": [0.5, 1, 0, 0]}


def test_essays_wait_in_the_queue_and_a_second_grader_reviews(make_user, tree):
    learner = make_user("learner")
    grader, reviewer = make_user(("trainer", "district"), unit="district"), make_user(("trainer", "district"), unit="district")
    outsider = make_user(("trainer", "district2"), unit="district2")
    cat, _ = make_questions(1, "essay", points=10)
    make_questions(1, "true_false", category=cat)
    exam_id = published(exam_in(cat, audience_units=[tree["district"]], pass_percent=60, review_score="after_submit",
                                rules=[{"type": "essay", "category": cat, "count": 1},
                                       {"type": "true_false", "category": cat, "count": 1}]))
    attempt_id = start(learner, exam_id)
    with session_scope() as s:
        for it in attempts.attempt_view(s, learner, attempt_id=attempt_id).items:
            response = "我的论述……" if it.question["type"] == "essay" else key(s, it.item_id)
            attempts.save_answer(s, learner, item_id=it.item_id, response=response, expected_version=0)
        attempts.submit_attempt(s, learner, attempt_id=attempt_id)
    with session_scope() as s:
        view = attempts.attempt_view(s, learner, attempt_id=attempt_id)
        assert view.status == "pending_grading" and view.passed is None
        queue = [t for t in attempts.grading_queue(s, grader, exam_id=exam_id)]
        assert [t.attempt_id for t in queue] == [attempt_id] and len(queue[0].rubric) == 2 and queue[0].points == 10
        assert attempts.grading_queue(s, outsider, exam_id=exam_id) == []
        with pytest.raises(PermissionDenied):
            attempts.grade_essay(s, outsider, item_id=queue[0].item_id, rubric_scores=[6, 4])
        with pytest.raises(ValidationFailed):
            attempts.grade_essay(s, grader, item_id=queue[0].item_id, rubric_scores=[7, 4])    # above the criterion
    task = queue[0]
    with session_scope() as s:
        view = attempts.grade_essay(s, grader, item_id=task.item_id, rubric_scores=[3, 1], comment="要点不全")
        assert view.status == "submitted" and view.score == 5 and view.passed is False      # 4 of 10 + 1
        assert next(i.comment for i in view.items if i.item_id == task.item_id) == "要点不全"
        assert attempts.grading_queue(s, grader, exam_id=exam_id) == []
        assert attempts.grading_queue(s, grader, exam_id=exam_id, review=True) == []        # not one's own
        (review,) = attempts.grading_queue(s, reviewer, exam_id=exam_id, review=True)
        assert (review.first_score, review.first_comment) == (4, "要点不全")
        with pytest.raises(ValidationFailed) as exc:
            attempts.grade_essay(s, grader, item_id=task.item_id, rubric_scores=[6, 4], review=True)
        assert exc.value.code == "error.second_grader_differs"
    with session_scope() as s:
        view = attempts.grade_essay(s, reviewer, item_id=task.item_id, rubric_scores=[5, 3], comment="复核：论证充分", review=True)
        assert view.score == 9 and view.passed is True
        assert attempts.grading_queue(s, reviewer, exam_id=exam_id, review=True) == []
        actions = s.exec(select(AuditLog.action).where(AuditLog.action.in_(["attempt.grade", "attempt.review"]))).all()
        assert {"attempt.grade", "attempt.review"} <= set(actions)


def test_a_corrected_key_regrades_every_attempt_of_the_exam(make_user, tree):
    learners = [make_user("learner") for _ in range(3)]
    cat, ids = make_questions(2, "true_false")
    exam_id = published(exam_in(cat, count=2, audience_units=[tree["district"]], pass_percent=100, review_score="after_submit"))
    wrong_id = ids[0]
    for who in learners:
        attempt_id = start(who, exam_id)
        with session_scope() as s:
            for it in attempts.attempt_view(s, who, attempt_id=attempt_id).items:
                attempts.save_answer(s, who, item_id=it.item_id, response=not key(s, it.item_id), expected_version=0)
            attempts.submit_attempt(s, who, attempt_id=attempt_id)
    open_attempt = start(make_user("learner"), exam_id)
    with session_scope() as s:
        old = s.exec(select(QuestionVersion).where(QuestionVersion.question_id == wrong_id)).one()
        correct_key(wrong_id, old.data, s)
    with session_scope() as s:
        report = exams.regrade_exam(s, system_actor(), exam_id=exam_id, question_id=wrong_id)
        assert report.attempts == 4 and report.items == 4 and len(report.changed) == 3
        assert all(c["before"] == 0 and c["after"] == 1 for c in report.changed)
    with session_scope() as s:
        for a in s.exec(select(Attempt).where(Attempt.exam_id == exam_id, Attempt.id != open_attempt)).all():
            assert a.score == 1
        row = s.exec(select(AuditLog).where(AuditLog.action == "attempt.regrade")
                     .order_by(AuditLog.id.desc())).first()
        assert row.detail["question"] == wrong_id and row.detail["items"] == 4
        again = exams.regrade_exam(s, system_actor(), exam_id=exam_id, question_id=wrong_id)
        assert again.items == 0 and again.changed == []


def test_another_learner_cannot_touch_an_attempt(make_user, tree, bank):
    owner, other = make_user("learner"), make_user("learner")
    exam_id = published(exam_in(bank, audience_units=[tree["district"]]))
    attempt_id = start(owner, exam_id)
    its = items(owner, attempt_id)
    with session_scope() as s:
        for call in (lambda: attempts.attempt_view(s, other, attempt_id=attempt_id),
                     lambda: attempts.save_answer(s, other, item_id=its[0].item_id, response=True),
                     lambda: attempts.submit_attempt(s, other, attempt_id=attempt_id),
                     lambda: attempts.record_tab_switch(s, other, attempt_id=attempt_id),
                     lambda: attempts.set_flag(s, other, item_id=its[0].item_id, flagged=True)):
            with pytest.raises(PermissionDenied):
                call()
        attempts.set_flag(s, owner, item_id=its[0].item_id, flagged=True)
        assert attempts.attempt_view(s, owner, attempt_id=attempt_id).items[0].flagged


def test_a_pass_issues_the_certificate_and_a_regrade_that_fails_it_revokes_it(make_user, tree):
    pytest.importorskip("services.certificates")
    from models.certificate import Certificate
    learner = make_user("learner")
    cat, ids = make_questions(1, "true_false")
    exam_id = published(exam_in(cat, count=1, audience_units=[tree["district"]], certificate=True, pass_percent=100))
    attempt_id = start(learner, exam_id)
    with session_scope() as s:
        (it,) = attempts.attempt_view(s, learner, attempt_id=attempt_id).items
        attempts.save_answer(s, learner, item_id=it.item_id, response=key(s, it.item_id), expected_version=0)
        attempts.submit_attempt(s, learner, attempt_id=attempt_id)
    with session_scope() as s:
        cert = s.exec(select(Certificate).where(Certificate.attempt_id == attempt_id)).one()
        assert cert.revoked_at is None
        data = s.exec(select(QuestionVersion.data).where(QuestionVersion.question_id == ids[0])).one()
        correct_key(ids[0], data, s)
    with session_scope() as s:
        report = exams.regrade_exam(s, system_actor(), exam_id=exam_id, question_id=ids[0])
        assert report.changed[0]["passed_after"] is False
    with session_scope() as s:
        assert s.exec(select(Certificate).where(Certificate.attempt_id == attempt_id)).one().revoked_at is not None
