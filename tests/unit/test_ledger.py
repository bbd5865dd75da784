import pytest
from sqlmodel import func, select

from models import Course, CourseCompletion, LedgerEntry, Lesson
from services import learning, ledger, settings
from services.errors import ValidationFailed
from services.grading import correct_response
from tests.unit.test_attempts import Clock


@pytest.fixture
def clock(monkeypatch):
    """The server clock, frozen and moved by hand (see test_attempts.Clock)."""
    return Clock(monkeypatch)


@pytest.mark.parametrize("minutes,expected", [(5, 0.25), (14, 0.25), (15, 0.5), (29, 0.5), (30, 1.0), (240, 1.0)])
def test_default_credit_rule_by_minutes(minutes, expected):
    assert settings.CreditRule().lesson_hours(minutes) == expected


def _finish_lessons(session, actor, course_id):
    lessons = session.exec(select(Lesson).where(Lesson.course_id == course_id, Lesson.active)).all()
    results = [learning.complete_lesson(session, actor, lesson_id=ls.id) for ls in lessons]
    return lessons, results


def _answer_all(session, actor, attempt_id, right: bool):
    from models import AttemptItem, QuestionVersion
    for item in learning.quiz_view(session, actor, attempt_id=attempt_id).items:
        v = session.get(QuestionVersion, session.get(AttemptItem, item.item_id).question_version_id)
        learning.save_answer(session, actor, item_id=item.item_id, response=correct_response(v.data) if right else None)


def test_hours_are_credited_per_lesson_and_for_the_quiz_once(session, make_user):
    actor = make_user("learner")
    course = session.get(Course, "sec")
    rule = settings.CreditRule()
    lessons, results = _finish_lessons(session, actor, "sec")
    assert not any(results), "with a quiz, lessons alone do not complete the course"
    lesson_hours = sum(rule.lesson_hours(ls.minutes) for ls in lessons)
    assert [r.hours for r in results] == [rule.lesson_hours(ls.minutes) for ls in lessons]
    assert ledger.my_summary(session, actor).total == lesson_hours      # each lesson counts when done
    # a failed quiz adds nothing and completes nothing
    attempt = learning.start_quiz(session, actor, course_id="sec")
    _answer_all(session, actor, attempt, right=False)
    view = learning.submit_quiz(session, actor, attempt_id=attempt)
    assert view.passed is False and view.score == 0
    assert ledger.my_summary(session, actor).total == lesson_hours
    # pass on the second attempt: the quiz bonus, and the completion record (no hours of its own)
    attempt2 = learning.start_quiz(session, actor, course_id="sec")
    assert attempt2 != attempt
    _answer_all(session, actor, attempt2, right=True)
    view = learning.submit_quiz(session, actor, attempt_id=attempt2)
    assert view.passed and view.score == view.max_score
    expected = lesson_hours + rule.quiz_bonus
    summary = ledger.my_summary(session, actor)
    assert summary.total == expected
    assert summary.required_total == expected if course.required else summary.elective_total == expected
    entries = ledger.my_entries(session, actor)
    assert sorted(entries["source_type"]) == ["lesson"] * len(lessons) + ["quiz"]
    assert all(entries["reason"].str.contains(course.title))
    # submitting again, re-completing lessons or passing again credits nothing more
    learning.submit_quiz(session, actor, attempt_id=attempt2)
    _finish_lessons(session, actor, "sec")
    assert learning.maybe_complete_course(session, actor, course_id="sec") is False
    attempt3 = learning.start_quiz(session, actor, course_id="sec")
    _answer_all(session, actor, attempt3, right=True)
    assert learning.submit_quiz(session, actor, attempt_id=attempt3).passed
    assert ledger.my_summary(session, actor).total == expected
    assert session.exec(select(func.count()).select_from(CourseCompletion).where(
        CourseCompletion.user_id == actor.id)).one() == 1


def test_ledger_is_unique_per_source_and_adjustments_are_new_rows(session, make_user):
    actor, admin = make_user("learner"), make_user("admin")
    assert ledger.credit(session, user_id=actor.id, hours=1, source_type="exam", source_id="e1", reason="考试通过")
    assert not ledger.credit(session, user_id=actor.id, hours=1, source_type="exam", source_id="e1", reason="again")
    session.commit()
    ledger.adjust(session, admin, user_id=actor.id, hours=-0.5, reason="重复计入更正")
    with pytest.raises(ValidationFailed):
        ledger.adjust(session, admin, user_id=actor.id, hours=2, reason=" ")
    rows = session.exec(select(LedgerEntry).where(LedgerEntry.user_id == actor.id)).all()
    assert sorted(r.hours for r in rows) == [-0.5, 1]
    assert ledger.my_summary(session, actor).total == 0.5


def test_targets_default_and_per_unit(session, make_user, tree):
    admin = make_user("admin")
    learner = make_user("learner", unit="village")
    other = make_user("learner", unit="dept")
    assert ledger.my_summary(session, learner).target == settings.default_target(session)
    settings.set_unit_target(session, admin, unit_id=tree["district"], hours=60)
    try:
        assert ledger.my_summary(session, learner).target == 60      # inherited from the district
        assert ledger.my_summary(session, other).target == settings.default_target(session)
        settings.set_unit_target(session, admin, unit_id=tree["village"], hours=40)
        assert ledger.my_summary(session, learner).target == 40      # nearest ancestor-or-self wins
        with pytest.raises(ValidationFailed):
            settings.set_unit_target(session, admin, unit_id=tree["village"], hours=0)
    finally:
        settings.set_unit_target(session, admin, unit_id=tree["district"], hours=None)
        settings.set_unit_target(session, admin, unit_id=tree["village"], hours=None)


def test_changed_credit_rule_applies_to_new_completions(session, make_user):
    admin, actor = make_user("admin"), make_user("learner")
    old = settings.credit_rule(session)
    settings.set_credit_rule(session, admin, rule=settings.CreditRule(long_minutes=600, long_hours=3, mid_minutes=10,
                                                                      mid_hours=2, short_hours=0.1, quiz_bonus=1,
                                                                      min_study_ratio=0))
    try:
        lessons, _ = _finish_lessons(session, actor, "sec")
        attempt = learning.start_quiz(session, actor, course_id="sec")
        _answer_all(session, actor, attempt, right=True)
        learning.submit_quiz(session, actor, attempt_id=attempt)
        # every lesson of "sec" is 10..599 minutes: 2 each under this rule, plus the quiz bonus of 1
        assert all(10 <= ls.minutes < 600 for ls in lessons)
        assert ledger.my_summary(session, actor).total == 2 * len(lessons) + 1
    finally:
        settings.set_credit_rule(session, admin, rule=old)
    with pytest.raises(Exception):
        settings.CreditRule(long_minutes=10, mid_minutes=20)


def test_catalogue_progress_and_next_steps(session, make_user):
    actor = make_user("learner")
    from services.content import read_bank
    builtin = {lc.spec.id for lc in read_bank(include_drafts=False).courses}   # other tests add courses of their own
    cards = [c for c in learning.catalogue(session, actor) if c.id in builtin]
    assert len(cards) == len(builtin) >= 18
    assert all(c.lessons_total >= 4 and c.credit_hours > 0 for c in cards)
    first = next(c for c in cards if c.required)
    lesson = session.exec(select(Lesson).where(Lesson.course_id == first.id).order_by(Lesson.position)).first()
    learning.complete_lesson(session, actor, lesson_id=lesson.id)
    card = next(c for c in learning.catalogue(session, actor) if c.id == first.id)
    assert card.lessons_done == 1 and card.status == "in_progress"
    steps = learning.next_steps(session, actor)
    assert steps.continue_lesson[0] == first.id
    lessons = session.exec(select(Lesson).where(Lesson.course_id == first.id).order_by(Lesson.position)).all()
    assert steps.continue_at.lesson_id == lessons[1].id and steps.continue_at.action == "lesson"
    assert any(c.id == first.id for c in steps.required_open)
    assert learning.catalogue(session, actor, text="网络安全") and not learning.catalogue(session, actor, text="zzzqqq")
    assert all(c.required for c in learning.catalogue(session, actor, required=True))


def test_study_time_is_recorded_with_a_cap(session, make_user, clock):
    from models import LessonProgress
    actor = make_user("learner")
    lesson = session.exec(select(Lesson).where(Lesson.course_id == "egov")).first()
    p = learning.record_study(session, actor, lesson_id=lesson.id)
    assert p.seconds_spent == 0
    clock.advance(minutes=7)
    p = learning.record_study(session, actor, lesson_id=lesson.id)
    assert p.seconds_spent == 420                   # all of it: no less, no more
    clock.advance(hours=5)                          # walked away: counts exactly 30 minutes
    p = learning.record_study(session, actor, lesson_id=lesson.id)
    assert p.seconds_spent == 420 + learning.MAX_INTERVAL_SECONDS
    clock.advance(seconds=-90)                      # the clock stepped back: nothing is taken away
    p = learning.record_study(session, actor, lesson_id=lesson.id)
    assert p.seconds_spent == 420 + learning.MAX_INTERVAL_SECONDS
    clock.advance(seconds=95)
    p = learning.record_study(session, actor, lesson_id=lesson.id)
    assert p.seconds_spent == 420 + learning.MAX_INTERVAL_SECONDS + 95
    assert session.get(LessonProgress, p.id).completed_at is None


def test_quiz_keys_stay_hidden_until_passed(session, make_user):
    actor = make_user("learner")
    with pytest.raises(ValidationFailed) as exc:
        learning.start_quiz(session, actor, course_id="egov")
    assert exc.value.code == "error.quiz_lessons_first"
    _finish_lessons(session, actor, "egov")
    attempt = learning.start_quiz(session, actor, course_id="egov")
    assert learning.start_quiz(session, actor, course_id="egov") == attempt   # resume, same paper
    view = learning.quiz_view(session, actor, attempt_id=attempt)
    for item in view.items:
        assert item.key is None and item.explanation is None and item.score is None
        assert "answer" not in item.question and "answers" not in item.question and "pairs" not in item.question
        for opt in item.question.get("options", []):
            assert isinstance(opt[1], str)     # (index, text) only: no fraction, no feedback
    first = view.items[0]
    good = {"single_choice": first.question.get("options", [[0]])[0][0], "multiple_choice": [0], "true_false": True,
            "fill_blank": "x", "numerical": "1", "matching": {}}[first.question["type"]]
    with pytest.raises(ValidationFailed):
        learning.save_answer(session, actor, item_id=first.item_id, response={"evil": [1, 2]}
                             if first.question["type"] != "matching" else 5)
    learning.save_answer(session, actor, item_id=first.item_id, response=good)
    again = learning.quiz_view(session, actor, attempt_id=attempt)
    assert again.items[0].response == good           # saved at once, returned on resume
    failed = learning.submit_quiz(session, actor, attempt_id=attempt)
    assert failed.passed is False
    # a failed attempt shows scores, not the keys the retake would need
    assert all(i.score is not None and i.key is None and i.explanation is None for i in failed.items)
    with pytest.raises(ValidationFailed):
        learning.save_answer(session, actor, item_id=view.items[0].item_id, response=1)
    retake = learning.start_quiz(session, actor, course_id="egov")
    _answer_all(session, actor, retake, right=True)
    passed = learning.submit_quiz(session, actor, attempt_id=retake)
    assert passed.passed and all(i.key is not None and i.explanation for i in passed.items)


def test_a_lesson_needs_its_minimum_study_time(session, make_user):
    from datetime import timedelta
    from models import LessonProgress
    admin, actor = make_user("admin"), make_user("learner")
    old = settings.credit_rule(session)
    settings.set_credit_rule(session, admin, rule=old.model_copy(update={"min_study_ratio": 0.5}))
    try:
        lesson = session.exec(select(Lesson).where(Lesson.course_id == "dl").order_by(Lesson.position)).first()
        with pytest.raises(ValidationFailed) as exc:
            learning.complete_lesson(session, actor, lesson_id=lesson.id)
        assert exc.value.code == "error.lesson_too_quick" and exc.value.params["minutes"] >= lesson.minutes // 2
        p = session.exec(select(LessonProgress).where(LessonProgress.user_id == actor.id,
                                                      LessonProgress.lesson_id == lesson.id)).one()
        p.last_seen_at -= timedelta(seconds=lesson.minutes * 30 + 5)     # the learner read for half the time
        session.add(p)
        session.commit()
        learning.complete_lesson(session, actor, lesson_id=lesson.id)
        session.refresh(p)
        assert p.completed_at is not None
    finally:
        settings.set_credit_rule(session, admin, rule=old)


def test_time_on_one_lesson_is_not_counted_for_another(session, make_user):
    from datetime import timedelta
    from models import LessonProgress
    actor = make_user("learner")
    a, b = session.exec(select(Lesson).where(Lesson.course_id == "ncre").order_by(Lesson.position)).all()[:2]
    learning.record_study(session, actor, lesson_id=a.id)
    pa = session.exec(select(LessonProgress).where(LessonProgress.user_id == actor.id, LessonProgress.lesson_id == a.id)).one()
    pa.last_seen_at -= timedelta(minutes=10)
    session.add(pa)
    session.commit()
    learning.record_study(session, actor, lesson_id=b.id)       # ten minutes later, on another lesson
    pb = session.exec(select(LessonProgress).where(LessonProgress.user_id == actor.id, LessonProgress.lesson_id == b.id)).one()
    session.refresh(pa)
    assert pb.seconds_spent == 0 and pa.seconds_spent == 0
