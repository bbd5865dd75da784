"""The first day, in a real browser: first-run set-up → admin creates a learner → the learner
signs in, changes the password, studies a course, passes its quiz and sees the hours credited.
Then every page per role, and the all-or-nothing import. Each test stands alone: the first day
has a server of its own (it needs a database nobody has touched); the others make their own units
and people on the shared server. Waiting: tests/e2e/helpers.py. Screenshots: tests/e2e/artifacts/."""
import re

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from models import Attempt, AttemptItem, Lesson, QuestionVersion, User
from models.db import session_scope
from services.grading import correct_response
from tests.e2e.helpers import (
    make_org,
    make_user,
    msg,
    msg_pattern,
    sign_in,
    sign_out,
    tag,
)

ADMIN_PW = "Admin2026!ok"
LEARNER_NEW_PW = "Learn2026ok"
COURSE = "egov"


def test_first_day(fresh_server, tabs):
    srv = fresh_server
    tab = tabs(srv["url"])
    page = tab.page
    # 1. first run: set-up creates the administrator (and a small demo organisation)
    tab.goto("/")
    expect(tab.heading()).to_have_text(msg("setup.title"))
    tab.shot("01-setup")
    page.get_by_label(msg("field.password"), exact=True).fill(ADMIN_PW)
    page.get_by_label(msg("field.password_again"), exact=True).fill(ADMIN_PW)
    page.get_by_label(msg("setup.demo_learners")).fill("40")
    tab.act(lambda: page.get_by_role("button", name=msg("setup.create")).click(), timeout=180_000)
    expect(page.get_by_text(msg("setup.done"), exact=True)).to_be_visible()
    tab.shot("02-setup-done")
    with page.expect_response(lambda r: "/auth/session" in r.url) as exchanged:
        tab.navigate(lambda: page.get_by_role("button", name=msg("setup.continue")).click())
    assert exchanged.value.status == 303
    tab.expect_path("/")
    expect(tab.heading()).to_have_text(msg_pattern("home.title"))
    cookie = next(c for c in page.context.cookies() if c["name"] == "isa_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    # a refresh keeps the admin signed in (HttpOnly session cookie)
    tab.reload()
    expect(tab.heading()).to_have_text(msg_pattern("home.title"))
    tab.shot("03-admin-home")

    # 2. admin creates a learner in 新华街道 (a unit of the demo organisation)
    tab.act(lambda: tab.sidebar_link(msg("nav.users")).click())
    tab.expect_path("/users")
    expect(tab.heading()).to_have_text(msg("users.title"))
    page.get_by_test_id("stExpander").filter(has_text=msg("users.create")).locator("summary").click()
    form = page.get_by_test_id("stForm")
    form.get_by_label(msg("field.username"), exact=True).fill("zhang.wei")
    form.get_by_label(msg("field.name"), exact=True).fill("张伟")
    unit = form.get_by_role("combobox", name=msg("field.unit"))
    tab.choose(unit, "新华街道", re.compile(r"(^|\/ )新华街道$"), reruns=False)     # labels name the parents
    expect(unit).to_have_value(re.compile("新华街道$"))
    tab.act(lambda: page.get_by_role("button", name=msg("users.create_submit")).click())
    expect(page.get_by_text(msg("users.created", username="zhang.wei"))).to_be_visible()
    code = page.get_by_test_id("stCode").first
    expect(code).to_have_text(re.compile(r"^\s*\S{11}\s*$"))
    initial = code.inner_text().strip()
    tab.shot("04-user-created")

    # sign out: the stored session is ended and the cookie deleted
    sign_out(tab)
    assert not any(c["name"] == "isa_session" for c in page.context.cookies())

    # 3. the learner signs in with the initial password and must change it first
    page.get_by_label(msg("field.username"), exact=True).fill("zhang.wei")
    page.get_by_label(msg("field.password"), exact=True).fill("wrong-password1")
    tab.act(lambda: page.get_by_role("button", name=msg("auth.sign_in"), exact=True).click())
    expect(page.get_by_test_id("stAlert").filter(has_text=msg("error.bad_credentials"))).to_be_visible()
    assert not any(c["name"] == "isa_session" for c in page.context.cookies())
    page.get_by_label(msg("field.password"), exact=True).fill(initial)
    tab.navigate(lambda: page.get_by_role("button", name=msg("auth.sign_in"), exact=True).click())
    tab.expect_path("/")
    expect(page.get_by_text(msg("profile.must_change"))).to_be_visible()
    tab.shot("05-forced-change")
    page.get_by_label(msg("field.current_password"), exact=True).fill(initial)
    page.get_by_label(msg("field.new_password"), exact=True).fill(LEARNER_NEW_PW)
    page.get_by_label(msg("field.password_again"), exact=True).fill(LEARNER_NEW_PW)
    tab.act(lambda: page.get_by_role("button", name=msg("profile.save_password")).click())
    expect(tab.heading()).to_have_text(msg("home.title", name="张伟"))
    tab.shot("06-learner-home")

    # the browser studies at machine speed: drop the minimum study time (a setting of the admin's)
    from services import settings
    from services.permissions import system_actor
    with session_scope(srv["database_url"]) as s:
        settings.set_credit_rule(s, system_actor(), rule=settings.credit_rule(s).model_copy(update={"min_study_ratio": 0}))
        course_title = _course_title(s)
        n_lessons = len(s.exec(select(Lesson.id).where(Lesson.course_id == COURSE, Lesson.active)).all())
    assert n_lessons >= 4

    # 4. the catalogue, then a course by its address (a fresh page load: still signed in)
    tab.act(lambda: tab.sidebar_link(msg("nav.catalogue")).click())
    expect(page.get_by_text(course_title).first).to_be_visible()
    tab.shot("07-catalogue")
    tab.goto(f"/course?course={COURSE}")
    expect(tab.heading()).to_have_text(course_title)
    tab.shot("08-lesson")
    done_button = page.get_by_role("button", name=msg("course.mark_done"))
    for _ in range(n_lessons):
        expect(done_button).to_be_visible()
        tab.act(done_button.click)
    expect(done_button).to_have_count(0)
    expect(page.get_by_text(msg("catalogue.lessons_done", done=n_lessons, total=n_lessons)).first).to_be_visible()

    # 5. the course quiz: every answer is saved as it is given
    tab.act(lambda: page.get_by_test_id("stButtonGroup").get_by_text(msg("course.quiz"), exact=True).click())
    tab.act(lambda: page.get_by_role("button", name=msg("course.quiz_start")).click())
    with session_scope(srv["database_url"]) as s:
        uid = s.exec(select(User.id).where(User.username == "zhang.wei")).one()
        attempt = s.exec(select(Attempt).where(Attempt.user_id == uid, Attempt.status == "in_progress")).one()
        items = s.exec(select(AttemptItem, QuestionVersion).join(QuestionVersion)
                       .where(AttemptItem.attempt_id == attempt.id).order_by(AttemptItem.position)).all()
        plan = [(it.id, it.position, v.data["type"], v.data, correct_response(v.data)) for it, v in items]
    tab.shot("09-quiz")
    for item_id, position, qtype, data, key in plan:
        box = _quiz_item(page, position)
        if qtype == "single_choice":
            tab.act(box.get_by_text(data["options"][key]["text"], exact=True).click)
        elif qtype == "true_false":
            tab.act(box.get_by_text(msg("quiz.true") if key else msg("quiz.false"), exact=True).click)
        elif qtype == "multiple_choice":
            for i in key:
                tab.act(box.get_by_text(data["options"][i]["text"], exact=True).click)
        elif qtype in ("fill_blank", "numerical"):
            field = box.get_by_label(msg("quiz.your_answer"), exact=True)   # a field saved as it is typed
            field.fill(str(key))
            tab.act(lambda field=field: field.press("Tab"))                # and at once when it is left
        else:
            raise AssertionError(f"quiz drew an unexpected type {qtype}")
        with session_scope(srv["database_url"]) as s:     # saved as soon as the answer is given
            assert s.get(AttemptItem, item_id).response not in (None, "", [], {}), (position, qtype)
    tab.act(lambda: page.get_by_role("button", name=msg("quiz.submit")).click())
    expect(page.get_by_text(msg("player.confirm_all_answered", total=len(plan)))).to_be_visible()   # asks first
    tab.act(lambda: page.get_by_role("button", name=msg("player.confirm_submit")).click())
    verdict = msg_pattern("quiz.result", verdict=msg("quiz.passed"))
    expect(page.get_by_test_id("stAlert").get_by_text(verdict)).to_be_visible()
    expect(page.get_by_text(msg_pattern("quiz.result", verdict=msg("quiz.failed")))).to_have_count(0)
    tab.shot("10-quiz-result")

    # 6. the hours are credited: the page shows the learner's ledger for this year
    from services import ledger
    from services.permissions import load_actor
    with session_scope(srv["database_url"]) as s:
        summary = ledger.my_summary(s, load_actor(s, uid))
    assert summary.total > 0
    tab.act(lambda: tab.sidebar_link(msg("nav.hours")).click())
    expect(tab.heading()).to_have_text(msg("hours.title"))
    expect(page.get_by_test_id("stMetricValue").first).to_have_text(f"{summary.total:g}")
    expect(page.get_by_text(msg("hours.progress", percent=f"{summary.percent:.0f}"), exact=True)).to_be_visible()
    tab.shot("11-hours")


def _course_title(s) -> str:
    from models import Course
    return s.get(Course, COURSE).title


def _quiz_item(page, position: int):
    """The bordered box of question `position` (found by its heading "N. 题型 · 分", not by widget keys)."""
    heading = page.get_by_text(re.compile(rf"^{position}\.\s"))
    return page.get_by_test_id("stVerticalBlock").filter(has=heading).last


ROLE_PAGES = {
    "admin": ["home", "catalogue", "hours", "bank", "hr_overview", "org", "users", "import_users", "settings", "audit", "profile"],
    "hr": ["hr_overview", "profile"],
    "trainer": ["bank", "profile"],
}


@pytest.mark.parametrize("role", sorted(ROLE_PAGES))
def test_every_page_renders_in_the_browser_for_each_role(server, tabs, role):
    """Every page the sidebar offers a role (at least ROLE_PAGES, none of another role's) renders
    without an error, on a small organisation of the test's own with a few learners in it (so the
    HR pages have people)."""
    db = server["database_url"]
    codes = make_org(db)
    for unit in ("village", "town", "dept"):
        make_user(db, "learner", unit=codes[unit])
    scope = {"admin": None, "hr": "district", "trainer": "city"}[role]
    username = make_user(db, (role, codes[scope]) if scope else role, unit=codes["dept"])
    tab = tabs(server["url"])
    page = tab.page
    sign_in(tab, username, "Staff2026ok")
    tab.expand_sidebar_nav()
    hrefs = [a.get_attribute("href") for a in page.get_by_test_id("stSidebarNav").locator("a").all()]
    links = {h.split("//", 1)[-1].partition("/")[2].strip("/") for h in hrefs}   # "" = the default page
    assert set(ROLE_PAGES[role]) <= links, links
    if role != "admin":
        assert not links & {"org", "users", "import_users", "settings", "audit"}, links
    for key in sorted(links - {""}):          # every page offered, new ones too
        tab.goto(f"/{key}")
        tab.expect_path(f"/{key}")
        expect(page.locator("h1").first).to_be_visible()
        tab.expect_no_error()
        expect(page.get_by_text("Page not found")).to_have_count(0)
        tab.shot(f"tour-{role}-{key}")
        page.get_by_test_id("stMain").evaluate("el => el.scrollTo(0, el.scrollHeight)")  # the page scrolls inside
        tab.shot(f"tour-{role}-{key}-end")


def test_admin_imports_users_all_or_nothing(server, tabs, tmp_path):
    """A file with errors shows a row-numbered table and writes nothing; the corrected file imports
    every row and hands out the initial passwords once."""
    db = server["database_url"]
    codes = make_org(db)
    admin = make_user(db, "admin", unit=codes["dept"])
    t = tag()
    a, b = f"li.{t}", f"wang.{t}"
    tab = tabs(server["url"], accept_downloads=True)
    page = tab.page
    sign_in(tab, admin, "Staff2026ok")
    tab.goto("/import_users")
    expect(tab.heading()).to_have_text(msg("import.title"))
    bad = tmp_path / "people.csv"
    bad.write_text(f"用户名,姓名,单位编码,手机\n{a},李娜,{codes['town']},13800001111\n{a},李娜二,{codes['town']},\n"
                   f"{b},王芳,NO-UNIT-{t},123\n", encoding="utf-8")
    upload = page.get_by_test_id("stFileUploaderDropzoneInput")
    tab.act(lambda: upload.set_input_files(str(bad)))
    expect(page.get_by_text(msg_pattern("import.has_errors"))).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    tab.shot("12-import-errors")
    with session_scope(db) as s:
        assert s.exec(select(User).where(User.username.in_([a, b]))).first() is None
    good = tmp_path / "people2.csv"
    good.write_text(f"用户名,姓名,单位编码,手机\n{a},李娜,{codes['town']},13800001111\n{b},王芳,{codes['village']},\n",
                    encoding="utf-8")
    tab.act(lambda: upload.set_input_files(str(good)))
    expect(page.get_by_text(msg("import.valid", n=2), exact=True)).to_be_visible()
    with session_scope(db) as s:      # checked, not yet written
        assert s.exec(select(User).where(User.username.in_([a, b]))).first() is None
    tab.act(lambda: page.get_by_role("button", name=msg("import.confirm", n=2)).click())
    expect(page.get_by_text(msg_pattern("import.done", n=2))).to_be_visible()
    tab.shot("13-import-done")
    with page.expect_download() as download:
        page.get_by_role("button", name=msg("import.download_passwords")).click()
    saved = tmp_path / "passwords.xlsx"
    download.value.save_as(saved)
    from openpyxl import load_workbook
    rows = list(load_workbook(saved).active.iter_rows(values_only=True))
    header = next(r for r in rows if "用户名" in r)            # a title row may come first
    users_col = header.index("用户名")
    pw_col = next(i for i, h in enumerate(header) if h and "密码" in str(h))
    creds = {r[users_col]: r[pw_col] for r in rows if r[users_col] in (a, b)}
    assert set(creds) == {a, b}
    with session_scope(db) as s:
        imported = s.exec(select(User).where(User.username.in_([a, b]))).all()
        assert len(imported) == 2 and all(u.must_change_password for u in imported)

    # the handed-out password is the one that works: the new person signs in and must change it
    newcomer = tabs(server["url"])
    newcomer.goto("/")
    newcomer.page.get_by_label(msg("field.username"), exact=True).fill(b)
    newcomer.page.get_by_label(msg("field.password"), exact=True).fill(creds[b])
    newcomer.navigate(lambda: newcomer.page.get_by_role("button", name=msg("auth.sign_in"), exact=True).click())
    expect(newcomer.page.get_by_text(msg("profile.must_change"))).to_be_visible()


def test_a_link_to_a_page_works_as_the_first_visit_after_a_start(fresh_server, tabs):
    """A bookmarked address (/hours) opened right after the server (re)started: the sign-in page, usable."""
    tab = tabs(fresh_server["url"])
    make_user(fresh_server["database_url"], "learner", unit=make_org(fresh_server["database_url"])["town"])
    tab.goto("/hours")
    tab.expect_path("/hours")
    expect(tab.heading()).to_have_text(msg("login.title"))
    expect(tab.page.get_by_label(msg("field.username"), exact=True)).to_be_editable()
    expect(tab.page.get_by_role("dialog")).to_have_count(0, timeout=3_000)   # it comes with the page, if at all
