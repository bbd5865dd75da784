"""Learner pages with data in them (AppTest): the lesson countdown, a quiz resumed from the database in a
new browser session, its result and past attempts, a stale tab, "take the quiz", hours on offer."""
from datetime import timedelta

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from config import ROOT
from models import AttemptItem, Lesson, LessonProgress, QuestionVersion
from models.db import session_scope
from services import learning, settings
from services.grading import correct_response
from services.permissions import system_actor


def app_as(user_id: int) -> AppTest:
    """A new browser session of a signed-in user (what a refresh or a new sign-in gives)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["user_id"] = user_id
    at.run()
    assert not at.exception, at.exception
    return at


def course_page(user_id: int, course_id: str, section: str = "lessons") -> AppTest:
    at = app_as(user_id)
    at.switch_page("pages/learner/course.py")
    at.query_params["course"] = course_id
    at.session_state["course_section_next"] = section
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def shown(at: AppTest) -> str:
    parts = [e.value for kind in (at.info, at.success, at.error, at.warning, at.caption, at.markdown, at.subheader)
             for e in kind]
    return " ".join(str(p) for p in parts)


def finish_lessons(actor, course_id):
    with session_scope() as s:
        for ls in s.exec(select(Lesson).where(Lesson.course_id == course_id, Lesson.active)).all():
            learning.complete_lesson(s, actor, lesson_id=ls.id)


def true_false_item(at: AppTest, attempt_id: int):
    """The first true/false question on the page: (item id, its radio; keyed by its display position)."""
    with session_scope() as s:
        items = s.exec(select(AttemptItem, QuestionVersion).join(QuestionVersion)
                       .where(AttemptItem.attempt_id == attempt_id).order_by(AttemptItem.position)).all()
        item, version = next((i, v) for i, v in items if v.type == "true_false")
        return item.id, version.data["answer"], at.radio(key=f"course_quiz_{attempt_id}_q{item.position}")


@pytest.fixture
def min_study_time():
    """Lessons need half their minutes before they can be marked done (the suite runs without it)."""
    old = None
    with session_scope() as s:
        old = settings.credit_rule(s)
        settings.set_credit_rule(s, system_actor(), rule=old.model_copy(update={"min_study_ratio": 0.5}))
    yield
    with session_scope() as s:
        settings.set_credit_rule(s, system_actor(), rule=old)


def test_lesson_shows_a_countdown_then_the_button(make_user, min_study_time):
    actor = make_user("learner")
    at = course_page(actor.id, "dl")
    with session_scope() as s:
        lesson = s.exec(select(Lesson).where(Lesson.course_id == "dl").order_by(Lesson.position)).first()
    need = int(lesson.minutes * 60 * 0.5)
    assert at.radio(key="course_lesson").value == lesson.id
    assert any("还需学习" in i.value for i in at.info), shown(at)
    button = at.button(key=f"course_done_{lesson.id}")
    assert button.disabled
    countdown = next(i.value for i in at.info if "还需学习" in i.value)
    minutes = int(countdown.split("还需学习 ")[1].split(":")[0])
    assert need // 60 - 1 <= minutes <= need // 60            # from the stored study time
    assert "学完本节计" in shown(at)
    with session_scope() as s:      # the learner has read for the required time meanwhile
        p = s.exec(select(LessonProgress).where(LessonProgress.user_id == actor.id,
                                                LessonProgress.lesson_id == lesson.id)).one()
        p.last_seen_at -= timedelta(seconds=need + 2)
        s.add(p)
    at.run()
    assert not any("还需学习" in i.value for i in at.info)
    button = at.button(key=f"course_done_{lesson.id}")
    assert not button.disabled
    button.click()
    at.run()
    assert not at.exception
    assert any("本节已学完，记入" in s.value for s in at.success), shown(at)
    assert at.radio(key="course_lesson").index == 1               # on to the next lesson


def test_quiz_resumes_from_the_database_and_shows_result_and_history(make_user):
    actor = make_user("learner")
    finish_lessons(actor, "egov")
    at = course_page(actor.id, "egov", section="quiz")
    at.button(key="course_quiz_start").click()
    at.run()
    assert not at.exception
    with session_scope() as s:
        attempt = learning.open_attempt(s, actor, course_id="egov")
    item_id, answer, radio = true_false_item(at, attempt.id)
    radio.set_value(answer)
    at.run()
    assert not at.exception
    with session_scope() as s:
        assert s.get(AttemptItem, item_id).response == answer      # saved at once

    # a refresh / new sign-in / restart: a brand-new session, nothing in session_state
    fresh = course_page(actor.id, "egov", section="quiz")
    assert fresh.button(key="course_quiz_submit")                  # the open attempt, not "start"
    _, _, radio = true_false_item(fresh, attempt.id)
    assert radio.value == answer                                   # with its answers
    fresh.button(key="course_quiz_submit").click()
    fresh.run()
    fresh.button(key="course_quiz_submit_confirm").click()      # submitting needs a confirmation
    fresh.run()
    assert not fresh.exception
    assert "最近一次测验结果" in shown(fresh)
    assert any("得分" in e.value and "未通过" in e.value for e in fresh.error), shown(fresh)
    assert "正确答案" not in shown(fresh)                           # failed: scores, not keys
    history = fresh.dataframe[0].value
    assert len(history) == 1 and history.iloc[0]["结果"] == "未通过"

    # and again in another new session: the result and the past attempts are still there
    again = course_page(actor.id, "egov", section="quiz")
    assert "最近一次测验结果" in shown(again)
    assert len(again.dataframe[0].value) == 1
    assert again.button(key="course_quiz_start").label == "开始测验"


def test_a_stale_tab_is_told_and_shows_the_newer_answer(make_user):
    actor = make_user("learner")
    finish_lessons(actor, "egov")
    with session_scope() as s:
        attempt_id = learning.start_quiz(s, actor, course_id="egov")
    tab_a = course_page(actor.id, "egov", section="quiz")
    tab_b = course_page(actor.id, "egov", section="quiz")
    item_id, answer, radio_a = true_false_item(tab_a, attempt_id)
    radio_a.set_value(answer)
    tab_a.run()
    _, _, radio_b = true_false_item(tab_b, attempt_id)
    radio_b.set_value(not answer)        # tab B still shows the unanswered version
    tab_b.run()
    assert not tab_b.exception
    assert any("另一个窗口" in w.value for w in tab_b.warning), shown(tab_b)
    _, _, radio_b = true_false_item(tab_b, attempt_id)
    assert radio_b.value == answer       # re-read: the newer answer, not silently overwritten
    with session_scope() as s:
        assert s.get(AttemptItem, item_id).response == answer


def test_lessons_done_quiz_not_passed_says_take_the_quiz(make_user):
    actor = make_user("learner")
    finish_lessons(actor, "sec")
    at = course_page(actor.id, "sec")
    assert "还差课程测验" in shown(at)
    at.button(key="course_take_quiz").click()
    at.run()
    assert not at.exception
    assert at.button(key="course_quiz_start")                       # the quiz section is open
    home = app_as(actor.id)
    assert "还差课程测验" in shown(home)
    with session_scope() as s:
        available = learning.catalogue_offer(s, actor).available
    assert f"还可为您记入 {available:g} 学时" in shown(home)
    assert home.button(key="home_continue").label == "参加测验"
    cat = app_as(actor.id)
    cat.switch_page("pages/learner/catalogue.py")
    cat.run()
    assert cat.button(key="catalogue_quiz_sec").label == "参加测验"


def test_passing_completes_and_the_keys_show(make_user):
    actor = make_user("learner")
    finish_lessons(actor, "egov")
    with session_scope() as s:
        attempt_id = learning.start_quiz(s, actor, course_id="egov")
        for item in learning.quiz_view(s, actor, attempt_id=attempt_id).items:
            v = s.get(QuestionVersion, s.get(AttemptItem, item.item_id).question_version_id)
            learning.save_answer(s, actor, item_id=item.item_id, response=correct_response(v.data),
                                 expected_version=item.version)
    at = course_page(actor.id, "egov", section="quiz")
    at.button(key="course_quiz_submit").click()
    at.run()
    at.button(key="course_quiz_submit_confirm").click()         # submitting needs a confirmation
    at.run()
    assert not at.exception
    assert any("通过" in e.value and "未通过" not in e.value for e in at.success)
    assert "正确答案" in shown(at)                                   # passed: keys and explanations
    assert "本课程已完成" in shown(at)


def test_catalogue_shows_the_hours_on_offer(make_user):
    actor = make_user("learner")
    at = app_as(actor.id)
    at.switch_page("pages/learner/catalogue.py")
    at.run()
    assert not at.exception
    with session_scope() as s:
        offer = learning.catalogue_offer(s, actor)
        cards = learning.catalogue(s, actor)
    assert offer.hours == pytest.approx(sum(c.credit_hours for c in cards))
    assert offer.hours > 15                                         # per lesson: the target can be reached
    assert any(f"可获得 {offer.hours:g} 学时" in c.value for c in at.caption), [c.value for c in at.caption]
    egov = next(c for c in cards if c.id == "egov")
    assert any(f"{egov.credit_hours:g} 学时" in c.value for c in at.caption)
