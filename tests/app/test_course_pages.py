"""AppTest: the trainer's course list and course editor in states with data."""
import io
import uuid
import zipfile

import pytest
from streamlit.testing.v1 import AppTest

from config import ROOT
from models.db import session_scope
from services import courses


@pytest.fixture(scope="module")
def trainer(make_user_module):
    return make_user_module("trainer", unit="dept")


def page_as(path, user_id, **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=60)
    at.session_state["user_id"] = user_id
    for k, v in query.items():
        at.query_params[k] = v
    return at


def test_course_list_shows_the_catalogue_and_checks_a_package(trainer):
    at = page_as("pages/trainer/courses.py", trainer.id)
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert "strat" in list(table.iloc[:, 0]) and len(table) >= 10
    with session_scope() as s:
        data = courses.export_package(s, trainer, course_id="strat")
    at.file_uploader(key="courses_package").set_value(("strat.zip", data, "application/zip")).run()
    assert not at.exception and any("检查通过" in s.value for s in at.success)
    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("x/readme.txt", "no course here")
    at.file_uploader(key="courses_package").set_value(("bad.zip", bad.getvalue(), "application/zip")).run()
    assert any("1 处错误" in e.value for e in at.error)


def test_course_editor_course_lessons_and_quiz(trainer):
    cid = f"p{uuid.uuid4().hex[:8]}"
    with session_scope() as s:
        courses.create_course(s, trainer, course_id=cid, course_in=courses.CourseIn("页面课程", "测试"))
    at = page_as("pages/trainer/course_edit.py", trainer.id, course=cid)
    at.session_state[f"ce_section_{cid}"] = "lessons"
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == "页面课程"
    # a new lesson: the minutes field never offers more than 1.25 × the estimate
    body = "# 新课时\n\n" + "示例正文。" * 600
    at.text_input(key="ce___new___title").input("第一课").run()
    at.text_area(key="ce___new___body").input(body).run()
    est, cap = courses.max_minutes(body, 0, 0)
    assert at.number_input(key="ce___new___minutes").max == cap
    at.button(key="ce___new___save").click().run()
    assert not at.exception, at.exception
    with session_scope() as s:
        c = courses.course_for_edit(s, trainer, course_id=cid)
    assert [ls.title for ls in c.lessons] == ["第一课"] and c.lessons[0].minutes <= cap
    assert at.session_state[f"ce_section_{cid}"] == "lessons"      # the section survives the save's rerun
    # the quiz section checks the rules against the bank at once
    at.session_state[f"ce_section_{cid}"] = "quiz"
    at.run()
    assert any("题库不能满足" in w.value for w in at.warning)        # a new course has no questions


def test_course_editor_for_a_built_in_course(trainer):
    at = page_as("pages/trainer/course_edit.py", trainer.id, course="strat")
    at.run()
    assert not at.exception, at.exception
    assert any("内置课程包" in c.value for c in at.caption)
    for section in ("lessons", "quiz", "export"):
        at.session_state["ce_section_strat"] = section
        at.run()
        assert not at.exception, (section, at.exception)
    at.session_state["ce_section_strat"] = "quiz"
    at.run()
    assert any("题库可以满足" in s.value for s in at.success)
    at.session_state["ce_section_strat"] = "export"
    at.run()
    assert at.download_button(key="ce_export_strat")
