"""Certificates: serials, issuing once per passed final attempt, the public verification (nothing more
than the certificate shows), revoking (admins only, audited), the PDF, and the /verify route."""
import dataclasses
import io
import re

import pytest
from pypdf import PdfReader
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

from models import Attempt, AuditLog, Certificate, Exam
from models.db import session_scope
from models.learning import ATTEMPT_DONE, ATTEMPT_OPEN, ATTEMPT_PENDING
from services import certificates
from services.errors import NotFound, PermissionDenied, ValidationFailed
from tests.conftest import uid


def _attempt(session, user_id, *, status=ATTEMPT_DONE, passed=True, score=8.0, max_score=10.0, exam=None,
             course_id="sec") -> int:
    a = Attempt(user_id=user_id, kind="exam", course_id=None if exam else course_id, status=status, passed=passed,
                score=score if status != ATTEMPT_OPEN else None, max_score=max_score)
    if exam is not None:
        a.exam_id = exam.id
    session.add(a)
    session.flush()
    return a.id


def _exam(session, *, certificate=True, title=None) -> Exam:
    e = Exam(title=title or f"信息安全考试{uid()}", certificate=certificate, status="published")
    session.add(e)
    session.flush()
    return e


def _count(session, **where) -> int:
    q = select(func.count()).select_from(Certificate)
    for k, v in where.items():
        q = q.where(getattr(Certificate, k) == v)
    return session.exec(q).one()


# ---- serials -----------------------------------------------------------------------------------

def test_serials_are_16_base32_characters_and_distinct():
    serials = {certificates.new_serial() for _ in range(5000)}
    assert len(serials) == 5000
    assert all(re.fullmatch(r"[A-Z2-7]{16}", s) for s in serials)


def test_serials_are_read_as_people_type_them():
    s = certificates.new_serial()
    shown = certificates.display_serial(s)
    assert re.fullmatch(r"([A-Z2-7]{4}-){3}[A-Z2-7]{4}", shown)
    for typed in (s, shown, shown.lower(), f"  {shown.replace('-', ' ')} "):
        assert certificates.normalise_serial(typed) == s
    for bad in ("", None, s[:-1], s + "A", s[:-1] + "9", "x" * 200, f"{s[:8]}%{s[8:15]}"):
        assert certificates.normalise_serial(bad) is None
    assert certificates.normalise_serial("0ABC-1DEF-8GHI-JKLM") == "OABCIDEFBGHIJKLM"   # read off paper


def test_the_database_refuses_a_second_certificate_with_the_same_serial(session, make_user):
    learner = make_user("learner")
    first = certificates.issue(session, user_id=learner.id, attempt_id=None, title="甲", score=1, max_score=1)
    session.add(Certificate(serial=first.serial, user_id=learner.id, holder_name="x", title="乙", score=1,
                            max_score=1))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


# ---- issuing -----------------------------------------------------------------------------------

def test_issue_for_attempt_is_idempotent_and_freezes_name_unit_title(make_user, tree):
    learner = make_user("learner", unit="village")
    with session_scope() as s:
        exam = _exam(s, title="2026 年度网络安全知识考试")
        attempt_id = _attempt(s, learner.id, exam=exam, score=87.5, max_score=100)
        first = certificates.issue_for_attempt(s, attempt_id)
        again = certificates.issue_for_attempt(s, attempt_id)
        assert again.id == first.id
    with session_scope() as s:      # a later unit of work finds the same one
        third = certificates.issue_for_attempt(s, attempt_id)
        assert third.id == first.id and third.serial == first.serial
        assert _count(s, attempt_id=attempt_id) == 1
        assert (third.holder_name, third.unit_name, third.title, third.score, third.max_score) == (
            "测试用户", "测试村", "2026 年度网络安全知识考试", 87.5, 100)
        assert third.user_id == learner.id and third.revoked_at is None
        issued = s.exec(select(AuditLog).where(AuditLog.action == "certificate.issue")).all()
        assert [a.detail["attempt_id"] for a in issued].count(attempt_id) == 1


def test_a_second_issue_racing_the_first_finds_its_certificate(make_user):
    """Two units of work issue for the same attempt: the unique attempt_id lets one insert win and the
    other returns that row (simulated by inserting behind the service's back after its first look)."""
    learner = make_user("learner")
    with session_scope() as s:
        attempt_id = _attempt(s, learner.id)
    with session_scope() as s:
        winner = certificates.issue(s, user_id=learner.id, attempt_id=attempt_id, title="课", score=1, max_score=1)
    with session_scope() as s:
        real_exec = s.exec
        calls = {"n": 0}

        def blind_first_lookup(statement, *a, **kw):     # the loser's first look happens before the winner's commit
            calls["n"] += 1
            result = real_exec(statement, *a, **kw)
            return _Empty() if calls["n"] == 1 else result
        s.exec = blind_first_lookup
        loser = certificates.issue(s, user_id=learner.id, attempt_id=attempt_id, title="课", score=1, max_score=1)
        s.exec = real_exec
        assert loser.id == winner.id and calls["n"] == 2     # it looked, lost the insert, looked again
        assert _count(s, attempt_id=attempt_id) == 1


class _Empty:
    def first(self):
        return None


@pytest.mark.parametrize("status,passed", [(ATTEMPT_OPEN, None), (ATTEMPT_PENDING, None), (ATTEMPT_DONE, False),
                                           (ATTEMPT_DONE, None)])
def test_no_certificate_unless_the_attempt_is_final_and_passed(session, make_user, status, passed):
    learner = make_user("learner")
    attempt_id = _attempt(session, learner.id, status=status, passed=passed)
    assert certificates.issue_for_attempt(session, attempt_id) is None
    assert _count(session, attempt_id=attempt_id) == 0


def test_no_certificate_for_an_exam_that_gives_none_or_a_missing_attempt(session, make_user):
    learner = make_user("learner")
    attempt_id = _attempt(session, learner.id, exam=_exam(session, certificate=False))
    assert certificates.issue_for_attempt(session, attempt_id) is None
    assert certificates.issue_for_attempt(session, 10**9) is None
    assert _count(session, attempt_id=attempt_id) == 0


def test_a_course_attempt_takes_the_course_title(session, make_user):
    from models import Course
    learner = make_user("learner")
    cert = certificates.issue_for_attempt(session, _attempt(session, learner.id, course_id="sec"))
    assert cert.title == session.get(Course, "sec").title


# ---- verification ------------------------------------------------------------------------------

PUBLIC_FIELDS = {"status", "serial", "holder_name", "unit_name", "title", "score", "max_score", "issued_at",
                 "revoked_at"}


def test_verify_shows_the_certificate_and_nothing_more(session, make_user):
    learner = make_user("learner", unit="town")
    cert = certificates.issue(session, user_id=learner.id, attempt_id=None, title="数据安全", score=9, max_score=10)
    view = certificates.verify(session, certificates.display_serial(cert.serial).lower())
    assert {f.name for f in dataclasses.fields(view)} == PUBLIC_FIELDS
    assert view == certificates.PublicVerification(
        status="genuine", serial=cert.serial, holder_name="测试用户", unit_name="测试镇", title="数据安全", score=9,
        max_score=10, issued_at=cert.issued_at, revoked_at=None)
    assert learner.username not in repr(view)


def test_an_unknown_or_malformed_serial_gets_the_same_shape_and_no_data(session):
    for typed in (certificates.new_serial(), "ABCD", "", None, "<script>", "' OR 1=1 --"):
        view = certificates.verify(session, typed)
        assert view == certificates.PublicVerification(status="unknown")
        assert {f.name for f in dataclasses.fields(view)} == PUBLIC_FIELDS


# ---- revoking ----------------------------------------------------------------------------------

def test_only_admins_revoke_and_every_revocation_is_audited(session, make_user):
    holder, admin = make_user("learner"), make_user("admin", unit="dept")
    trainer, hr = make_user(("trainer", "city"), unit="dept"), make_user(("hr", "city"), unit="dept")
    cert = certificates.issue(session, user_id=holder.id, attempt_id=None, title="甲", score=1, max_score=1)
    for who in (holder, trainer, hr):
        with pytest.raises(PermissionDenied):
            certificates.revoke(session, who, serial=cert.serial, reason="作弊")
        with pytest.raises(PermissionDenied):
            certificates.search(session, who, text=cert.serial)
    assert certificates.verify(session, cert.serial).status == "genuine"

    for bad in ("", "   ", "原因\x07"):
        with pytest.raises(ValidationFailed):
            certificates.revoke(session, admin, serial=cert.serial, reason=bad)
    with pytest.raises(ValidationFailed):
        certificates.revoke(session, admin, serial=cert.serial, reason="长" * 401)
    with pytest.raises(NotFound):
        certificates.revoke(session, admin, serial=certificates.new_serial(), reason="作弊")

    done = certificates.revoke(session, admin, serial=certificates.display_serial(cert.serial), reason="考试作弊，\n已核实")
    assert done.status == "revoked" and done.revoked_at is not None
    row = session.get(Certificate, cert.id)
    assert (row.revoked_by, row.revoke_reason) == (admin.id, "考试作弊，\n已核实")
    log = session.exec(select(AuditLog).where(AuditLog.action == "certificate.revoke")
                       .where(AuditLog.actor_id == admin.id)).all()
    assert [a.detail for a in log] == [{"serial": cert.serial, "user_id": holder.id, "reason": "考试作弊，\n已核实"}]
    with pytest.raises(ValidationFailed):
        certificates.revoke(session, admin, serial=cert.serial, reason="再撤一次")

    view = certificates.verify(session, cert.serial)
    assert view.status == "revoked" and view.revoked_at == row.revoked_at
    assert "作弊" not in repr(view)                          # the reason is not public
    found = certificates.search(session, admin, text=certificates.display_serial(cert.serial))
    assert [(c.id, c.status, c.revoke_reason) for c in found] == [(cert.id, "revoked", "考试作弊，\n已核实")]


def test_search_by_name_or_username_and_my_certificates(session, make_user):
    a, b, admin = make_user("learner"), make_user("learner"), make_user("admin", unit="dept")
    ca = certificates.issue(session, user_id=a.id, attempt_id=None, title="一", score=1, max_score=1)
    cb = certificates.issue(session, user_id=b.id, attempt_id=None, title="二", score=1, max_score=1)
    assert [c.id for c in certificates.search(session, admin, text=a.username)] == [ca.id]
    assert {ca.id, cb.id} <= {c.id for c in certificates.search(session, admin, text="测试用户")}
    assert [c.id for c in certificates.my_certificates(session, a)] == [ca.id]
    assert [c.id for c in certificates.my_certificates(session, b)] == [cb.id]


# ---- the PDF -----------------------------------------------------------------------------------

def test_the_pdf_is_a_pdf_with_the_certificate_in_it_for_the_holder_and_admins(session, make_user, monkeypatch):
    from config import get_settings
    monkeypatch.setattr(get_settings(), "public_base_url", "https://xuetang.example.gov.cn/")
    holder, other, admin = make_user("learner", unit="village"), make_user("learner"), make_user("admin", unit="dept")
    cert = certificates.issue(session, user_id=holder.id, attempt_id=None,
                              title="2026年度全市公务人员信息化能力提升专项考试（第一期）", score=87.5, max_score=100)
    with pytest.raises(PermissionDenied):
        certificates.pdf(session, other, cert_id=cert.id)
    with pytest.raises(NotFound):
        certificates.pdf(session, admin, cert_id=10**9)
    data = certificates.pdf(session, holder, cert_id=cert.id)
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert certificates.pdf(session, admin, cert_id=cert.id).startswith(b"%PDF-")

    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    page = reader.pages[0]
    width, height = float(page.mediabox.width), float(page.mediabox.height)
    assert (round(width), round(height)) == (842, 595)                  # A4 landscape, in points
    text = page.extract_text().replace(" ", "").replace("\n", "")
    for shown in ("合格证书", "测试用户", "测试村", "2026年度全市公务人员信息化能力提升专项考试", "87.5分",
                  certificates.display_serial(cert.serial),
                  f"https://xuetang.example.gov.cn/verify?serial={cert.serial}"):
        assert shown in text, shown
    fonts = [f.get_object() for f in page["/Resources"]["/Font"].values()]
    descriptors = [f["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object() for f in fonts]
    assert descriptors and all("/FontFile2" in d for d in descriptors)   # the CJK font is embedded
    assert all("NotoSansSC" in str(d["/FontName"]) for d in descriptors)


def test_a_revoked_certificate_prints_as_revoked(session, make_user):
    holder, admin = make_user("learner"), make_user("admin", unit="dept")
    cert = certificates.issue(session, user_id=holder.id, attempt_id=None, title="甲", score=1, max_score=1)
    certificates.revoke(session, admin, serial=cert.serial, reason="错误颁发")
    text = PdfReader(io.BytesIO(certificates.pdf(session, holder, cert_id=cert.id))).pages[0].extract_text()
    assert "已撤销" in text


# ---- the public route (server.py) --------------------------------------------------------------

@pytest.fixture
def server_module(monkeypatch):
    """server.py imported in this process; the env flag it sets for the app is undone afterwards.
    setenv, not delenv: delenv of an unset variable records nothing to undo, so the "1" that the first
    `import server` sets stayed for the rest of the run, and every later AppTest sign-in took the
    browser's /auth/session path (seen when CI ran tests/unit before tests/app on PostgreSQL)."""
    from ui.session import AUTH_ROUTES_ENV
    monkeypatch.setenv(AUTH_ROUTES_ENV, "")      # undone after the test: removed again, whatever import set
    import server
    monkeypatch.setattr(server, "_verify_hits", {})
    return server


def _get(server, query: str, *, client="10.0.0.1", lang="zh-CN"):
    from starlette.requests import Request
    scope = {"type": "http", "method": "GET", "path": "/verify", "query_string": query.encode(),
             "headers": [(b"accept-language", lang.encode())], "client": (client, 5555), "scheme": "http",
             "server": ("testserver", 80)}
    response = server.verify_route(Request(scope))
    return response.status_code, response.body.decode(), response.headers


def test_the_verify_route_escapes_everything_and_sends_strict_headers(server_module, make_user):
    holder = make_user("learner")
    with session_scope() as s:
        cert = certificates.issue(s, user_id=holder.id, attempt_id=None, title='<img src=x onerror="alert(1)">&',
                                  score=5, max_score=5)
        serial = cert.serial
    status, body, headers = _get(server_module, f"serial={serial}")
    assert status == 200 and 'data-status="genuine"' in body
    assert "<img" not in body and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;" in body
    assert certificates.display_serial(serial) in body and holder.username not in body
    assert "http" not in re.sub(r'action="/verify"', "", body.split("</style>", 1)[1])   # nothing fetched
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store" and headers["referrer-policy"] == "no-referrer"

    status, body, _ = _get(server_module, "serial=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert status == 200 and 'data-status="unknown"' in body and "<script>" not in body
    assert 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in body
    _, english, _ = _get(server_module, f"serial={serial}", lang="en-GB,en")
    assert "Genuine certificate" in english


def test_the_verify_route_limits_each_client(server_module):
    asked = certificates.new_serial()
    for _ in range(server_module.VERIFY_LIMIT):
        assert _get(server_module, f"serial={asked}")[0] == 200
    status, body, headers = _get(server_module, f"serial={asked}")
    assert status == 429 and 'data-status="limited"' in body and headers["retry-after"] == "60"
    assert _get(server_module, f"serial={asked}", client="10.0.0.2")[0] == 200      # another client is not held up
    assert _get(server_module, "")[0] == 200                                        # the empty form is not counted
    # the window slides: once a minute has passed, the client may ask again
    hits = server_module._verify_hits["10.0.0.1"]
    for i in range(len(hits)):
        hits[i] -= server_module.VERIFY_WINDOW_S + 1
    assert _get(server_module, f"serial={asked}")[0] == 200



def _fragments(data: bytes) -> list[tuple[float, float, str]]:
    """(baseline y in pt from the bottom, type size, text) of every text fragment on the page."""
    out = []
    PdfReader(io.BytesIO(data)).pages[0].extract_text(
        visitor_text=lambda text, cm, tm, font, size: out.append((tm[5], size, text.strip())) if text.strip() else None)
    return out


@pytest.mark.parametrize("longest", [False, True])
def test_the_fields_never_run_into_the_footer(longest):
    """The longest name, unit and title the model allows wrap and shrink to stay above the issuer line;
    ordinary ones are set at the full size."""
    from datetime import UTC, datetime
    name, unit, title = ("欧阳" * 32, "海勃湾区千里山镇人民政府" * 10 + "办公室信息中", ("信息化能力提升专项考试" * 20)[:200]) \
        if longest else ("王芳", "海勃湾区", "网络安全知识考试")
    cert = certificates.CertificatePublic(id=1, serial=certificates.new_serial(), holder_name=name, unit_name=unit,
                                          title=title, score=87.5, max_score=100,
                                          issued_at=datetime(2026, 11, 30, 18, 5, tzinfo=UTC), revoked_at=None)
    parts = _fragments(certificates.render_pdf(cert))
    statement = next(y for y, _, text in parts if text.startswith("经考核"))
    issuer_y, issuer_size = next((y, size) for y, size, text in parts if text == certificates.ISSUER)
    assert statement - issuer_y > issuer_size * 1.3            # a clear gap above the issuer's line
    assert any(text == "2026年12月1日" for _, _, text in parts)    # 18:05 UTC is the next day in the city
    value_sizes = {size for _, size, text in parts if text.startswith(name[:2])}
    assert value_sizes and (max(value_sizes) < 15 if longest else value_sizes == {15})


def test_a_regrade_that_fails_the_attempt_withdraws_its_certificate(session, make_user):
    learner = make_user("learner")
    attempt_id = _attempt(session, learner.id)
    cert = certificates.issue_for_attempt(session, attempt_id)
    assert certificates.withdraw_for_attempt(session, attempt_id) is None          # still passed: kept
    assert certificates.verify(session, cert.serial).status == "genuine"
    attempt = session.get(Attempt, attempt_id)
    attempt.passed, attempt.score = False, 3.0
    session.add(attempt)
    session.flush()
    assert certificates.withdraw_for_attempt(session, attempt_id).id == cert.id
    assert certificates.withdraw_for_attempt(session, attempt_id) is None          # once
    row = session.get(Certificate, cert.id)
    assert row.revoked_by is None and row.revoke_reason == "重新评分后未通过"
    assert certificates.verify(session, cert.serial).status == "revoked"
    logged = session.exec(select(AuditLog).where(AuditLog.action == "certificate.revoke")).all()
    assert [a.detail["attempt_id"] for a in logged if a.detail.get("serial") == cert.serial] == [attempt_id]
    assert certificates.issue_for_attempt(session, attempt_id) is None             # no new one for a failed attempt
    assert _count(session, attempt_id=attempt_id) == 1
