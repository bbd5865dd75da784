"""The trainer's side of exams in Chromium, on the real server (pages/trainer/exams.py, exam_edit.py,
grading.py, exam_results.py):

- a trainer of 海勃湾区 builds a rule-based exam in the browser (category × type × count), sees at once that
  the bank can satisfy it (and, with one rule too many, why not), saves it and publishes it;
- an essay is graded in the queue per rubric item with a comment, and the attempt becomes final;
- the results export downloads as an .xlsx that openpyxl opens, with no formula cell.
Screenshots: tests/e2e/artifacts/exam-trainer-*.png."""
from __future__ import annotations

import re
from io import BytesIO

from openpyxl import load_workbook
from playwright.sync_api import expect
from sqlmodel import select

from models import Attempt, Exam, OrgUnit, QuestionVersion, User
from models.db import session_scope
from services import attempts, exams, org
from services.grading import correct_response
from services.permissions import load_actor, system_actor
from tests.e2e.helpers import make_org, make_user, msg, msg_pattern, sign_in, tag
from tests.unit.examkit import make_questions

PW = "Staff2026ok"


def hbw(db: str) -> dict:
    """A city of the test's own with its 海勃湾区."""
    codes = make_org(db)
    t = tag().upper()
    with session_scope(db) as s:
        city = s.exec(select(OrgUnit).where(OrgUnit.code == codes["city"])).one()
        district = org.create_unit(s, system_actor(), code=f"HBW{t}", name="海勃湾区", kind="district", parent_id=city.id)
        codes.update(hbw=district.code, hbw_id=district.id)
    return codes


def pick_in_form(page, label: str, option: str) -> None:
    """Choose in a selectbox inside a form (no rerun until the form is submitted)."""
    box = page.get_by_role("combobox", name=label)
    box.click()
    box.press_sequentially(option)
    choice = page.get_by_role("option", name=re.compile(re.escape(option)))
    for _ in range(3):          # the list can close by itself while typing on a busy machine
        try:
            expect(choice.first).to_be_visible(timeout=5_000)
            break
        except AssertionError:
            box.press("ArrowDown")
    choice.first.click()
    expect(box).to_have_count(1)


def add_rule(tab, category_leaf: str, type_label: str, count: int) -> None:
    page = tab.page
    form = page.locator(".st-key-xe_add_rule_form")
    pick_in_form(page, msg("bank.category"), category_leaf)
    pick_in_form(page, msg("bank.type"), type_label)
    n = form.get_by_role("spinbutton", name=msg("texedit.count"))
    n.fill(str(count))
    n.press("Tab")
    tab.act(lambda: form.get_by_role("button", name=msg("texedit.add_rule_do")).click())


def test_a_trainer_builds_a_random_exam_for_haibowan_and_publishes_it(server, tabs):
    db = server["database_url"]
    codes = hbw(db)
    trainer = make_user(db, ("trainer", codes["hbw"]), unit=codes["hbw"], name="海勃湾区培训师")
    with session_scope(db) as s:
        cat, _ = make_questions(8, "true_false", session=s)
        make_questions(4, "single_choice", category=cat, session=s)
    leaf = cat.rsplit("/", 1)[-1]
    title = f"海勃湾区网络安全考试{tag()}"
    tab = tabs(server["url"])
    page = tab.page
    sign_in(tab, trainer, PW)
    tab.goto("/trainer_exams")
    expect(tab.heading()).to_have_text(msg("texams.title"))
    expect(page.get_by_text(msg("texams.none"))).to_be_visible()
    tab.act(lambda: page.get_by_role("button", name=msg("texams.new")).click())
    expect(tab.heading()).to_have_text(msg("texedit.title_new"))
    name = page.get_by_role("textbox", name=msg("texedit.name"))
    name.fill(title)
    tab.act(lambda: name.press("Tab"))
    add_rule(tab, leaf, msg("qtype.true_false"), 6)
    add_rule(tab, leaf, msg("qtype.single_choice"), 5)          # the bank has 4: refused, with the reason
    check = page.locator(".st-key-xe_check")
    expect(check.get_by_text(msg("texedit.paper_bad"))).to_be_visible()
    expect(check).to_contain_text("需要 5 道单选题")
    expect(check).to_contain_text("只有 4 道可用")
    expect(page.get_by_role("button", name=msg("texedit.publish"))).to_be_disabled()
    tab.shot("exam-trainer-1-unsatisfiable")
    tab.act(lambda: page.locator(".st-key-xe_new_rm_1").get_by_role("button").click())
    add_rule(tab, leaf, msg("qtype.single_choice"), 3)
    expect(check.get_by_text(msg_pattern("texedit.paper_ok", questions=9, points="9"))).to_be_visible()
    units = page.locator(".st-key-xe_new_units")
    expect(units).to_contain_text("海勃湾区")                      # the trainer's district by default
    tab.shot("exam-trainer-2-satisfiable")
    tab.act(lambda: page.get_by_role("button", name=msg("texedit.save")).click())
    expect(page.get_by_text(msg("texedit.saved"))).to_be_visible()
    with session_scope(db) as s:
        exam = s.exec(select(Exam).where(Exam.title == title)).one()
        exam_id = exam.id
        assert exam.status == "draft" and exam.audience_units == [codes["hbw_id"]]
        assert sorted((r["type"], r["count"]) for r in exam.rules) == [("single_choice", 3), ("true_false", 6)]
    tab.expect_path("/exam_edit")
    assert f"exam={exam_id}" in page.url
    tab.act(lambda: page.get_by_role("button", name=msg("texedit.publish")).click())
    expect(page.get_by_text(msg_pattern("texedit.confirm_publish", questions=9))).to_be_visible()
    tab.act(lambda: page.get_by_role("button", name=msg("texams.confirm_publish_do")).click())
    expect(page.get_by_text(msg("texedit.published"))).to_be_visible()
    expect(page.get_by_text(msg("texedit.frozen"))).to_be_visible()
    with session_scope(db) as s:
        assert s.get(Exam, exam_id).status == "published"
    tab.shot("exam-trainer-3-published")
    tab.reload()                                                  # the address keeps the exam
    expect(tab.heading()).to_contain_text(title)
    tab.goto("/trainer_exams")
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    box = page.get_by_role("combobox", name=msg("texams.pick"))
    box.click()
    tab.act(lambda: page.get_by_role("option", name=re.compile(re.escape(title))).click())
    actions = page.locator(".st-key-texams_actions")
    expect(actions).to_contain_text(title)
    expect(actions.get_by_role("button", name=msg("texams.close"))).to_be_visible()   # published: it can be closed
    tab.expect_path("/trainer_exams")
    assert f"exam={exam_id}" in page.url
    tab.shot("exam-trainer-6-list")
    tab.expect_no_error()


def test_an_essay_is_graded_in_the_queue_and_the_results_export(server, tabs):
    db = server["database_url"]
    codes = hbw(db)
    trainer = make_user(db, ("trainer", codes["hbw"]), unit=codes["hbw"])
    learner = make_user(db, "learner", unit=codes["hbw"], name="=HYPERLINK(\"x\")")
    with session_scope(db) as s:
        cat, _ = make_questions(1, "essay", points=10, session=s)
        make_questions(2, "true_false", category=cat, session=s)
        exam_id = exams.create_exam(s, system_actor(), exam_in=exams.ExamIn.model_validate({
            "title": f"论述考试{tag()}", "time_limit_minutes": 30, "audience_units": [codes["hbw_id"]],
            "rules": [{"type": "essay", "category": cat, "count": 1}, {"type": "true_false", "category": cat, "count": 2}]}))
        exams.publish_exam(s, system_actor(), exam_id=exam_id)
    with session_scope(db) as s:       # the learner sits it (their side is tested in test_exams_learner.py)
        who = load_actor(s, s.exec(select(User.id).where(User.username == learner)).one())
        attempt_id = exams.start_exam(s, who, exam_id=exam_id)
        for it in attempts.attempt_view(s, who, attempt_id=attempt_id).items:
            data = s.get(QuestionVersion, s.get(attempts.AttemptItem, it.item_id).question_version_id).data
            response = "政务数据要分级分类保护，落实责任。" if data["type"] == "essay" else correct_response(data)
            attempts.save_answer(s, who, item_id=it.item_id, response=response, expected_version=it.version)
        attempts.submit_attempt(s, who, attempt_id=attempt_id)
    tab = tabs(server["url"], accept_downloads=True)
    page = tab.page
    sign_in(tab, trainer, PW)
    tab.goto(f"/grading?exam={exam_id}")
    expect(tab.heading()).to_have_text(msg("tgrading.title"))
    task = page.locator(".st-key-tgrading_task")
    expect(task).to_contain_text("政务数据要分级分类保护")
    expect(page.get_by_test_id("stProgress")).to_contain_text("已评 0 / 1")
    for i, value in enumerate(("5", "3")):
        box = task.get_by_role("spinbutton").nth(i)
        box.fill(value)
        tab.act(lambda b=box: b.press("Enter"))
    comment = task.get_by_role("textbox", name=msg("tgrading.comment"))
    comment.fill("要点基本齐全。")
    tab.act(lambda: comment.press("Tab"))
    expect(task).to_contain_text("折合得分：8 / 10")                 # 5 + 3 of 8 rubric points, on a 10-point item
    tab.shot("exam-trainer-4-grading")
    tab.act(lambda: page.get_by_role("button", name=msg("tgrading.submit")).click())
    expect(page.get_by_text(msg("tgrading.empty"))).to_be_visible()
    with session_scope(db) as s:
        a = s.get(Attempt, attempt_id)
        assert a.status == "submitted" and a.score == 10 and a.passed is True     # 8 + two right true/false
    tab.goto(f"/exam_results?exam={exam_id}")
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    tab.shot("exam-trainer-5-results")
    with page.expect_download() as dl:
        page.get_by_role("button", name=msg("tresults.export")).click()
    assert dl.value.suggested_filename == f"exam-{exam_id}-results.xlsx"
    wb = load_workbook(BytesIO(open(dl.value.path(), "rb").read()))
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    values = {c.value for c in cells}
    assert learner in values and '=HYPERLINK("x")' in values
    tab.expect_no_error()
