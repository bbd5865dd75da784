"""Reviewer R1: category paths typed by trainers reach the practice and notebook pages as text, never as
Markdown (a link, bold, an icon)."""
import uuid

from models import Course, Lesson
from models.db import session_scope
from services import attempts, practice
from tests.app.test_practice_pages import items_of, page
from tests.unit.examkit import make_questions
from tests.unit.test_notebook import in_course, wrong_of
from ui.fmt import md_text

MARKUP = "**粗体**[点我](http://evil.example):material/home:"


def test_a_category_with_markup_is_shown_as_text_on_practice_and_notebook(make_user):
    trainer = make_user("trainer")
    actor = make_user("learner")
    cat, ids = make_questions(3, "true_false", category=f"测试{uuid.uuid4().hex[:6]}/{MARKUP}")
    course = "rv" + uuid.uuid4().hex[:8]
    with session_scope() as s:
        s.add(Course(id=course, title="审查课程", category="测试", created_by=trainer.id))
        s.flush()
        s.add(Lesson(id=f"{course}-l1", course_id=course, position=1, title="一", body_md="# 一", minutes=10))
    in_course(ids, course)
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
    weak = [c.value for c in at.caption if "0%" in c.value]
    assert weak and md_text(cat) in weak[0], weak          # escaped: no link, no bold, no icon
    assert "[点我](http" not in weak[0]

    nb = page(actor.id, "pages/learner/notebook.py")
    label = next(e.label for e in nb.expander if "点我" in e.label)
    assert md_text(cat) in label and "[点我](http" not in label


def test_a_notice_senders_name_with_markup_is_shown_as_text_on_home(make_user):
    from models import User
    from services import notices
    from services.permissions import load_actor
    hr = make_user(("hr", "district"))
    learner = make_user("learner", unit="village")
    name = "人事[点我](http://evil.example)**粗**"
    with session_scope() as s:
        u = s.get(User, hr.id)
        u.name = name
        s.add(u)
    with session_scope() as s:
        notices.send(s, load_actor(s, hr.id), user_ids=[learner.id], text="请尽快完成必修课")
    at = page(learner.id, "pages/learner/home.py")
    line = next(c.value for c in at.caption if "点我" in c.value)
    assert md_text(name) in line and "[点我](http" not in line
