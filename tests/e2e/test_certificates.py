"""The public certificate check (/verify, no sign-in) on the real server in Chromium: a genuine
certificate, a revoked one and an unknown serial; the page asks nothing of any other host."""
from urllib.parse import urlsplit

from playwright.sync_api import expect
from sqlmodel import select

from models import User
from models.db import LOCAL_TZ, session_scope
from services import certificates
from services.permissions import system_actor
from tests.e2e.helpers import ARTIFACTS, make_org, make_user


def _certificate(db: str, name: str, title: str, unit_code: str) -> tuple[str, str]:
    """A certificate of a new learner: (serial, issue date as the page shows it, city time)."""
    username = make_user(db, "learner", unit=unit_code, name=name)
    with session_scope(db) as s:
        user_id = s.exec(select(User.id).where(User.username == username)).one()
        cert = certificates.issue(s, user_id=user_id, attempt_id=None, title=title, score=92, max_score=100)
        return cert.serial, cert.issued_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d")


def test_verify_page_genuine_revoked_and_unknown(server, browser):
    db = server["database_url"]
    units = make_org(db)
    genuine, issued = _certificate(db, "王<b>芳</b>", "网络安全知识考试", units["village"])
    revoked, _ = _certificate(db, "李强", "数据安全考试", units["town"])
    with session_scope(db) as s:
        certificates.revoke(s, system_actor(), serial=revoked, reason="成绩录入错误")
    unknown = certificates.new_serial()

    context = browser.new_context(locale="zh-CN")          # a visitor who never signed in
    page = context.new_page()
    hosts = set()
    page.on("request", lambda r: hosts.add(urlsplit(r.url).netloc))
    try:
        page.goto(f"{server['url']}/verify?serial={genuine}")
        result = page.locator("section.result")
        expect(result).to_have_attribute("data-status", "genuine")
        expect(result.locator("h2")).to_have_text("证书真实有效")
        expect(result.locator("dd")).to_have_text([certificates.display_serial(genuine), "王<b>芳</b>",
                                                   units["village_name"], "网络安全知识考试", "92 / 100", issued])
        expect(result.locator("b")).to_have_count(0)              # the name is text, not markup
        page.screenshot(path=str(ARTIFACTS / "verify-genuine.png"), full_page=True)

        # a visitor types the revoked serial the way it is printed, in lower case
        page.locator("#serial").fill(certificates.display_serial(revoked).lower())
        page.get_by_role("button", name="验证").click()
        expect(page).to_have_url(f"{server['url']}/verify?serial={certificates.display_serial(revoked).lower()}")
        expect(result).to_have_attribute("data-status", "revoked")
        expect(result.locator("h2")).to_have_text("该证书已被撤销，不再有效")
        expect(result).to_contain_text("李强")
        expect(result).to_contain_text("撤销日期")
        expect(page.locator("body")).not_to_contain_text("成绩录入错误")     # the reason is not public
        page.set_viewport_size({"width": 390, "height": 800})
        page.screenshot(path=str(ARTIFACTS / "verify-revoked-390px.png"), full_page=True)

        for serial in (unknown, "not-a-serial"):
            page.goto(f"{server['url']}/verify?serial={serial}")
            expect(result).to_have_attribute("data-status", "unknown")
            expect(result.locator("h2")).to_have_text("未找到该证书")
            expect(result.locator("dd")).to_have_count(0)
        assert hosts == {urlsplit(server["url"]).netloc}
    finally:
        context.close()
