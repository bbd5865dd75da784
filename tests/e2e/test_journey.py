"""The first day, in a real browser: first-run set-up → admin creates a learner → the learner
signs in, changes the password, studies a course, passes its quiz and sees the hours credited.
Screenshots go to tests/e2e/artifacts/."""
import re

from sqlmodel import select

from models import Attempt, AttemptItem, QuestionVersion, User
from models.db import session_scope
from services.grading import correct_response
from tests.e2e.conftest import ARTIFACTS

ADMIN_PW = "Admin2026!ok"
LEARNER_NEW_PW = "Learn2026ok"


def idle(page, timeout=30_000):
    """Wait until Streamlit has finished the current rerun."""
    page.wait_for_timeout(350)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)
    page.wait_for_timeout(150)


def shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def heading(page) -> str:
    return page.locator("h1").first.inner_text()


def test_first_day(server, browser):
    base = server["url"]
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = context.new_page()

    # 1. first run: set-up creates the administrator (and a small demo organisation)
    page.goto(base + "/")
    idle(page)
    assert heading(page) == "首次设置"
    shot(page, "01-setup")
    page.get_by_label("密码", exact=True).fill(ADMIN_PW)
    page.get_by_label("再次输入密码").fill(ADMIN_PW)
    page.get_by_label("演示学员人数").fill("40")
    page.get_by_role("button", name="创建管理员").click()
    idle(page, 120_000)
    shot(page, "01b-after-create")
    page.get_by_text("设置完成").wait_for(timeout=60_000)
    shot(page, "02-setup-done")
    page.get_by_role("button", name="进入系统").click()
    page.wait_for_url(re.compile(r".*/(home)?$"), timeout=30_000)
    idle(page)
    assert "您好" in heading(page)
    cookie = next(c for c in context.cookies() if c["name"] == "isa_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    # a refresh keeps the admin signed in (HttpOnly session cookie)
    page.reload()
    idle(page)
    assert "您好" in heading(page)
    shot(page, "03-admin-home")

    # 2. admin creates a learner in 新华街道
    page.get_by_role("link", name="用户管理").click()
    idle(page)
    assert heading(page) == "用户管理"
    page.locator('[data-testid="stExpander"] summary').first.click()
    page.get_by_label("用户名", exact=True).fill("zhang.wei")
    page.get_by_label("姓名", exact=True).fill("张伟")
    page.locator(".st-key-users_create_unit").click()
    page.keyboard.type("新华街道")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="创建用户").click()
    idle(page)
    initial = page.locator('[data-testid="stCode"]').first.inner_text().strip()
    assert re.fullmatch(r"\S{11}", initial), initial
    shot(page, "04-user-created")

    # sign out: the stored session is ended and the cookie deleted
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_timeout(1000)
    idle(page)
    assert heading(page) == "信息化学堂"
    assert not any(c["name"] == "isa_session" for c in context.cookies())

    # 3. the learner signs in with the initial password and must change it first
    page.get_by_label("用户名").fill("zhang.wei")
    page.get_by_label("密码").fill("wrong-password1")
    page.get_by_role("button", name="登录").click()
    idle(page)
    assert page.get_by_text("用户名或密码错误").is_visible()
    page.get_by_label("密码").fill(initial)
    page.get_by_role("button", name="登录").click()
    page.wait_for_timeout(1000)
    idle(page)
    assert page.get_by_text("请先修改密码").is_visible()
    shot(page, "05-forced-change")
    page.get_by_label("当前密码").fill(initial)
    page.get_by_label("新密码", exact=True).fill(LEARNER_NEW_PW)
    page.get_by_label("再次输入密码").fill(LEARNER_NEW_PW)
    page.get_by_role("button", name="保存新密码").click()
    idle(page)
    assert heading(page) == "张伟，您好"
    shot(page, "06-learner-home")

    # the browser studies at machine speed: drop the minimum study time (a setting of the admin's)
    from services import settings
    from services.permissions import system_actor
    with session_scope(server["database_url"]) as s:
        settings.set_credit_rule(s, system_actor(), rule=settings.credit_rule(s).model_copy(update={"min_study_ratio": 0}))

    # 4. the catalogue, then a course by its address (a fresh page load: still signed in)
    page.get_by_role("link", name="课程中心").click()
    idle(page)
    assert page.get_by_text("电子政务基础与实务").first.is_visible()
    shot(page, "07-catalogue")
    page.goto(base + "/course?course=egov")
    idle(page)
    assert heading(page) == "电子政务基础与实务"
    shot(page, "08-lesson")
    n_lessons = 0
    while page.get_by_role("button", name="标记本节已学完").count():
        page.get_by_role("button", name="标记本节已学完").click()
        idle(page)
        n_lessons += 1
        assert n_lessons <= 8
    assert n_lessons >= 4
    assert page.get_by_text(f"已学 {n_lessons}/{n_lessons} 节").first.is_visible()

    # 5. the course quiz: every answer is saved as it is given
    page.locator(".st-key-course_section").get_by_text("课程测验").click()
    idle(page)
    page.get_by_role("button", name="开始测验").click()
    idle(page)
    with session_scope(server["database_url"]) as s:
        uid = s.exec(select(User.id).where(User.username == "zhang.wei")).one()
        attempt = s.exec(select(Attempt).where(Attempt.user_id == uid, Attempt.status == "in_progress")).one()
        items = s.exec(select(AttemptItem, QuestionVersion).join(QuestionVersion)
                       .where(AttemptItem.attempt_id == attempt.id).order_by(AttemptItem.position)).all()
        plan = [(it.id, v.data["type"], v.data, correct_response(v.data)) for it, v in items]
    shot(page, "09-quiz")
    for item_id, qtype, data, key in plan:
        box = f".st-key-course_quiz_{attempt.id}_{item_id}"
        if qtype == "single_choice":
            page.locator(box).get_by_text(data["options"][key]["text"], exact=True).click()
        elif qtype == "true_false":
            page.locator(box).get_by_text("正确" if key else "错误", exact=True).click()
        elif qtype == "multiple_choice":
            for i in key:
                page.locator(f"{box}_{i}").get_by_text(data["options"][i]["text"], exact=True).click()
                idle(page)
        elif qtype in ("fill_blank", "numerical"):
            page.locator(f"{box} input").fill(str(key))
            page.locator(f"{box} input").press("Enter")
        else:
            raise AssertionError(f"quiz drew an unexpected type {qtype}")
        idle(page)
    # the answers are in the database before submitting
    with session_scope(server["database_url"]) as s:
        saved = s.exec(select(AttemptItem).where(AttemptItem.attempt_id == attempt.id)).all()
        assert all(i.response not in (None, "", []) for i in saved)
    page.get_by_role("button", name="交卷").click()
    idle(page)
    assert page.get_by_text("通过").first.is_visible()
    shot(page, "10-quiz-result")

    # 6. the hours are credited, with their reasons
    page.get_by_role("link", name="我的学时").click()
    idle(page)
    assert heading(page) == "我的学时"
    metric = page.locator('[data-testid="stMetricValue"]').first.inner_text()
    assert metric == "1.5", metric
    assert page.get_by_text("已完成年度目标的 3%").is_visible()
    shot(page, "11-hours")
    context.close()


ROLE_PAGES = {
    "admin": ["home", "catalogue", "hours", "bank", "hr_overview", "org", "users", "import_users", "settings", "audit", "profile"],
    "hr": ["hr_overview", "profile"],
    "trainer": ["bank", "profile"],
}


def _staff(server, username, role, scope_code):
    """A staff account with a known password, made through the same service the admin page uses."""
    from models import OrgUnit
    from services import users
    from services.permissions import system_actor
    with session_scope(server["database_url"]) as s:
        if s.exec(select(User).where(User.username == username)).first() is None:
            scope = s.exec(select(OrgUnit).where(OrgUnit.code == scope_code)).one()
            u, _ = users.create_user(s, system_actor(), user_in=users.UserCreate(
                username=username, name=f"{role} 测试", unit_id=scope.id, password="Staff2026ok",
                grants=[users.Grant(role=role, scope_unit_id=scope.id)]))
            u.must_change_password = False
            s.add(u)


def _sign_in(page, base, username, password):
    page.goto(base + "/")
    idle(page)
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_timeout(1000)
    idle(page)


def test_every_page_renders_in_the_browser_for_each_role(server, browser):
    """Runs after test_first_day (same server): every page each role may open renders without an error."""
    base = server["url"]
    _staff(server, "hr.hbw", "hr", "WH-HBW")
    _staff(server, "trainer.city", "trainer", "WH")
    for role, username, password in (("admin", "admin", ADMIN_PW), ("hr", "hr.hbw", "Staff2026ok"),
                                      ("trainer", "trainer.city", "Staff2026ok")):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        _sign_in(page, base, username, password)
        hrefs = [a.get_attribute("href") for a in page.locator('[data-testid="stSidebarNav"] a').all()]
        links = {h.split("//", 1)[-1].partition("/")[2].strip("/") for h in hrefs}   # "" = the default page
        assert set(ROLE_PAGES[role]) <= links, links
        if role != "admin":
            assert not links & {"org", "users", "settings", "audit"}, links
        for key in ROLE_PAGES[role]:
            page.goto(f"{base}/{key}")
            idle(page)
            assert page.locator('[data-testid="stException"]').count() == 0, (role, key)
            assert not page.get_by_text("Page not found").count(), (role, key)
            assert page.locator("h1").count() >= 1, (role, key)
            shot(page, f"tour-{role}-{key}")
            page.mouse.move(800, 500)
            page.mouse.wheel(0, 5000)          # Streamlit scrolls inside the page: look at the bottom too
            page.wait_for_timeout(300)
            shot(page, f"tour-{role}-{key}-end")
        context.close()


def test_admin_imports_users_all_or_nothing(server, browser, tmp_path):
    """Runs after test_first_day (same server): a file with errors shows a row-numbered table and
    writes nothing; the corrected file imports every row and shows the batch password once."""
    base = server["url"]
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    _sign_in(page, base, "admin", ADMIN_PW)
    page.goto(base + "/import_users")
    idle(page)
    bad = tmp_path / "people.csv"
    bad.write_text("用户名,姓名,单位编码,手机\nli.na,李娜,WH-HN,13800001111\nli.na,李娜二,WH-HN,\nwang.fang,王芳,NO-UNIT,123\n",
                   encoding="utf-8")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(bad))
    idle(page)
    assert page.get_by_text("未导入任何数据").is_visible()
    shot(page, "12-import-errors")
    with session_scope(server["database_url"]) as s:
        assert s.exec(select(User).where(User.username == "li.na")).first() is None
    good = tmp_path / "people2.csv"
    good.write_text("用户名,姓名,单位编码,手机\nli.na,李娜,WH-HN,13800001111\nwang.fang,王芳,WH-WD,\n", encoding="utf-8")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(good))
    idle(page)
    assert page.get_by_text("全部 2 行检查通过").is_visible()
    page.get_by_role("button", name="确认导入 2 个账号").click()
    idle(page)
    assert page.get_by_text("已导入 2 个账号").is_visible()
    shot(page, "13-import-done")
    with page.expect_download() as download:
        page.get_by_role("button", name="下载初始密码表（仅此一次）").click()
    saved = tmp_path / "passwords.xlsx"
    download.value.save_as(saved)
    from openpyxl import load_workbook
    creds = {r[0]: r[2] for r in load_workbook(saved).active.iter_rows(min_row=2, values_only=True)}
    assert set(creds) == {"li.na", "wang.fang"}
    with session_scope(server["database_url"]) as s:
        imported = s.exec(select(User).where(User.username.in_(["li.na", "wang.fang"]))).all()
        assert len(imported) == 2 and all(u.must_change_password for u in imported)
    from services import auth
    with session_scope(server["database_url"]) as s:
        assert auth.authenticate(s, username="wang.fang", password=creds["wang.fang"]).must_change_password
    context.close()
