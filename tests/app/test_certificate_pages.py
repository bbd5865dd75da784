"""我的证书 and 证书管理 with data: the holder sees their own certificates (and only theirs), each PDF is
built only when its button is clicked; an admin finds a certificate and revokes it with a reason."""
import io

import pytest
from pypdf import PdfReader
from sqlmodel import select
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from config import ROOT
from models import AuditLog, Certificate
from models.db import session_scope
from services import certificates
from ui.fmt import md_text


@pytest.fixture
def downloads(monkeypatch):
    """The callables the pages hand to Streamlit for deferred download buttons (the real manager runs)."""
    seen = []
    add_deferred = MediaFileManager.add_deferred

    def spy(self, data_callable, mimetype, coordinates, file_name=None, **kw):
        seen.append((file_name, data_callable))
        return add_deferred(self, data_callable, mimetype, coordinates, file_name, **kw)
    monkeypatch.setattr(MediaFileManager, "add_deferred", spy)
    return seen


def _page(user_id: int, script: str, locale: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["user_id"] = user_id
    if locale:
        at.session_state["locale"] = locale
    at.run()
    at.switch_page(script)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _issue(user_id: int, title: str, score=90.0) -> Certificate:
    with session_scope() as s:
        return certificates.issue(s, user_id=user_id, attempt_id=None, title=title, score=score, max_score=100)


def test_my_certificates_lists_mine_and_builds_the_pdf_on_click(make_user, downloads, monkeypatch):
    me, other = make_user("learner"), make_user("learner")
    first = _issue(me.id, "网络安全**考试** [链接](http://x)")
    second = _issue(me.id, "数据安全考试", score=75)
    _issue(other.id, "别人的考试")
    built = []
    real = certificates.render_pdf
    monkeypatch.setattr(certificates, "render_pdf", lambda cert: built.append(cert.id) or real(cert))

    at = _page(me.id, "pages/learner/certificates.py")
    assert at.title[0].value == "我的证书"
    shown = " ".join(m.value for m in at.markdown)
    assert "别人的考试" not in shown
    assert f"**{md_text('网络安全**考试** [链接](http://x)')}**" in shown     # the title is text, not Markdown
    captions = " ".join(c.value for c in at.caption)
    assert certificates.display_serial(first.serial) in captions and "成绩：75 / 100 分" in captions
    assert built == []                                                 # nothing built while drawing
    names = [name for name, _ in downloads]
    assert names == [certificates.pdf_file_name(certificates._public(c)) for c in (second, first)]
    _, make = downloads[names.index(certificates.pdf_file_name(certificates._public(first)))]
    data = make()
    assert built == [first.id] and data.startswith(b"%PDF-")
    assert certificates.display_serial(first.serial) in PdfReader(io.BytesIO(data)).pages[0].extract_text()


def test_my_certificates_when_there_are_none_and_in_english(make_user):
    me = make_user("learner")
    at = _page(me.id, "pages/learner/certificates.py")
    assert [i.value for i in at.info] == [
        "您还没有证书。通过设有证书的考试后，证书会出现在这里。"]
    _issue(me.id, "考试")
    at = _page(me.id, "pages/learner/certificates.py", locale="en")
    assert at.title[0].value == "My certificates"
    assert any(c.value.startswith("Serial: ") for c in at.caption)


def test_a_revoked_certificate_is_marked_on_my_page(make_user):
    me, admin = make_user("learner"), make_user("admin", unit="dept")
    cert = _issue(me.id, "考试")
    with session_scope() as s:
        certificates.revoke(s, admin, serial=cert.serial, reason="错误颁发")
    at = _page(me.id, "pages/learner/certificates.py")
    assert any("已于" in w.value and "撤销" in w.value for w in at.warning)


def test_admin_finds_a_certificate_and_revokes_it_with_a_reason(make_user, downloads):
    holder, admin = make_user("learner"), make_user("admin", unit="dept")
    cert = _issue(holder.id, "=HYPERLINK(\"x\") 考试")
    at = _page(admin.id, "pages/admin/certificates.py")
    assert at.title[0].value == "证书管理"
    at.text_input(key="certificate_admin_search").input(certificates.display_serial(cert.serial).lower())
    at.run()
    table = at.dataframe[0].value
    assert list(table["证书编号"]) == [certificates.display_serial(cert.serial)]
    assert list(table["用户名"]) == [holder.username] and list(table["状态"]) == ["有效"]
    assert list(table["考试名称"]) == ["=HYPERLINK(\"x\") 考试"]

    at.button(key=f"FormSubmitter:certificate_admin_revoke_{cert.id}-撤销证书").click()   # no reason
    at.run()
    assert [e.value for e in at.error] == ["请填写撤销原因。"]
    with session_scope() as s:
        assert certificates.verify(s, cert.serial).status == "genuine"

    at.text_area(key=f"certificate_admin_reason_{cert.id}").input("成绩录入错误，已重考")
    at.button(key=f"FormSubmitter:certificate_admin_revoke_{cert.id}-撤销证书").click()
    at.run()
    assert not at.exception
    assert [s.value for s in at.success] == [f"证书 {certificates.display_serial(cert.serial)} 已撤销。"]
    assert list(at.dataframe[0].value["状态"]) == ["已撤销"]
    assert list(at.dataframe[0].value["撤销原因"]) == ["成绩录入错误，已重考"]
    with session_scope() as s:
        row = s.get(Certificate, cert.id)
        assert row.revoked_by == admin.id and row.revoke_reason == "成绩录入错误，已重考"
        assert s.exec(select(AuditLog).where(AuditLog.action == "certificate.revoke")
                      .where(AuditLog.actor_id == admin.id)).one().detail["serial"] == cert.serial
        assert certificates.verify(s, cert.serial).status == "revoked"
    assert not at.get("form")                     # a revoked certificate offers no second revocation


def test_admin_search_by_name_with_nothing_found(make_user):
    admin = make_user("admin", unit="dept")
    at = _page(admin.id, "pages/admin/certificates.py")
    at.text_input(key="certificate_admin_search").input("没有这个人的名字")
    at.run()
    assert [i.value for i in at.info] == ["没有符合条件的证书。"]


@pytest.mark.parametrize("role", [("trainer", "city"), ("hr", "city"), "learner"])
def test_only_admins_pass_the_admin_page_guard(make_user, role):
    """Run directly (as if the navigation had let it through), the page refuses everyone but admins."""
    who = make_user(role, unit="dept")
    _issue(who.id, "考试")
    direct = AppTest.from_file(str(ROOT / "pages/admin/certificates.py"), default_timeout=60)
    direct.session_state["user_id"] = who.id
    direct.run()
    assert not direct.exception
    assert any("您没有权限" in e.value for e in direct.error)
    assert not direct.dataframe and not direct.text_input


def test_the_holder_page_refuses_staff_without_the_learner_role(make_user):
    hr = make_user(("hr", "city"), unit="dept")
    direct = AppTest.from_file(str(ROOT / "pages/learner/certificates.py"), default_timeout=60)
    direct.session_state["user_id"] = hr.id
    direct.run()
    assert any("您没有权限" in e.value for e in direct.error) and not direct.get("download_button")
