"""Certificates for passed exams, and their public verification.

- `issue_for_attempt(session, attempt_id)`: the exam engine calls it whenever an attempt becomes final
  and passed (at submission, at the deadline sweep, when the last essay is graded). Idempotent: one
  certificate per attempt (a unique attempt_id; a concurrent second call finds the first one's row).
  Nothing is issued for an open, pending or failed attempt, nor for an exam whose `certificate` flag
  is off. `issue(...)` is the same without an attempt row to read (tests, imports of old records).
- `verify(session, serial)`: what the public /verify page shows. Only what the certificate itself
  shows (holder name, unit, title, score, date, serial) and whether it was revoked; an unknown or
  malformed serial gets the same shape with status "unknown".
- `withdraw_for_attempt(session, attempt_id)`: after a regrade that leaves the attempt not passed, the
  system revokes its certificate (audited).
- `revoke` (admins, audited), `search` (admins), `my_certificates`, `pdf` (the holder or an admin).

Serials: 16 characters of RFC 4648 base32 (A-Z, 2-7) from 80 random bits — unguessable, so the
public page cannot be used to list certificates. Shown in groups of four (ABCD-EFGH-...); input is
accepted with or without the dashes and spaces, in any case, with 0/1/8 read as O/I/B.

Units of work: these functions flush, never commit; the caller commits.
"""
from __future__ import annotations

import base64
import re
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, or_, select

import models.db as clock
from config import get_settings
from models import Attempt, Certificate, Course, OrgUnit, User
from models.certificate import SERIAL_LENGTH
from models.db import LOCAL_TZ
from models.learning import ATTEMPT_DONE
from services import audit
from services.errors import NotFound, PermissionDenied, ValidationFailed
from services.permissions import Actor, require_admin
from services.text import clean_text

_SERIAL = re.compile(rf"^[A-Z2-7]{{{SERIAL_LENGTH}}}$")
_LOOKALIKES = str.maketrans("018", "OIB")     # base32 has no 0, 1 or 8: someone typing from paper meant these
GENUINE, REVOKED, UNKNOWN = "genuine", "revoked", "unknown"
REASON_MAX = 400        # Certificate.revoke_reason


# ---- serials ------------------------------------------------------------------------------------

def new_serial() -> str:
    """16 base32 characters from 80 random bits (no padding: 80 bits are exactly 16 characters)."""
    return base64.b32encode(secrets.token_bytes(SERIAL_LENGTH * 5 // 8)).decode("ascii")


def normalise_serial(value: str | None) -> str | None:
    """The stored spelling of a serial as someone may type or scan it, or None if it cannot be one."""
    if not value or len(value) > 64:
        return None
    text = re.sub(r"[\s\-]", "", value).upper().translate(_LOOKALIKES)
    return text if _SERIAL.match(text) else None


def display_serial(serial: str) -> str:
    return "-".join(serial[i:i + 4] for i in range(0, len(serial), 4))


def verify_url(serial: str) -> str:
    """The public page a certificate's QR code points at (settings.public_base_url)."""
    return f"{get_settings().public_base_url.rstrip('/')}/verify?serial={serial}"


# ---- read models --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CertificatePublic:
    """What a certificate shows: for its holder, an admin and (see PublicVerification) anyone."""
    id: int
    serial: str
    holder_name: str
    unit_name: str | None
    title: str
    score: float
    max_score: float
    issued_at: datetime
    revoked_at: datetime | None

    @property
    def status(self) -> str:
        return REVOKED if self.revoked_at else GENUINE


@dataclass(frozen=True)
class CertificateAdmin(CertificatePublic):
    """An admin's row: the certificate plus who holds it and why it was revoked."""
    user_id: int = 0
    username: str = ""
    attempt_id: int | None = None
    revoke_reason: str | None = None


@dataclass(frozen=True)
class PublicVerification:
    """The answer of the public page: the same fields whatever the serial; for "unknown" all None.
    Nothing about the person beyond what is printed on the certificate (no user id, no username,
    no revocation reason)."""
    status: str                      # genuine | revoked | unknown
    serial: str | None = None
    holder_name: str | None = None
    unit_name: str | None = None
    title: str | None = None
    score: float | None = None
    max_score: float | None = None
    issued_at: datetime | None = None
    revoked_at: datetime | None = None


def _public(c: Certificate) -> CertificatePublic:
    return CertificatePublic(id=c.id, serial=c.serial, holder_name=c.holder_name, unit_name=c.unit_name,
                             title=c.title, score=c.score, max_score=c.max_score, issued_at=c.issued_at,
                             revoked_at=c.revoked_at)


# ---- issuing ------------------------------------------------------------------------------------

def issue(session: Session, *, user_id: int, attempt_id: int | None, title: str, score: float,
          max_score: float) -> Certificate:
    """Issue a certificate to `user_id` (their name and unit as of now). With an attempt_id, the one
    certificate of that attempt: a second call returns the first certificate unchanged."""
    if attempt_id is not None:
        existing = session.exec(select(Certificate).where(Certificate.attempt_id == attempt_id)).first()
        if existing is not None:
            return existing
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("error.not_found")
    unit = session.get(OrgUnit, user.unit_id) if user.unit_id else None
    title = (title or "").strip()[:200]
    cert = Certificate(serial=new_serial(), attempt_id=attempt_id, user_id=user_id, holder_name=user.name[:64],
                       unit_name=unit.name[:128] if unit else None, title=title, score=float(score),
                       max_score=float(max_score), issued_at=clock.utcnow())
    try:
        with session.begin_nested():          # a concurrent issue for the same attempt wins the unique index
            session.add(cert)
            session.flush()
    except IntegrityError:
        if attempt_id is None:
            raise
        existing = session.exec(select(Certificate).where(Certificate.attempt_id == attempt_id)).first()
        if existing is None:
            raise
        return existing
    audit.record(session, None, "certificate.issue", serial=cert.serial, user_id=user_id, attempt_id=attempt_id,
                 title=title)
    return cert


def _attempt_title(session: Session, attempt: Attempt) -> tuple[str | None, bool]:
    """(title, certificate wanted?) from what the attempt belongs to: its exam if it has one (and
    that exam's `certificate` flag), else its course."""
    exam_id = getattr(attempt, "exam_id", None)
    if exam_id is not None:
        from models import Exam
        exam = session.get(Exam, exam_id)
        if exam is None:
            return None, False
        return exam.title, bool(getattr(exam, "certificate", True))
    if attempt.course_id:
        course = session.get(Course, attempt.course_id)
        return (course.title if course else None), course is not None
    return None, False


def issue_for_attempt(session: Session, attempt_id: int) -> Certificate | None:
    """The certificate of a final, passed attempt (issued now, or the one issued before); None when
    the attempt is not final and passed, or its exam gives no certificate."""
    attempt = session.get(Attempt, attempt_id)
    if attempt is None or attempt.status != ATTEMPT_DONE or attempt.passed is not True or attempt.score is None:
        return None
    title, wanted = _attempt_title(session, attempt)
    if not wanted or not title:
        return None
    return issue(session, user_id=attempt.user_id, attempt_id=attempt.id, title=title, score=attempt.score,
                 max_score=attempt.max_score)


def withdraw_for_attempt(session: Session, attempt_id: int, *, reason: str = "重新评分后未通过") -> Certificate | None:
    """For the exam engine after a regrade: when the attempt is no longer final and passed, its
    certificate (if any, and not revoked yet) is revoked by the system (audited, no user). Returns the
    certificate it revoked, else None."""
    attempt = session.get(Attempt, attempt_id)
    if attempt is not None and attempt.status == ATTEMPT_DONE and attempt.passed is True:
        return None
    cert = session.exec(select(Certificate).where(Certificate.attempt_id == attempt_id)).first()
    if cert is None or cert.revoked_at is not None:
        return None
    cert.revoked_at, cert.revoked_by, cert.revoke_reason = clock.utcnow(), None, reason[:REASON_MAX]
    session.add(cert)
    session.flush()
    audit.record(session, None, "certificate.revoke", serial=cert.serial, user_id=cert.user_id, reason=cert.revoke_reason,
                 attempt_id=attempt_id)
    return cert


# ---- public verification ------------------------------------------------------------------------

def verify(session: Session, serial: str | None) -> PublicVerification:
    """Anyone, signed in or not: is this serial a certificate we issued, and was it revoked?"""
    key = normalise_serial(serial)
    cert = session.exec(select(Certificate).where(Certificate.serial == key)).first() if key else None
    if cert is None:
        return PublicVerification(status=UNKNOWN)
    return PublicVerification(status=REVOKED if cert.revoked_at else GENUINE, serial=cert.serial,
                              holder_name=cert.holder_name, unit_name=cert.unit_name, title=cert.title,
                              score=cert.score, max_score=cert.max_score, issued_at=cert.issued_at,
                              revoked_at=cert.revoked_at)


# ---- holders and admins -------------------------------------------------------------------------

def my_certificates(session: Session, actor: Actor) -> list[CertificatePublic]:
    """The actor's own certificates, newest first (revoked ones too, marked)."""
    if actor.id is None:
        raise PermissionDenied(roles="learner")
    rows = session.exec(select(Certificate).where(Certificate.user_id == actor.id)
                        .order_by(col(Certificate.issued_at).desc(), col(Certificate.id).desc())).all()
    return [_public(c) for c in rows]


def search(session: Session, actor: Actor, *, text: str = "", limit: int = 100) -> list[CertificateAdmin]:
    """Admins: certificates whose serial is `text` or whose holder name or username contains it, newest first."""
    require_admin(actor)
    text = (clean_text(text, field="search", max_length=64) or "").strip()
    q = select(Certificate, User.username).join(User, User.id == Certificate.user_id)
    if text:
        serial = normalise_serial(text)
        like = f"%{text.replace('%', '').replace('_', '')}%"
        conditions = [col(Certificate.holder_name).like(like), col(User.username).like(like)]
        if serial:
            conditions.append(Certificate.serial == serial)
        q = q.where(or_(*conditions))
    rows = session.exec(q.order_by(col(Certificate.issued_at).desc(), col(Certificate.id).desc()).limit(limit)).all()
    return [CertificateAdmin(**_public(c).__dict__, user_id=c.user_id, username=username, attempt_id=c.attempt_id,
                             revoke_reason=c.revoke_reason) for c, username in rows]


def revoke(session: Session, actor: Actor, *, serial: str, reason: str) -> CertificatePublic:
    """Admins: mark a certificate revoked, with a reason (audited). The public page says so from now on."""
    require_admin(actor)
    reason = (clean_text(reason, field="reason", multiline=True, max_length=REASON_MAX) or "").strip()
    if not reason:
        raise ValidationFailed("error.certificate_reason_required")
    key = normalise_serial(serial)
    cert = session.exec(select(Certificate).where(Certificate.serial == key)).first() if key else None
    if cert is None:
        raise NotFound("error.certificate_not_found")
    if cert.revoked_at is not None:
        raise ValidationFailed("error.certificate_already_revoked")
    cert.revoked_at, cert.revoked_by, cert.revoke_reason = clock.utcnow(), actor.id, reason
    session.add(cert)
    session.flush()
    audit.record(session, actor.id, "certificate.revoke", serial=cert.serial, user_id=cert.user_id, reason=reason)
    return _public(cert)


def _readable(session: Session, actor: Actor, cert_id: int) -> Certificate:
    cert = session.get(Certificate, cert_id)
    if cert is None:
        raise NotFound("error.certificate_not_found")
    if cert.user_id != actor.id and not actor.has("admin"):
        raise PermissionDenied("error.permission_denied")
    return cert


def pdf(session: Session, actor: Actor, *, cert_id: int) -> bytes:
    """The certificate as a PDF (the holder or an admin)."""
    return render_pdf(_public(_readable(session, actor, cert_id)))


def pdf_file_name(cert: CertificatePublic) -> str:
    safe = re.sub(r'[\\/:*?"<>|\s]+', "_", cert.title)[:60]
    return f"证书-{safe}-{cert.serial}.pdf"


# ---- the PDF ------------------------------------------------------------------------------------
# Font: Noto Sans SC (SIL OFL 1.1), shipped inside the PyPI package justmytype-intl-cjk (requirements.txt),
# so `pip install -r requirements.txt` brings it and nothing is fetched at run time. It is a variable
# font whose default instance is Thin; instancing the whole font takes ~30 s, so each PDF subsets it
# to the characters it prints first and instances that (well under a second).

FONT_PACKAGE = "justmytype_intl_cjk"
FONT_FILE = "fonts/ofl/notosanssc/NotoSansSC[wght].ttf"


@cache
def font_path() -> Path:
    try:
        path = Path(str(resources.files(FONT_PACKAGE) / FONT_FILE))
    except ModuleNotFoundError as exc:
        raise RuntimeError("the certificate font is missing: pip install -r requirements.txt") from exc
    if not path.is_file():
        raise RuntimeError(f"the certificate font is missing: {path}")
    return path


def _fonts_for(text: str, weights: tuple[int, ...], folder: Path) -> list[Path]:
    """Static fonts (one per weight) holding just the glyphs of `text`, written into `folder`."""
    from fontTools import subset
    from fontTools.ttLib import TTFont
    from fontTools.varLib import instancer
    font = TTFont(str(font_path()), lazy=True)
    options = subset.Options()
    options.layout_features = []          # fpdf2 does not shape text here; keeps subsetting fast
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.hinting = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    paths = []
    for weight in weights:
        out = folder / f"noto-sc-{weight}.ttf"
        instancer.instantiateVariableFont(font, {"wght": weight}, inplace=False).save(str(out))
        paths.append(out)
    return paths


def _date(value: datetime) -> str:
    local = value.astimezone(LOCAL_TZ)
    return f"{local.year}年{local.month}月{local.day}日"


def score_text(value: float) -> str:
    return f"{value:g}" if float(value).is_integer() else f"{value:.1f}"


def _fit_fields(pdf, values: list[str], width: float, room: float) -> tuple[float, float, list[float], float]:
    """(type size in pt, line height in mm, each value's height, gap) for the largest size from 15 pt
    down to 8 pt at which the wrapped values fit in `room` mm (8 pt always fits the model's limits)."""
    for size in (15, 14, 13, 12, 11, 10, 9, 8):
        line_h = size * 0.6
        gap = 3.5 if size >= 13 else 1.5
        pdf.set_font("noto", "B", size)
        heights = [max(line_h, pdf.multi_cell(width, line_h, v, dry_run=True, output="HEIGHT")) for v in values]
        if sum(heights) + gap * len(values) <= room:
            break
    return size, line_h, heights, gap


ISSUER = "信息化学堂"
HEADING = "合格证书"


def render_pdf(cert: CertificatePublic) -> bytes:
    """A4 landscape: heading, the statement, name / unit / exam / score / date, serial and a QR code to
    the public verification page. A revoked certificate is printed with a 已撤销 stamp."""
    import segno
    from fpdf import FPDF

    url = verify_url(cert.serial)
    lines = [("姓　　名", cert.holder_name), ("单　　位", cert.unit_name or "—"), ("考试名称", cert.title),
             ("考试成绩", f"{score_text(cert.score)} 分（满分 {score_text(cert.max_score)} 分）"),
             ("颁发日期", _date(cert.issued_at))]
    statement = "经考核，成绩合格，特发此证。"
    small = [f"证书编号：{display_serial(cert.serial)}", "扫描二维码或访问以下网址验证真伪：", url]
    text = "".join([HEADING, ISSUER, statement, "已撤销", *(a + b for a, b in lines), *small, "0123456789-"])

    with tempfile.TemporaryDirectory(prefix="isa-cert-") as tmp:
        regular, bold = _fonts_for(text, (400, 700), Path(tmp))
        pdf = FPDF(orientation="L", unit="mm", format="A4")
        pdf.set_auto_page_break(False)
        pdf.set_margins(0, 0, 0)
        pdf.add_font("noto", "", str(regular))
        pdf.add_font("noto", "B", str(bold))
        pdf.set_title(f"{HEADING} {display_serial(cert.serial)}")
        pdf.set_author(ISSUER)
        pdf.set_creator(ISSUER)
        pdf.add_page()
        w, h = pdf.w, pdf.h                               # 297 × 210 mm

        # frame: an outer and an inner border in a deep red
        pdf.set_draw_color(150, 30, 30)
        pdf.set_line_width(1.6)
        pdf.rect(10, 10, w - 20, h - 20)
        pdf.set_line_width(0.4)
        pdf.rect(14, 14, w - 28, h - 28)

        # heading
        pdf.set_text_color(150, 30, 30)
        pdf.set_font("noto", "B", 36)
        pdf.set_xy(20, 28)
        pdf.cell(w - 40, 16, HEADING, align="C")
        pdf.set_text_color(30, 30, 30)

        # the fields: label column and value column; long values wrap inside their column, and the
        # largest type size whose block fits between the heading and the footer is used
        label_x, value_x, right = 48, 82, w - 48
        top, bottom = 58, 144                                  # the footer (issuer, QR code) starts below
        size, line_h, heights, gap = _fit_fields(pdf, [v for _, v in lines], right - value_x, bottom - top - 11)
        y = top
        for (label, value), height in zip(lines, heights, strict=True):
            pdf.set_font("noto", "", min(14, size))
            pdf.set_xy(label_x, y)
            pdf.cell(value_x - label_x, line_h, label + "：")
            pdf.set_font("noto", "B", size)
            pdf.set_xy(value_x, y)
            pdf.multi_cell(right - value_x, line_h, value, align="L", new_x="LMARGIN", new_y="NEXT")
            y += height + gap
        pdf.set_font("noto", "", min(14, size))
        pdf.set_xy(label_x, y + 2)
        pdf.cell(right - label_x, 9, statement)

        # bottom: serial and link on the left, the QR code on the right, issuer and date above it
        qr_size, qr_x, qr_y = 32, w - 24 - 32, h - 24 - 32
        pdf.set_font("noto", "B", 14)
        pdf.set_xy(qr_x - 80, qr_y - 4)
        pdf.cell(72, 8, ISSUER, align="R")
        pdf.set_font("noto", "", 11)
        pdf.set_xy(qr_x - 80, qr_y + 4)
        pdf.cell(72, 7, _date(cert.issued_at), align="R")

        pdf.set_text_color(80, 80, 80)
        base_y, small_w = h - 24 - 18, qr_x - 6 - 24            # left of the QR code, below the issuer
        for i, line in enumerate(small):
            pdf.set_font("noto", "", 10)
            while pdf.get_string_width(line) > small_w and pdf.font_size_pt > 6:   # a long public address
                pdf.set_font_size(pdf.font_size_pt - 0.5)
            pdf.set_xy(24, base_y + i * 6)
            pdf.cell(small_w, 6, line)

        qr = segno.make(url, error="m")
        matrix = [list(row) for row in qr.matrix]
        cell = qr_size / len(matrix)
        pdf.set_fill_color(0, 0, 0)
        for r, row in enumerate(matrix):
            for c, dark in enumerate(row):
                if dark:
                    pdf.rect(qr_x + c * cell, qr_y + r * cell, cell + 0.01, cell + 0.01, style="F")

        if cert.revoked_at is not None:
            pdf.set_text_color(200, 0, 0)
            pdf.set_draw_color(200, 0, 0)
            pdf.set_font("noto", "B", 28)
            pdf.set_line_width(1)
            pdf.rect(w - 90, 28, 60, 18)
            pdf.set_xy(w - 90, 28)
            pdf.cell(60, 18, "已撤销", align="C")
        return bytes(pdf.output())
