"""Trainers own the content (issue 7), in Chromium: the Excel template filled with three questions (one
wrong) gives a row error, the fixed file imports, an edited question is what a new quiz shows while an
old attempt keeps the old version; a trainer builds a course with a lesson and a PDF, and a learner
studies it."""
from io import BytesIO

from openpyxl import load_workbook
from playwright.sync_api import expect
from sqlmodel import select

from models import AttemptItem, Lesson, LessonProgress, QuestionVersion
from models.db import session_scope
from services import courses, learning
from services.permissions import load_actor
from tests.e2e.helpers import make_org, make_user, msg, msg_pattern, sign_in, tag

PW = "Staff2026ok"


def _fill_template(path, rows):
    wb = load_workbook(path)
    ws = wb.worksheets[0]
    ws.delete_rows(2, ws.max_row)            # the template's worked example goes
    for r in rows:
        ws.append(r)
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def _pick(tab, label, option):
    """Choose in a Streamlit selectbox (a combobox) outside a form."""
    tab.choose(tab.page.get_by_role("combobox", name=label), option, option)


def test_excel_import_edit_and_versions_in_quizzes(server, tabs, tmp_path):
    db = server["database_url"]
    codes = make_org(db)
    trainer = make_user(db, "trainer", unit=codes["dept"])
    learner = make_user(db, "learner", unit=codes["village"])
    t = tag()
    cid = f"e2e{t}"
    from models import User
    with session_scope(db) as s:      # a small course whose quiz draws one true/false question
        tr = load_actor(s, s.exec(select(User.id).where(User.username == trainer)).one())
        courses.create_course(s, tr, course_id=cid, course_in=courses.CourseIn(f"导入测试课程{t}", "测试"))
        courses.save_lesson(s, tr, course_id=cid, title="唯一的一课", body_md="# 唯一的一课\n\n" + "学习内容。" * 60)
    stem1, stem2 = f"乌海市位于内蒙古自治区（{t}）。", f"乌海市是内蒙古自治区的地级市（{t}）。"
    tab = tabs(server["url"], accept_downloads=True)
    page = tab.page
    sign_in(tab, trainer, PW)
    tab.goto("/question_import")
    expect(tab.heading()).to_have_text(msg("qimport.title"))
    with page.expect_download() as dl:
        page.get_by_role("button", name=msg("qimport.template")).click()
    template = tmp_path / "template.xlsx"
    dl.value.save_as(template)
    rows = [["判断", stem1, "", "", "", "", "", "", "对", "乌海市是内蒙古自治区的地级市。", f"测试/{t}", 1, "", "", 1],
            ["单选", f"乌海市有几个区（{t}）？", "两个", "三个", "四个", "", "", "", "B", "海勃湾区、乌达区、海南区。", f"测试/{t}", 1, "", "", 1],
            ["单选", f"写错答案的题（{t}）", "甲", "乙", "丙", "", "", "", "E", "", f"测试/{t}", 1, "", "", 1]]
    bad = tmp_path / "questions.xlsx"
    bad.write_bytes(_fill_template(template, rows))
    _pick(tab, msg("field.course"), f"导入测试课程{t}")
    upload = page.get_by_test_id("stFileUploaderDropzoneInput")
    tab.act(lambda: upload.set_input_files(str(bad)))
    expect(page.get_by_text(msg_pattern("qimport.has_errors", n=1))).to_be_visible()
    table = page.get_by_test_id("stDataFrame").first
    expect(table).to_contain_text("选项E")                   # the row's reason names the empty option
    expect(page.get_by_role("button", name=msg("qimport.import_all", n=2))).to_be_disabled()
    tab.shot("30-question-import-error")
    rows[2][8] = "A"
    good = tmp_path / "questions-fixed.xlsx"
    good.write_bytes(_fill_template(template, rows))
    tab.act(lambda: upload.set_input_files(str(good)))
    expect(page.get_by_text(msg_pattern("qimport.detected"))).to_be_visible()
    tab.act(lambda: page.get_by_role("button", name=msg("qimport.import_all", n=3)).click())
    expect(page.get_by_text(msg_pattern("qimport.done", created=3))).to_be_visible()
    from models import User
    with session_scope(db) as s:
        tf = s.exec(select(QuestionVersion).where(QuestionVersion.category == f"测试/{t}",
                                                  QuestionVersion.type == "true_false")).one()
        qid = tf.question_id
        tr = load_actor(s, s.exec(select(User.id).where(User.username == trainer)).one())
        courses.set_quiz(s, tr, course_id=cid, title="测验", pass_percent=60, draw=[{"type": "true_false", "count": 1}])

    # the learner sits the quiz once on version 1 (through the services: the browser part comes after the edit)
    with session_scope(db) as s:
        le = load_actor(s, s.exec(select(User.id).where(User.username == learner)).one())
        lesson = s.exec(select(Lesson).where(Lesson.course_id == cid)).one()
        learning.record_study(s, le, lesson_id=lesson.id)
        p = s.exec(select(LessonProgress).where(LessonProgress.user_id == le.id, LessonProgress.lesson_id == lesson.id)).one()
        p.seconds_spent = 3600          # studied for an hour
        s.add(p)
    with session_scope(db) as s:
        learning.complete_lesson(s, le, lesson_id=lesson.id)
        old_attempt = learning.start_quiz(s, le, course_id=cid)
    with session_scope(db) as s:
        learning.submit_quiz(s, le, attempt_id=old_attempt)

    # the trainer corrects the stem: a new version
    tab.goto(f"/question_edit?q={qid}")
    expect(tab.heading()).to_have_text(msg("qedit.title_edit", id=qid, version=1))
    stem = page.get_by_role("textbox", name=msg("qedit.text"))
    stem.fill(stem2)
    tab.act(lambda: stem.blur())
    expect(page.get_by_text(msg("qedit.valid"))).to_be_visible()
    tab.act(lambda: page.get_by_role("button", name=msg("qedit.save")).click())
    expect(page.get_by_text(msg("qedit.saved", id=qid, version=2))).to_be_visible()
    expect(page.get_by_test_id("stCode")).to_contain_text(stem2)
    tab.shot("31-question-edited")

    # a new quiz shows version 2 in the learner's browser; the old attempt keeps version 1
    ltab = tabs(server["url"])
    sign_in(ltab, learner, PW)
    ltab.goto(f"/course?course={cid}")
    lp = ltab.page
    ltab.act(lambda: lp.get_by_role("radio", name=msg("course.quiz")).click())
    ltab.act(lambda: lp.get_by_role("button", name=msg("course.quiz_start")).click())
    expect(lp.get_by_text(stem2)).to_be_visible()
    expect(lp.get_by_text(stem1)).to_have_count(0)
    ltab.shot("32-new-quiz-new-version")
    with session_scope(db) as s:
        old = s.exec(select(QuestionVersion.version).join(AttemptItem).where(AttemptItem.attempt_id == old_attempt)).one()
        assert old == 1


def test_trainer_builds_a_course_with_a_pdf_and_a_learner_studies_it(server, tabs, tmp_path):
    db = server["database_url"]
    codes = make_org(db)
    trainer = make_user(db, "trainer", unit=codes["dept"])
    learner = make_user(db, "learner", unit=codes["village"])
    t = tag()
    cid, title = f"pdf{t}", f"电子证照应用{t}"
    tab = tabs(server["url"])
    page = tab.page
    sign_in(tab, trainer, PW)
    tab.goto("/courses")
    expect(tab.heading()).to_have_text(msg("courses.title"))
    form = page.get_by_test_id("stForm")
    form.get_by_role("textbox", name=msg("courses.new_id")).fill(cid)
    form.get_by_role("textbox", name=msg("courses.col.title")).fill(title)
    form.get_by_role("textbox", name=msg("courses.col.category")).fill("电子政务")
    tab.act(lambda: page.get_by_role("button", name=msg("courses.create")).click())
    expect(tab.heading()).to_have_text(title)
    tab.act(lambda: page.get_by_role("radio", name=msg("courses.tab.lessons")).click())
    page.get_by_role("textbox", name=msg("courses.lesson_title")).fill("电子证照是什么")
    body = page.get_by_role("textbox", name=msg("courses.lesson_body"))
    body.fill("# 电子证照是什么\n\n" + "电子证照与纸质证照具有同等法律效力的情形，应按规定使用。" * 30 + "\n\n## 小结\n\n会用。")
    tab.act(lambda: body.blur())
    tab.act(lambda: page.get_by_role("button", name=msg("courses.lesson_save")).click())
    expect(page.get_by_text(msg("courses.lesson_saved"))).to_be_visible()   # still in the lessons section
    _pick(tab, msg("courses.lesson"), "1. 电子证照是什么")
    pdf = tmp_path / "操作手册.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    tab.act(lambda: page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(pdf)))
    tab.act(lambda: page.get_by_role("button", name=msg("courses.attach_do"), exact=True).click())
    expect(page.get_by_text(msg("courses.attached", name="操作手册.pdf"))).to_be_visible()
    tab.shot("33-course-built")
    with session_scope(db) as s:
        lesson = s.exec(select(Lesson).where(Lesson.course_id == cid)).one()
        assert lesson.minutes >= 1

    ltab = tabs(server["url"], accept_downloads=True)
    sign_in(ltab, learner, PW)
    ltab.goto("/catalogue")
    expect(ltab.page.get_by_text(title)).to_be_visible()
    ltab.goto(f"/course?course={cid}")
    lp = ltab.page
    expect(ltab.heading()).to_have_text(title)
    expect(lp.get_by_text("电子证照与纸质证照具有同等法律效力的情形").first).to_be_visible()
    with lp.expect_download() as dl:
        lp.get_by_role("button", name=msg("course.download_file", name="操作手册.pdf")).click()
    assert dl.value.suggested_filename == "操作手册.pdf"
    ltab.shot("34-learner-studies-course")
    with session_scope(db) as s:
        assert s.exec(select(LessonProgress).where(LessonProgress.lesson_id == lesson.id)).first() is not None
