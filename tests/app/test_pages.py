"""Every page × every role: allowed roles see it render without an exception; the others are
refused both by the navigation (the page is not offered) and by the page's own guard."""
import pytest
from streamlit.testing.v1 import AppTest

from config import ROOT

ROLES = ("learner", "trainer", "hr", "admin")


def _pages_from_app() -> dict[str, set[str]]:
    """Every page app.py offers, with the roles it is offered to (so a new page is covered at once)."""
    import re
    src = (ROOT / "app.py").read_text(encoding="utf-8")
    rows = re.findall(r'\("\w+", "(pages/[\w/]+\.py)", "\w+", "[^"]*", \(([^)]*)\)\)', src)
    return {path: set(re.findall(r'"(\w+)"', roles)) for path, roles in rows}


PAGES = _pages_from_app()
assert len(PAGES) >= 17 and PAGES["pages/account/profile.py"] == set(ROLES)


@pytest.fixture(scope="module")
def people(make_user_module):
    return {"learner": make_user_module("learner"), "trainer": make_user_module(("trainer", "city"), unit="dept"),
            "hr": make_user_module(("hr", "district"), unit="district"), "admin": make_user_module("admin", unit="dept")}


def app_as(user_id: int) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["user_id"] = user_id
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for e in at.error] + [e.value for e in at.warning] + [e.value for e in at.title]
    return " ".join(str(p) for p in parts)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", list(PAGES))
def test_page_for_role(page, role, people):
    actor = people[role]
    at = app_as(actor.id)
    at.run()
    assert not at.exception, at.exception
    if role in PAGES[page] or (role == "admin"):
        at.switch_page(page)
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        assert "您没有权限" not in texts(at)
        assert len(at.title) >= 1
    else:
        # not in the navigation: switching there does not reach the page's content
        direct = AppTest.from_file(str(ROOT / page), default_timeout=60)
        direct.session_state["user_id"] = actor.id
        direct.run()
        assert not direct.exception
        assert any("您没有权限" in e.value for e in direct.error), texts(direct)


@pytest.mark.parametrize("page", [p for p in PAGES])
def test_signed_out_visitor_is_refused_by_every_page(page):
    at = AppTest.from_file(str(ROOT / page), default_timeout=60)
    at.run()
    assert not at.exception
    assert any("请先登录" in w.value for w in at.warning)


def test_signed_out_visitor_sees_sign_in_and_can_sign_in(make_user_module):
    actor = make_user_module("learner", password="Right123x")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert at.title[0].value == "信息化学堂"
    at.text_input(key="login_username").input(actor.username)
    at.text_input(key="login_password").input("wrong-password")
    at.button[0].click()
    at.run()
    assert any("用户名或密码错误" in e.value for e in at.error)
    at.text_input(key="login_password").input("Right123x")
    at.button[0].click()
    at.run()
    assert at.session_state["user_id"] == actor.id
    assert not at.exception
    assert any("您好" in t.value for t in at.title)


def test_forced_password_change_comes_first(make_user_module):
    actor = make_user_module("learner", password="Initial123x", must_change=True)
    at = app_as(actor.id)
    at.run()
    assert any("请先修改密码" in w.value for w in at.warning)
    inputs = at.text_input
    inputs[0].input("Initial123x")
    inputs[1].input("Better456y")
    inputs[2].input("Better456y")
    at.button[0].click()
    at.run()
    assert not at.exception
    at.run()
    assert any("您好" in t.value for t in at.title)


def test_english_is_available(people):
    at = app_as(people["learner"].id)
    at.session_state["locale"] = "en"
    at.run()
    assert any("Hello" in t.value for t in at.title)
    at.switch_page("pages/learner/catalogue.py")
    at.run()
    assert at.title[0].value == "Course catalogue"


@pytest.mark.parametrize("page", list(PAGES))
def test_page_in_english(page, people):
    """Every page renders in English for a role it is offered to (widget state from a Chinese run must not
    leak into option lists built from translated labels)."""
    role = next(r for r in ROLES if r in PAGES[page])
    at = app_as(people[role].id)
    at.session_state["locale"] = "en"
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert "not allowed" not in texts(at).lower() and len(at.title) >= 1


def test_course_page_renders_lesson_markdown_and_records_completion(people):
    at = app_as(people["learner"].id)
    at.run()
    at.switch_page("pages/learner/course.py")
    at.query_params["course"] = "egov"
    at.run()
    assert not at.exception
    body = " ".join(m.value for m in at.markdown)
    assert "小结" in body
    done_buttons = [b for b in at.button if b.key and b.key.startswith("course_done_")]
    done_buttons[0].click()
    at.run()
    assert not at.exception
    lessons = at.radio(key="course_lesson")
    assert lessons.options[0].startswith(":material/check_circle:") and "check_circle" not in lessons.options[1]
    assert lessons.value == lessons.options[1] or lessons.index == 1   # moved on to the next lesson
