"""The practice and notebook pages in every state (AppTest): the practice form, a session being answered and
checked (key shown only after the check, the checked item locked), the same session after a refresh, its
result; the mock exam form, a mock in progress with its countdown, its result; the empty notebook, a
notebook with nothing due, with questions due, a review session with rating buttons showing next due
dates, the finished review; the home page's "due reviews"."""
import uuid
from datetime import timedelta

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from config import ROOT
from models import AttemptItem, Course, Lesson, Question, QuestionVersion
from models.db import session_scope
from services import notebook, practice
from services.grading import correct_response
from tests.unit.examkit import Clock, make_questions
from tests.unit.test_notebook import in_course, wrong_of


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def page(user_id: int, path: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["user_id"] = user_id
    at.run()
    at.switch_page(path)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def shown(at: AppTest) -> str:
    parts = [e.value for kind in (at.info, at.success, at.error, at.warning, at.caption, at.markdown, at.subheader)
             for e in kind]
    return " ".join(str(p) for p in parts)


def items_of(attempt_id):
    with session_scope() as s:
        return [(i.id, i.position, v.data) for i, v in s.exec(
            select(AttemptItem, QuestionVersion).join(QuestionVersion)
            .where(AttemptItem.attempt_id == attempt_id).order_by(AttemptItem.position)).all()]


@pytest.fixture
def bank(make_user):
    """Questions in a course of their own, made in the app (the curriculum's courses are reloaded from
    question_bank/ when the app starts, which retires questions that are not in their files)."""
    trainer = make_user("trainer")
    cat, ids = make_questions(3, "true_false")
    course = "pp" + uuid.uuid4().hex[:8]
    with session_scope() as s:
        s.add(Course(id=course, title="练习测试课程", category="测试", created_by=trainer.id))
        s.flush()
        s.add(Lesson(id=f"{course}-l1", course_id=course, position=1, title="一", body_md="# 一", minutes=10))
    in_course(ids, course)
    return cat, ids


def test_practice_form_start_check_refresh_and_result(make_user, bank):
    cat, _ids = bank
    actor = make_user("learner")
    at = page(actor.id, "pages/learner/practice.py")
    assert at.title[0].value == "练习与模拟考试"
    assert at.radio(key="practice_scope").value == "course"
    at.radio(key="practice_scope").set_value("weak").run()
    assert "还没有足够的答题记录" in shown(at) and at.button(key="practice_start").disabled
    at.radio(key="practice_scope").set_value("category").run()
    box = at.selectbox(key="practice_category")
    box.select_index(next(n for n, o in enumerate(box.options) if o.startswith(cat + "（"))).run()
    at.number_input(key="practice_count").set_value(3).run()
    at.button(key="practice_start").click().run()
    assert not at.exception, [e.message for e in at.exception]
    with session_scope() as s:
        aid = practice.open_practice(s, actor)
    assert aid is not None and "练习进行中" in shown(at)
    base = f"practice_{aid}"
    (item_id, _pos, data), *_ = items_of(aid)
    assert data["explanation"] not in shown(at)                     # no explanation before the check
    at.radio(key=f"{base}_q1").set_value(wrong_of(data)).run()
    at.button(key=f"{base}_q1_check").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert data["explanation"] in shown(at) and at.radio(key=f"{base}_q1").disabled
    # a refresh: a new browser session finds the session, the answer and the check in the database
    fresh = page(actor.id, "pages/learner/practice.py")
    assert fresh.radio(key=f"{base}_q1").value == wrong_of(data) and fresh.radio(key=f"{base}_q1").disabled
    assert data["explanation"] in shown(fresh)
    fresh.button(key="practice_submit").click().run()
    fresh.button(key="practice_submit_confirm").click().run()
    assert not fresh.exception, [e.message for e in fresh.exception]
    assert "本次结果" in shown(fresh) and "练习记录" in shown(fresh)
    fresh.button(key="practice_current_again").click().run()
    assert fresh.button(key="practice_start") is not None


def test_mock_exam_form_running_and_result(make_user, clock):
    actor = make_user("learner")
    at = page(actor.id, "pages/learner/practice.py")
    at.segmented_control(key="practice_mode").set_value("mock").run()
    assert "模拟考试" in shown(at)
    box = at.selectbox(key="mock_course")
    box.select_index(next(n for n, o in enumerate(box.options) if o == "信息安全与保密")).run()
    at.button(key="mock_start").click().run()
    assert not at.exception, [e.message for e in at.exception]
    with session_scope() as s:
        mid = practice.open_mock(s, actor)
    assert mid is not None and "模拟考试进行中" in shown(at)
    assert not [b for b in at.button if b.key.endswith("_check")]        # a mock has no check
    clock.advance(minutes=46)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert "本次结果" in shown(at) and "非考试专用" in shown(at)


def test_notebook_empty_then_not_due_then_due_review_with_ratings(make_user, bank, clock):
    cat, ids = bank
    actor = make_user("learner")
    at = page(actor.id, "pages/learner/notebook.py")
    assert at.title[0].value == "错题本" and "错题本是空的" in shown(at)
    with session_scope() as s:
        aid = practice.start_practice(s, actor, category=cat, count=3)
    for item_id, _pos, data in items_of(aid):
        with session_scope() as s:
            from services import attempts
            attempts.save_answer(s, actor, item_id=item_id, response=wrong_of(data))
            practice.check_answer(s, actor, item_id=item_id)
    at = page(actor.id, "pages/learner/notebook.py")
    assert "今天没有到期的错题。下一次复习" in shown(at)
    assert cat in at.expander[0].label and "3 题" in at.expander[0].label
    clock.advance(days=1)
    home = page(actor.id, "pages/learner/home.py")
    assert any(m.value == "3" for m in home.metric) and home.button(key="home_review") is not None
    at = page(actor.id, "pages/learner/notebook.py")
    assert at.metric[0].value == "3" and at.button(key="notebook_start").label == "开始复习今日到期的 3 题"
    at.button(key="notebook_start").click().run()
    assert not at.exception, [e.message for e in at.exception]
    with session_scope() as s:
        rid = notebook.open_review(s, actor)
    base = f"review_{rid}"
    first, second, *_ = items_of(rid)
    at.radio(key=f"{base}_q1").set_value(correct_response(first[2])).run()
    at.button(key=f"{base}_q1_check").click().run()
    assert not at.exception, [e.message for e in at.exception]
    labels = [b.label for b in at.button if b.key.startswith("notebook_rate_1_")]
    assert len(labels) == 3 and all("下次" in lb for lb in labels)
    at.button(key="notebook_rate_1_3").click().run()
    assert "第 1 题的下次复习" in shown(at)
    assert not [b for b in at.button if b.key.startswith("notebook_rate_1_")]      # rated once
    at.button(key=f"{base}_next").click().run()
    at.radio(key=f"{base}_q2").set_value(wrong_of(second[2])).run()
    at.button(key=f"{base}_q2_check").click().run()
    assert "第 2 题答错了" in shown(at)
    at.button(key="notebook_rate_2_ok").click().run()
    at.button(key="review_submit").click().run()
    at.button(key="review_submit_confirm").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert "本次复习已结束" in shown(at)
    at.button(key="notebook_back").click().run()
    assert not at.exception
    with session_scope() as s:
        card_due = {e.question_id: e.due for e in notebook.notebook(s, actor).entries}
    reviewed = {first[2]["id"], second[2]["id"]}
    assert len(card_due) == 3
    assert all(d - clock.now >= timedelta(days=1) for q, d in card_due.items() if q in reviewed)   # moved out
    assert all(d <= clock.now for q, d in card_due.items() if q not in reviewed)                   # still due


def test_english_labels(make_user):
    actor = make_user("learner")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["user_id"] = actor.id
    at.session_state["locale"] = "en"
    at.run()
    at.switch_page("pages/learner/notebook.py")
    at.run()
    assert not at.exception and at.title[0].value == "Mistake notebook"


def test_review_only_one_categorys_due_questions(make_user, bank, clock):
    cat, ids = bank
    other_cat, other = make_questions(2, "true_false")
    with session_scope() as s:
        course = s.get(Question, ids[0]).course_id
    in_course(other, course)
    actor = make_user("learner")
    from services import attempts
    for scope in (cat, other_cat):
        with session_scope() as s:
            aid = practice.start_practice(s, actor, category=scope, count=5)
        for item_id, _pos, data in items_of(aid):
            with session_scope() as s:
                attempts.save_answer(s, actor, item_id=item_id, response=wrong_of(data))
                practice.check_answer(s, actor, item_id=item_id)
    clock.advance(days=1)
    at = page(actor.id, "pages/learner/notebook.py")
    assert at.metric[0].value == "5"
    n = next(i for i, e in enumerate(at.expander) if e.label.startswith(other_cat))
    at.button(key=f"notebook_group_{n}").click().run()
    assert not at.exception, [e.message for e in at.exception]
    with session_scope() as s:
        rid = notebook.open_review(s, actor)
    assert sorted(d["id"] for _, _, d in items_of(rid)) == sorted(other)


def test_weak_topics_named_and_practised(make_user, bank):
    cat, ids = bank
    actor = make_user("learner")
    from services import attempts
    with session_scope() as s:
        aid = practice.start_practice(s, actor, category=cat, count=3)
    for item_id, _pos, data in items_of(aid):
        with session_scope() as s:
            attempts.save_answer(s, actor, item_id=item_id, response=wrong_of(data))
            practice.check_answer(s, actor, item_id=item_id)
    with session_scope() as s:
        practice.finish(s, actor, attempt_id=aid)
    at = page(actor.id, "pages/learner/practice.py")
    at.radio(key="practice_scope").set_value("weak").run()
    assert f"{cat}（0%）" in shown(at) and not at.button(key="practice_start").disabled
    at.button(key="practice_start").click().run()
    assert not at.exception, [e.message for e in at.exception]
    with session_scope() as s:
        new = practice.open_practice(s, actor)
    assert new != aid and sorted(d["id"] for _, _, d in items_of(new)) == sorted(ids)
