"""学时 per lesson (design.md §2): each lesson is its own 课件, credited by the tier rule on its minutes
when it is done; the quiz bonus when the course quiz is passed; completion is a record of its own;
rows written before this rule stay and nothing is credited twice."""
from datetime import timedelta

import pytest

from sqlmodel import Session, func, select

from models import (Attempt, AttemptItem, Course, CourseCompletion, LedgerEntry, Lesson, LessonProgress, QuestionVersion,
                    RoleGrant, User)
from models.db import get_engine, session_scope, utcnow
from services import learning, ledger, settings
from services.grading import correct_response
from tests.dbutil import fresh_database_url
from tests.unit.test_attempts import Clock


@pytest.fixture
def clock(monkeypatch):
    """The server clock, frozen and moved by hand (see test_attempts.Clock)."""
    return Clock(monkeypatch)


def lessons_of(s, course_id):
    return s.exec(select(Lesson).where(Lesson.course_id == course_id, Lesson.active).order_by(Lesson.position)).all()


def pass_quiz(s, actor, course_id):
    attempt_id = learning.start_quiz(s, actor, course_id=course_id)
    for item in learning.quiz_view(s, actor, attempt_id=attempt_id).items:
        v = s.get(QuestionVersion, s.get(AttemptItem, item.item_id).question_version_id)
        learning.save_answer(s, actor, item_id=item.item_id, response=correct_response(v.data), expected_version=item.version)
    return learning.submit_quiz(s, actor, attempt_id=attempt_id)


def rows(s, user_id):
    return s.exec(select(LedgerEntry).where(LedgerEntry.user_id == user_id).order_by(LedgerEntry.id)).all()


def test_each_lesson_is_credited_by_its_own_tier_when_done(session, make_user):
    actor = make_user("learner")
    rule = settings.credit_rule(session)
    lessons = lessons_of(session, "sec")
    first = learning.complete_lesson(session, actor, lesson_id=lessons[0].id)
    assert first.hours == rule.lesson_hours(lessons[0].minutes) and not first.course_completed
    [row] = rows(session, actor.id)
    assert (row.source_type, row.source_id, row.course_id) == ("lesson", lessons[0].id, "sec")
    assert lessons[0].title in row.reason and f"{lessons[0].minutes} 分钟" in row.reason
    assert learning.complete_lesson(session, actor, lesson_id=lessons[0].id).hours == 0     # done already
    for ls in lessons[1:]:
        learning.complete_lesson(session, actor, lesson_id=ls.id)
    by_lessons = sum(rule.lesson_hours(ls.minutes) for ls in lessons)
    assert ledger.my_summary(session, actor).total == by_lessons
    # a course of several lessons earns more than one tier of its total minutes (the old rule)
    assert by_lessons > rule.lesson_hours(sum(ls.minutes for ls in lessons))
    assert session.exec(select(CourseCompletion).where(CourseCompletion.user_id == actor.id)).first() is None
    view = pass_quiz(session, actor, "sec")
    assert view.passed
    assert ledger.my_summary(session, actor).total == by_lessons + rule.quiz_bonus
    assert session.exec(select(CourseCompletion).where(CourseCompletion.user_id == actor.id)).one().course_id == "sec"
    assert [r.source_type for r in rows(session, actor.id)].count("course") == 0


def test_a_legacy_course_row_is_not_credited_again_by_lessons(session, make_user):
    """Credited as a whole under the old rule: the row stays, and its lessons and quiz add nothing."""
    actor = make_user("learner")
    ledger.credit(session, user_id=actor.id, hours=1.0, source_type="course", source_id="egov", course_id="egov",
                  reason="完成课程《电子政务》：学习材料 125 分钟，计 1 学时")
    ledger.credit(session, user_id=actor.id, hours=0.5, source_type="quiz", source_id="egov", course_id="egov",
                  reason="通过课程测验，加 0.5 学时")
    session.add(CourseCompletion(user_id=actor.id, course_id="egov", completed_at=utcnow() - timedelta(days=90)))
    session.flush()
    for ls in lessons_of(session, "egov"):      # studies the course again after the change
        assert learning.complete_lesson(session, actor, lesson_id=ls.id).hours == 0
    assert pass_quiz(session, actor, "egov").passed
    assert ledger.my_summary(session, actor).total == 1.5
    assert learning.course_detail(session, actor, course_id="egov").legacy_credit


def test_lessons_done_before_the_change_are_credited_once_with_the_next_one(session, make_user):
    actor = make_user("learner")
    first, second, *_ = lessons_of(session, "dl")
    session.add(LessonProgress(user_id=actor.id, course_id="dl", lesson_id=first.id, completed_at=utcnow() - timedelta(days=3),
                               last_seen_at=utcnow() - timedelta(days=3)))
    session.flush()
    rule = settings.credit_rule(session)
    outcome = learning.complete_lesson(session, actor, lesson_id=second.id)
    assert outcome.hours == rule.lesson_hours(first.minutes) + rule.lesson_hours(second.minutes)
    assert sorted(r.source_id for r in rows(session, actor.id)) == sorted([first.id, second.id])
    assert learning.complete_lesson(session, actor, lesson_id=first.id).hours == 0


def test_a_course_whose_lessons_were_all_done_before_is_credited_when_its_quiz_is_passed(session, make_user):
    """No lesson is left to mark done, so the passing quiz is when those lessons are credited."""
    actor = make_user("learner")
    lessons = lessons_of(session, "egov")
    for ls in lessons:
        session.add(LessonProgress(user_id=actor.id, course_id="egov", lesson_id=ls.id, completed_at=utcnow() - timedelta(days=9),
                                   last_seen_at=utcnow() - timedelta(days=9)))
    session.flush()
    assert pass_quiz(session, actor, "egov").passed
    rule = settings.credit_rule(session)
    assert ledger.my_summary(session, actor).total == sum(rule.lesson_hours(ls.minutes) for ls in lessons) + rule.quiz_bonus


def test_the_catalogue_offers_every_lesson_tier_and_the_quiz_bonuses(session, make_user):
    actor = make_user("learner")
    rule = settings.credit_rule(session)
    offer = learning.catalogue_offer(session, actor)
    cards = {c.id: c for c in learning.catalogue(session, actor)}
    expected = 0.0
    for c in session.exec(select(Course).where(Course.active)).all():
        if c.id in cards:     # what this learner is offered (other tests add courses for other audiences)
            expected += sum(rule.lesson_hours(ls.minutes) for ls in lessons_of(session, c.id)) + (rule.quiz_bonus if c.quiz else 0)
    assert offer.hours == round(expected, 2) > 50
    assert offer.courses == len(cards) and round(sum(c.credit_hours for c in cards.values()), 2) == offer.hours
    assert cards["egov"].credit_hours == sum(rule.lesson_hours(ls.minutes) for ls in lessons_of(session, "egov")) + rule.quiz_bonus
    assert offer.available == offer.hours                       # nothing earned yet
    first = lessons_of(session, "egov")[0]
    learning.complete_lesson(session, actor, lesson_id=first.id)
    assert learning.catalogue_offer(session, actor).available == round(offer.hours - rule.lesson_hours(first.minutes), 2)


def test_what_is_left_take_the_quiz_and_the_first_unfinished_lesson(session, make_user):
    actor = make_user("learner")
    first, second, *rest = lessons_of(session, "ncre")
    learning.complete_lesson(session, actor, lesson_id=second.id)        # out of order
    card = next(c for c in learning.catalogue(session, actor) if c.id == "ncre")
    assert card.status == "in_progress" and card.next_lesson_id == first.id
    step = learning.next_steps(session, actor).continue_at
    assert (step.course_id, step.lesson_id, step.action) == ("ncre", first.id, "lesson")
    for ls in [first, *rest]:
        learning.complete_lesson(session, actor, lesson_id=ls.id)
    card = next(c for c in learning.catalogue(session, actor) if c.id == "ncre")
    assert card.status == "take_quiz" and card.next_lesson_id is None
    step = learning.next_steps(session, actor).continue_at
    assert (step.course_id, step.lesson_id, step.action) == ("ncre", None, "quiz")
    pass_quiz(session, actor, "ncre")
    card = next(c for c in learning.catalogue(session, actor) if c.id == "ncre")
    assert card.status == "completed"
    step = learning.next_steps(session, actor).continue_at
    assert step is None or step.course_id != "ncre"


def test_the_study_gate_counts_down_from_the_stored_time(session, make_user, clock):
    admin, actor = make_user("admin"), make_user("learner")
    old = settings.credit_rule(session)
    settings.set_credit_rule(session, admin, rule=old.model_copy(update={"min_study_ratio": 0.5}))
    try:
        lesson = lessons_of(session, "office")[0]
        need = int(lesson.minutes * 60 * 0.5)
        learning.record_study(session, actor, lesson_id=lesson.id)
        gate = learning.study_gate(session, actor, lesson_id=lesson.id)
        assert (gate.required, gate.remaining, gate.ready_at) == (need, need, clock.now + timedelta(seconds=need))
        clock.advance(seconds=60)
        assert learning.study_gate(session, actor, lesson_id=lesson.id).remaining == need - 60   # not yet stored
        learning.record_study(session, actor, lesson_id=lesson.id)
        gate = learning.study_gate(session, actor, lesson_id=lesson.id)
        assert (gate.spent, gate.remaining) == (60, need - 60)
        clock.advance(seconds=need - 60)
        assert learning.study_gate(session, actor, lesson_id=lesson.id).remaining == 0
        assert learning.complete_lesson(session, actor, lesson_id=lesson.id).hours > 0
    finally:
        settings.set_credit_rule(session, admin, rule=old)


def test_services_leave_the_commit_to_the_caller(make_user):
    """One unit of work per user action: a failure after the service call leaves nothing behind."""
    actor = make_user("learner")
    lesson = lessons_of_any("egov")
    try:
        with session_scope() as s:
            learning.complete_lesson(s, actor, lesson_id=lesson.id)
            raise RuntimeError("the page failed after the service call")
    except RuntimeError:
        pass
    with session_scope() as s:
        assert s.exec(select(LessonProgress).where(LessonProgress.user_id == actor.id)).first() is None
        assert rows(s, actor.id) == []


def lessons_of_any(course_id):
    with session_scope() as s:
        return lessons_of(s, course_id)[0]


def test_the_demo_history_follows_the_rule_for_everyone_with_the_learner_role():
    from models.migrate import upgrade_db
    from services import demo
    from services.content import load_bank
    from services.permissions import system_actor
    url = fresh_database_url("demo-credit")
    upgrade_db(url)
    with session_scope(url) as s:
        load_bank(s)
        result = demo.load_demo(s, system_actor(), learners=40, seed=5)
    engine = get_engine(url)
    with Session(engine) as s:
        rule = settings.credit_rule(s)
        assert s.exec(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.source_type == "course")).one() == 0
        minutes = dict(s.exec(select(Lesson.id, Lesson.minutes)).all())
        done = s.exec(select(LessonProgress.user_id, LessonProgress.lesson_id).where(LessonProgress.completed_at.is_not(None))).all()
        lesson_rows = s.exec(select(LedgerEntry).where(LedgerEntry.source_type == "lesson")).all()
        assert sorted((r.user_id, r.source_id) for r in lesson_rows) == sorted(done)
        assert all(r.hours == rule.lesson_hours(minutes[r.source_id]) for r in lesson_rows)
        passed = set(s.exec(select(Attempt.user_id, Attempt.course_id).where(Attempt.passed == True)).all())  # noqa: E712
        quiz_rows = {(r.user_id, r.course_id) for r in s.exec(select(LedgerEntry).where(LedgerEntry.source_type == "quiz"))}
        completions = set(s.exec(select(CourseCompletion.user_id, CourseCompletion.course_id)).all())
        assert quiz_rows == completions and quiz_rows <= passed
        # trainer and HR accounts hold the learner role and study like everyone else
        staff = s.exec(select(User.id).where(User.username.in_([u for u, _, _ in result.accounts]))).all()
        assert len(staff) == 4
        for uid in staff:
            assert s.exec(select(RoleGrant.id).where(RoleGrant.user_id == uid, RoleGrant.role == "learner")).first()
            assert s.exec(select(func.count()).select_from(LessonProgress).where(LessonProgress.user_id == uid)).one() > 0
            assert s.exec(select(func.sum(LedgerEntry.hours)).where(LedgerEntry.user_id == uid)).one() > 0
    engine.dispose()


def test_first_run_set_up_and_the_demo_are_one_unit_of_work():
    """pages/account/setup.py creates the administrator and the demo in one db() block: a failure
    in the demo (here: after it) leaves neither behind, so the first-run page is offered again."""


    from models import OrgUnit
    from models.migrate import upgrade_db
    from services import demo, users
    from services.content import load_bank
    from services.permissions import load_actor
    url = fresh_database_url("setup-uow")
    upgrade_db(url)
    with session_scope(url) as s:
        load_bank(s)
    with pytest.raises(RuntimeError):
        with session_scope(url) as s:
            admin = users.create_first_admin(s, username="admin", name="管理员", password="Adm1n-first-run")
            demo.load_demo(s, load_actor(s, admin.id), learners=3, seed=1)
            raise RuntimeError("the demo failed half-way")
    with session_scope(url) as s:
        assert users.needs_setup(s)
        assert s.exec(select(func.count()).select_from(OrgUnit)).one() == 0
        assert s.exec(select(func.count()).select_from(LedgerEntry)).one() == 0
    with session_scope(url) as s:
        admin = users.create_first_admin(s, username="admin", name="管理员", password="Adm1n-first-run")
        demo.load_demo(s, load_actor(s, admin.id), learners=3, seed=1)
    with session_scope(url) as s:
        assert not users.needs_setup(s) and demo.demo_loaded(s)
    get_engine(url).dispose()
