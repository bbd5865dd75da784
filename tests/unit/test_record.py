"""A person's training record (培训档案): what the PDF and the workbook hold, Chinese text really in the
PDF (extractable, so the CJK font is embedded), user text never a formula, and who may download it."""
import io

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlmodel import select

from models import Attempt, Course, Lesson, LessonProgress
from models.db import local_year, utcnow
from services import certificates, ledger, offline, record
from services.errors import PermissionDenied

FORMULA_CLASS = '=HYPERLINK("http://x","党校班")'


@pytest.fixture
def person(session, make_user, tree):
    """A learner of the village with a lesson credited, a quiz bonus, an offline class whose name looks
    like a formula, an exam attempt, a certificate and an adjustment."""
    learner = make_user("learner", unit="village")
    hr = make_user(("hr", "district"), unit="district")
    others = {"admin": make_user("admin"), "outsiders": (
        make_user("learner", unit="village"), make_user(("hr", "district2"), unit="district2"),
        make_user(("trainer", "city")))}          # made before this session writes (SQLite: one writer)
    course = session.exec(select(Course).where(Course.required, Course.active).order_by(Course.position)).first()
    lesson = session.exec(select(Lesson).where(Lesson.course_id == course.id).order_by(Lesson.position)).first()
    now = utcnow()
    session.add(LessonProgress(user_id=learner.id, course_id=course.id, lesson_id=lesson.id, seconds_spent=1800,
                               completed_at=now))
    ledger.credit(session, user_id=learner.id, hours=1, source_type="lesson", source_id=lesson.id, course_id=course.id,
                  reason=f"学完课件《{lesson.title}》")
    ledger.credit(session, user_id=learner.id, hours=0.5, source_type="quiz", source_id=course.id, course_id=course.id,
                  reason="通过课程测验")
    ledger.credit(session, user_id=learner.id, hours=2, source_type="adjustment", source_id=f"adj-{learner.id}",
                  reason="补录")
    cls = offline.create_class(session, hr, class_in=offline.ClassIn(
        name=FORMULA_CLASS, organiser="区委党校", start_date=offline.today(), end_date=offline.today(), hours=8,
        unit_id=tree["district"]))
    offline.add_attendees(session, hr, class_id=cls.id, user_ids=[learner.id])
    session.add(Attempt(user_id=learner.id, kind="exam", course_id=course.id, status="submitted", submitted_at=now,
                        score=86, max_score=100, passed=True))
    certificates.issue(session, user_id=learner.id, attempt_id=None, title="信息安全考试", score=86, max_score=100)
    session.flush()
    return {"learner": learner, "hr": hr, "course": course, "lesson": lesson, "class": cls} | others


def test_record_content_by_source(session, person):
    rec = record.training_record(session, person["learner"], user_id=person["learner"].id)
    assert rec.year == local_year() and rec.unit == "测试区 / 测试镇 / 测试村"
    assert rec.hours == {"online": 1.5, "offline": 8, "exam": 0, "other": 2, "total": 11.5}
    assert rec.target == 50 and rec.percent(rec.hours["online"]) == 3.0
    course = rec.courses.set_index("course").loc[person["course"].title]
    assert course["hours"] == 1.5 and course["lessons_done"] == 1 and bool(course["required"])
    assert list(rec.lessons["lesson"]) == [person["lesson"].title] and list(rec.lessons["hours"]) == [1]
    assert list(rec.offline["name"]) == [FORMULA_CLASS] and list(rec.offline["hours"]) == [8]
    assert list(rec.exams["exam"]) == [person["course"].title] and bool(rec.exams["passed"][0])
    assert list(rec.certificates["title"]) == ["信息安全考试"] and list(rec.certificates["status"]) == ["有效"]
    assert set(rec.ledger["source"]) == {"学完课件", "通过课程测验", "管理员调整", "线下培训"}
    # another year holds none of it
    empty = record.training_record(session, person["learner"], user_id=person["learner"].id, year=local_year() - 1)
    assert empty.hours["total"] == 0 and empty.offline.empty and empty.lessons.empty and empty.certificates.empty


def test_pdf_holds_the_record_in_chinese(session, person):
    data = record.record_pdf(session, person["learner"], user_id=person["learner"].id)
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    text = "".join(p.extract_text() for p in reader.pages).replace(" ", "")
    for expected in ("培训档案", "测试用户", "测试区/测试镇/测试村", "线上自学", "线下培训", "合计", "11.5",
                     "区委党校", "党校班", "信息安全考试", person["course"].title.replace(" ", ""), "学时明细"):
        assert expected in text, expected
    fonts = {str(f.get("/BaseFont")) for p in reader.pages for f in p["/Resources"]["/Font"].values()
             for f in [f.get_object()]}
    assert any("Noto" in f for f in fonts), fonts


def test_xlsx_one_sheet_per_table_the_person_first_no_formulas(session, person):
    learner = person["learner"]
    wb = load_workbook(io.BytesIO(record.record_xlsx(session, learner, user_id=learner.id)))
    assert wb.sheetnames == ["人员与年度", "学时汇总", "课程", "课件", "线下培训", "考试", "证书", "学时明细"]
    info = {r[0]: r[1] for r in wb["人员与年度"].iter_rows(min_row=3, values_only=True) if r[0]}
    assert info["姓名"] == "测试用户" and info["用户名"] == learner.username and info["年度"] == f"{local_year()} 年"
    summary = {r[0]: r[1:] for r in wb["学时汇总"].iter_rows(min_row=5, values_only=True) if r[0]}
    assert summary["线上自学"] == (1.5, "3%") and summary["线下培训"][0] == 8 and summary["合计"] == (11.5, "23%")
    classes = list(wb["线下培训"].iter_rows(min_row=4, values_only=True))
    assert classes[0][0] == FORMULA_CLASS and classes[0][4] == 8
    cell = wb["线下培训"]["A4"]
    assert cell.data_type == "s" and cell.quotePrefix
    assert all(c.data_type != "f" for ws in wb for row in ws.iter_rows() for c in row)
    assert wb["学时明细"].auto_filter.ref


def test_who_may_read_a_record(session, person):
    learner = person["learner"]
    assert record.record_xlsx(session, person["hr"], user_id=learner.id)           # HR of the district
    assert record.record_xlsx(session, person["admin"], user_id=learner.id)
    for outsider in person["outsiders"]:
        for build in (record.record_pdf, record.record_xlsx):
            with pytest.raises(PermissionDenied):
                build(session, outsider, user_id=learner.id)
