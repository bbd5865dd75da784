"""AppTest: a lesson's files and self-checks on the course page."""
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from config import ROOT
from models import Lesson
from models.db import session_scope
from services import courses


def test_lesson_shows_a_pdf_and_self_checks_with_instant_feedback(make_user):
    trainer = make_user("trainer", unit="dept")
    learner = make_user("learner")
    with session_scope() as s:
        lesson = next(ls for ls in s.exec(select(Lesson).where(Lesson.course_id == "egov").order_by(Lesson.position)).all() if ls.checks)
        courses.attach_file(s, trainer, lesson_id=lesson.id, name="办事指南.pdf", data=b"%PDF-1.4\n%test\n")
        lesson_id, position = lesson.id, lesson.position
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["user_id"] = learner.id
    at.run()
    at.switch_page("pages/learner/course.py")
    at.query_params["course"] = "egov"
    at.session_state["course_lesson"] = lesson_id
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any(d.label == "下载 办事指南.pdf" for d in at.download_button)
    assert any(h.value == "课后自测" for h in at.subheader)
    at.button(key=f"selfcheck_{lesson_id}_1_check").click().run()      # checked without an answer: wrong, key shown
    assert not at.exception
    assert any("正确答案" in e.value for e in at.error) or any("回答正确" in s.value for s in at.success)
    del position
