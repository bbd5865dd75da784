"""A person's training record (培训档案) for one city calendar year: who they are, 学时 by source
against the annual target, courses, lessons, offline classes, exams, certificates and every ledger
row — as a PDF (A4, the certificates' CJK font) and as an Excel workbook (the person and the year on
the first sheet, one sheet per table, through the safe writer).

Who may read it: the person themself, HR whose scope covers the person's unit, and admins.

学时 by source (the ledger's source_type, grouped):
- online self-study (线上自学): lesson, quiz, course (before 0002) and practice rows;
- offline training (线下培训): rows of source "offline" (services.offline), net of corrections;
- exams (考试): rows of source "exam";
- other (其他): admin adjustments and imported hours.
The annual target is compared with online self-study alone and with all sources together.

The documents are in Chinese (an official record, like the certificate), whatever the UI language.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd
from sqlmodel import Session, col, func, select

from models import (Attempt, Certificate, Course, CourseCompletion, Exam, LedgerEntry, Lesson, LessonProgress, OrgUnit,
                    User)
from models.db import LOCAL_TZ, local_year, utcnow
from models.offline import OfflineAttendance, OfflineClass
from services import spreadsheets
from services.errors import NotFound, PermissionDenied

ONLINE_SOURCES = ("lesson", "quiz", "course", "practice")
GROUPS = ("online", "offline", "exam", "other")
GROUP_LABELS = {"online": "线上自学", "offline": "线下培训", "exam": "考试", "other": "其他（调整、导入）"}
SOURCE_LABELS = {"lesson": "学完课件", "quiz": "通过课程测验", "course": "完成课程", "practice": "练习",
                 "offline": "线下培训", "exam": "考试", "adjustment": "管理员调整", "import": "导入"}
TITLE = "培训档案"
ISSUER = "信息化学堂"


def source_group(source_type: str) -> str:
    if source_type in ONLINE_SOURCES:
        return "online"
    if source_type in ("offline", "exam"):
        return source_type
    return "other"


@dataclass
class TrainingRecord:
    """One person's year. DataFrames (columns in order):
    courses:      course, required (bool), lessons_done, lessons_total, hours, completed_at (None = not done)
    lessons:      course, lesson, completed_at, hours
    offline:      name, organiser, start_date, end_date, hours
    exams:        exam, submitted_at, score, max_score, passed
    certificates: title, serial, issued_at, status ("有效" | "已撤销")
    ledger:       created_at, hours, source (Chinese label), reason"""
    user_id: int
    username: str
    name: str
    employee_no: str | None
    unit: str                  # the unit's path of names, "海勃湾区 / 新华街道"
    year: int
    target: float
    hours: dict[str, float]    # online, offline, exam, other, total
    courses: pd.DataFrame
    lessons: pd.DataFrame
    offline: pd.DataFrame
    exams: pd.DataFrame
    certificates: pd.DataFrame
    ledger: pd.DataFrame
    generated_at: datetime = field(default_factory=utcnow)

    def percent(self, hours: float) -> float:
        return min(100.0, 100 * hours / self.target) if self.target else 100.0


def _unit_label(session: Session, unit: OrgUnit | None) -> str:
    if unit is None:
        return "—"
    ids = [int(x) for x in unit.path.strip("/").split("/") if x]
    names = dict(session.exec(select(OrgUnit.id, OrgUnit.name).where(col(OrgUnit.id).in_(ids))).all())
    below_top = [names[i] for i in ids[1:] if i in names]   # the city is everyone's: name what is below it
    return " / ".join(below_top) or unit.name


def _readable(session: Session, actor, user_id: int) -> tuple[User, OrgUnit | None]:
    """The person, if the actor may read their record: themself, HR covering their unit, admins."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(what="user", id=user_id)
    unit = session.get(OrgUnit, user.unit_id) if user.unit_id else None
    if actor.id is not None and actor.id == user.id:
        return user, unit
    if actor.has("admin"):
        return user, unit
    if actor.has("hr") and unit is not None and actor.covers("hr", unit.path):
        return user, unit
    raise PermissionDenied("error.out_of_scope")


def training_record(session: Session, actor, *, user_id: int, year: int | None = None) -> TrainingRecord:
    """The record's content (read only)."""
    from services.settings import target_for_unit
    user, unit = _readable(session, actor, user_id)
    year = year or local_year()
    start, end = datetime(year, 1, 1, tzinfo=LOCAL_TZ), datetime(year + 1, 1, 1, tzinfo=LOCAL_TZ)

    rows = session.exec(select(LedgerEntry.created_at, LedgerEntry.hours, LedgerEntry.source_type, LedgerEntry.source_id,
                               LedgerEntry.reason)
                        .where(LedgerEntry.user_id == user_id, LedgerEntry.year == year)
                        .order_by(LedgerEntry.created_at, LedgerEntry.id)).all()
    hours = dict.fromkeys(GROUPS, 0.0)
    lesson_hours: dict[str, float] = {}
    for _, h, source, source_id, _ in rows:
        hours[source_group(source)] += h
        if source == "lesson":
            lesson_hours[source_id] = lesson_hours.get(source_id, 0.0) + h
    hours = {k: round(v, 2) for k, v in hours.items()}
    hours["total"] = round(sum(hours[g] for g in GROUPS), 2)
    ledger = pd.DataFrame([(c, h, SOURCE_LABELS.get(s, s), r) for c, h, s, _, r in rows],
                          columns=["created_at", "hours", "source", "reason"])

    per_course = dict(session.exec(select(LedgerEntry.course_id, func.sum(LedgerEntry.hours))
                                   .where(LedgerEntry.user_id == user_id, LedgerEntry.year == year,
                                          col(LedgerEntry.course_id).is_not(None))
                                   .group_by(LedgerEntry.course_id)).all())
    done = dict(session.exec(select(CourseCompletion.course_id, CourseCompletion.completed_at)
                             .where(CourseCompletion.user_id == user_id)).all())
    lessons_done = dict(session.exec(select(LessonProgress.course_id, func.count())
                                     .where(LessonProgress.user_id == user_id,
                                            col(LessonProgress.completed_at).is_not(None))
                                     .group_by(LessonProgress.course_id)).all())
    lessons_total = dict(session.exec(select(Lesson.course_id, func.count()).where(Lesson.active)
                                      .group_by(Lesson.course_id)).all())
    courses = pd.DataFrame([
        (c.title, c.required, int(lessons_done.get(c.id, 0)), int(lessons_total.get(c.id, 0)),
         round(float(per_course.get(c.id) or 0), 2), done.get(c.id))
        for c in session.exec(select(Course).order_by(Course.position, Course.id)).all()
        if (c.required and c.active) or c.id in per_course or (c.id in done and start <= _aware(done[c.id]) < end)],
        columns=["course", "required", "lessons_done", "lessons_total", "hours", "completed_at"])

    lessons = pd.DataFrame([
        (course, lesson, completed, round(lesson_hours.get(lesson_id, 0.0), 2))
        for course, lesson, lesson_id, completed in session.exec(
            select(Course.title, Lesson.title, Lesson.id, LessonProgress.completed_at)
            .join(Lesson, Lesson.id == LessonProgress.lesson_id).join(Course, Course.id == Lesson.course_id)
            .where(LessonProgress.user_id == user_id, col(LessonProgress.completed_at) >= start,
                   col(LessonProgress.completed_at) < end)
            .order_by(LessonProgress.completed_at)).all()],
        columns=["course", "lesson", "completed_at", "hours"])

    offline = pd.DataFrame(session.exec(
        select(OfflineClass.name, OfflineClass.organiser, OfflineClass.start_date, OfflineClass.end_date,
               OfflineClass.hours)
        .join(OfflineAttendance, OfflineAttendance.class_id == OfflineClass.id)
        .where(OfflineAttendance.user_id == user_id, col(OfflineAttendance.removed_at).is_(None),
               OfflineClass.end_date >= date(year, 1, 1), OfflineClass.end_date <= date(year, 12, 31))
        .order_by(OfflineClass.start_date, OfflineClass.id)).all(),
        columns=["name", "organiser", "start_date", "end_date", "hours"])

    exams = pd.DataFrame(session.exec(
        select(func.coalesce(Exam.title, Course.title), Attempt.submitted_at, Attempt.score, Attempt.max_score,
               Attempt.passed)
        .join(Exam, Exam.id == Attempt.exam_id, isouter=True).join(Course, Course.id == Attempt.course_id, isouter=True)
        .where(Attempt.user_id == user_id, Attempt.kind == "exam", Attempt.status == "submitted",
               col(Attempt.submitted_at) >= start, col(Attempt.submitted_at) < end)
        .order_by(Attempt.submitted_at)).all(),
        columns=["exam", "submitted_at", "score", "max_score", "passed"])

    certificates = pd.DataFrame([
        (c.title, c.serial, c.issued_at, "已撤销" if c.revoked_at else "有效")
        for c in session.exec(select(Certificate).where(Certificate.user_id == user_id,
                                                        col(Certificate.issued_at) >= start,
                                                        col(Certificate.issued_at) < end)
                              .order_by(Certificate.issued_at)).all()],
        columns=["title", "serial", "issued_at", "status"])

    return TrainingRecord(user_id=user.id, username=user.username, name=user.name, employee_no=user.employee_no,
                          unit=_unit_label(session, unit), year=year,
                          target=float(target_for_unit(session, user.unit_id)), hours=hours, courses=courses,
                          lessons=lessons, offline=offline, exams=exams, certificates=certificates, ledger=ledger)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=LOCAL_TZ)


# ---- shared shaping -------------------------------------------------------------------------------

def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    return f"{value:g}" if float(value).is_integer() else f"{value:.2f}".rstrip("0")


def _when(value, with_time: bool = False) -> str:
    if value is None or pd.isna(value):     # NaT is a datetime too: a course not done beside a done one
        return "—"
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        value = _aware(value).astimezone(LOCAL_TZ)
        return value.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")
    return value.strftime("%Y-%m-%d")


def _percent_text(rec: TrainingRecord, hours: float) -> str:
    return f"{rec.percent(hours):.0f}%"


def _summary_rows(rec: TrainingRecord) -> list[tuple[str, float, str]]:
    """(what, 学时, against the target) — online and all sources are compared with the target."""
    h = rec.hours
    return [(GROUP_LABELS["online"], h["online"], _percent_text(rec, h["online"])),
            (GROUP_LABELS["offline"], h["offline"], ""),
            (GROUP_LABELS["exam"], h["exam"], ""),
            (GROUP_LABELS["other"], h["other"], ""),
            ("合计", h["total"], _percent_text(rec, h["total"]))]


def _tables(rec: TrainingRecord) -> list[tuple[str, list[tuple[str, float]], list[tuple]]]:
    """(title, [(heading, relative width)], rows of display strings) for every table of the record."""
    yes_no = {True: "必修", False: "选修"}
    return [
        ("课程", [("课程", 5), ("类别", 1.2), ("已学课件", 1.6), ("学时", 1.2), ("完成日期", 2)],
         [(r.course, yes_no[bool(r.required)], f"{r.lessons_done}/{r.lessons_total}", _num(r.hours),
           _when(r.completed_at) if not pd.isna(r.completed_at) else "未完成")
          for r in rec.courses.itertuples()]),
        ("课件", [("课程", 3.5), ("课件", 4.5), ("学完时间", 2.4), ("学时", 1.2)],
         [(r.course, r.lesson, _when(r.completed_at, True), _num(r.hours)) for r in rec.lessons.itertuples()]),
        ("线下培训", [("班次名称", 4.5), ("主办单位", 3), ("日期", 3.4), ("学时", 1.2)],
         [(r.name, r.organiser, _when(r.start_date) if r.start_date == r.end_date
           else f"{_when(r.start_date)} 至 {_when(r.end_date)}", _num(r.hours))
          for r in rec.offline.itertuples()]),
        ("考试", [("考试", 5), ("交卷时间", 2.6), ("成绩", 2), ("结果", 1.2)],
         [(r.exam or "—", _when(r.submitted_at, True), f"{_num(r.score)}/{_num(r.max_score)}",
           "通过" if r.passed else "未通过") for r in rec.exams.itertuples()]),
        ("证书", [("证书", 5), ("编号", 3.2), ("颁发日期", 2), ("状态", 1.2)],
         [(r.title, r.serial, _when(r.issued_at), r.status) for r in rec.certificates.itertuples()]),
        ("学时明细", [("时间", 2.4), ("学时", 1), ("来源", 1.8), ("说明", 6)],
         [(_when(r.created_at, True), _num(r.hours), r.source, r.reason) for r in rec.ledger.itertuples()]),
    ]


def _person_lines(rec: TrainingRecord) -> list[tuple[str, str]]:
    return [("姓名", rec.name), ("用户名", rec.username), ("工号", rec.employee_no or "—"), ("单位", rec.unit),
            ("年度", f"{rec.year} 年"), ("年度目标", f"{_num(rec.target)} 学时")]


def file_name(rec: TrainingRecord, suffix: str) -> str:
    import re
    safe = re.sub(r'[\\/:*?"<>|\s\x00-\x1f]+', "_", rec.name)[:40] or rec.username
    return f"培训档案-{safe}-{rec.year}.{suffix}"


# ---- Excel ----------------------------------------------------------------------------------------

def render_xlsx(rec: TrainingRecord) -> bytes:
    """First sheet: the person and the year (the filters of this export); then one sheet per table.
    User text stays text (the safe writer); numbers and dates are typed cells."""
    title = f"{TITLE} · {rec.name} · {rec.year} 年"
    S, C = spreadsheets.Sheet, spreadsheets.Column
    info = [*_person_lines(rec), ("导出时间", _when(rec.generated_at, True))]
    sheets = [
        S("人员与年度", [C("项目", 14), C("内容", 60)], info, title_rows=[title], freeze_header=False),
        S("学时汇总", [C("来源", 22), C("学时", 10, "0.00"), C("占年度目标", 14)], _summary_rows(rec),
          title_rows=[title, f"年度目标 {_num(rec.target)} 学时；线上自学与合计分别对照目标"]),
        S("课程", [C("课程", 40), C("必修", 8), C("已学课件", 10), C("课件总数", 10), C("学时", 10, "0.00"),
                 C("完成时间", 18, "yyyy-mm-dd hh:mm")],
          [(r.course, "必修" if r.required else "选修", r.lessons_done, r.lessons_total, r.hours, r.completed_at)
           for r in rec.courses.itertuples()], title_rows=[title], auto_filter=True),
        S("课件", [C("课程", 36), C("课件", 40), C("学完时间", 18, "yyyy-mm-dd hh:mm"), C("学时", 10, "0.00")],
          rec.lessons.itertuples(index=False, name=None), title_rows=[title], auto_filter=True),
        S("线下培训", [C("班次名称", 40), C("主办单位", 28), C("开始日期", 12, "yyyy-mm-dd"),
                   C("结束日期", 12, "yyyy-mm-dd"), C("学时", 10, "0.00")],
          rec.offline.itertuples(index=False, name=None), title_rows=[title], auto_filter=True),
        S("考试", [C("考试", 40), C("交卷时间", 18, "yyyy-mm-dd hh:mm"), C("得分", 10, "0.0"), C("满分", 10, "0.0"),
                 C("结果", 10)],
          [(r.exam, r.submitted_at, r.score, r.max_score, "通过" if r.passed else "未通过")
           for r in rec.exams.itertuples()], title_rows=[title], auto_filter=True),
        S("证书", [C("证书", 40), C("编号", 20), C("颁发时间", 18, "yyyy-mm-dd hh:mm"), C("状态", 10)],
          rec.certificates.itertuples(index=False, name=None), title_rows=[title], auto_filter=True),
        S("学时明细", [C("时间", 18, "yyyy-mm-dd hh:mm"), C("学时", 10, "0.00"), C("来源", 14), C("说明", 70)],
          rec.ledger.itertuples(index=False, name=None), title_rows=[title], auto_filter=True),
    ]
    return spreadsheets.workbook_xlsx(*sheets)


def record_xlsx(session: Session, actor, *, user_id: int, year: int | None = None) -> bytes:
    """The record as .xlsx (the person themself, HR within scope, admins)."""
    return render_xlsx(training_record(session, actor, user_id=user_id, year=year))


# ---- PDF ------------------------------------------------------------------------------------------

def render_pdf(rec: TrainingRecord) -> bytes:
    """A4 portrait: heading, the person, 学时 by source against the target, then each table (headings
    repeat on a new page; an empty table says so). The CJK font is the certificates' Noto Sans SC,
    subset to the characters printed."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    from services.certificates import _fonts_for

    tables = _tables(rec)
    summary = _summary_rows(rec)
    person = _person_lines(rec)
    generated = f"{ISSUER} · 生成于 {_when(rec.generated_at, True)}"
    footer = "第 页 共"
    strings = [TITLE, ISSUER, generated, footer, "学时汇总来源占年度目标无记录。（）：/—%",
               *(a + b for a, b in person), *(str(x) for r in summary for x in r)]
    for title, cols, rows in tables:
        strings += [title, *(h for h, _ in cols), *(str(x) for r in rows for x in r)]
    text = "".join(strings) + "0123456789-.:/ "

    class RecordPDF(FPDF):
        def footer(self):
            self.set_y(-12)
            self.set_font("noto", "", 8)
            self.set_text_color(110, 110, 110)
            self.cell(0, 6, generated, align="L")
            self.set_x(self.l_margin)
            self.cell(0, 6, f"第 {self.page_no()} 页 共 {{nb}} 页", align="R")

    with tempfile.TemporaryDirectory(prefix="isa-record-") as tmp:
        regular, bold = _fonts_for(text, (400, 700), Path(tmp))
        pdf = RecordPDF(orientation="P", unit="mm", format="A4")
        pdf.add_font("noto", "", str(regular))
        pdf.add_font("noto", "B", str(bold))
        pdf.set_title(f"{TITLE} {rec.name} {rec.year}")
        pdf.set_author(ISSUER)
        pdf.set_creator(ISSUER)
        pdf.set_margins(15, 15, 15)
        pdf.set_auto_page_break(True, margin=18)
        pdf.alias_nb_pages()
        pdf.add_page()
        width = pdf.w - pdf.l_margin - pdf.r_margin
        head_style = FontFace(emphasis="BOLD", color=(255, 255, 255), fill_color=(31, 95, 168))

        pdf.set_font("noto", "B", 22)
        pdf.set_text_color(31, 95, 168)
        pdf.cell(width, 12, TITLE, align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(30, 30, 30)
        pdf.ln(2)

        pdf.set_font("noto", "", 10)
        with pdf.table(col_widths=(1, 2.6, 1, 2.6), first_row_as_headings=False, line_height=6.5,
                       borders_layout="HORIZONTAL_LINES") as table:
            for i in range(0, len(person), 2):
                row = table.row()
                for label, value in person[i:i + 2]:
                    row.cell(label, style=FontFace(emphasis="BOLD"))
                    row.cell(value)
        pdf.ln(4)

        def section(title: str) -> None:
            if pdf.will_page_break(20):
                pdf.add_page()
            pdf.set_font("noto", "B", 13)
            pdf.set_text_color(31, 95, 168)
            pdf.cell(width, 9, title, new_x="LMARGIN", new_y="NEXT")
            pdf.set_text_color(30, 30, 30)
            pdf.set_font("noto", "", 9)

        section(f"学时汇总（年度目标 {_num(rec.target)} 学时）")
        with pdf.table(col_widths=(3, 1.4, 1.6), headings_style=head_style, line_height=6,
                       text_align=("LEFT", "RIGHT", "RIGHT")) as table:
            row = table.row()
            for h in ("来源", "学时", "占年度目标"):
                row.cell(h)
            for what, h, pct in summary:
                row = table.row()
                style = FontFace(emphasis="BOLD") if what == "合计" else None
                row.cell(what, style=style)
                row.cell(_num(h), style=style)
                row.cell(pct, style=style)
        pdf.ln(3)

        for title, cols, rows in tables:
            section(f"{title}（{len(rows)}）")
            if not rows:
                pdf.set_text_color(110, 110, 110)
                pdf.cell(width, 7, "无记录。", new_x="LMARGIN", new_y="NEXT")
                pdf.set_text_color(30, 30, 30)
                pdf.ln(2)
                continue
            with pdf.table(col_widths=tuple(w for _, w in cols), headings_style=head_style, line_height=5.5,
                           repeat_headings=1) as table:
                row = table.row()
                for h, _ in cols:
                    row.cell(h)
                for values in rows:
                    row = table.row()
                    for v in values:
                        row.cell(str(v))
            pdf.ln(3)
        return bytes(pdf.output())


def record_pdf(session: Session, actor, *, user_id: int, year: int | None = None) -> bytes:
    """The record as a PDF (the person themself, HR within scope, admins)."""
    return render_pdf(training_record(session, actor, user_id=user_id, year=year))
