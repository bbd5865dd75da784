"""A trainer finds the question that does not work (issue 10, trainers), in Chromium: opens item analysis,
picks the exam, sees the caution (fewer than 30 attempts), the worst question first (a negative D:
the bottom group got it right, the top group did not), its distractors, and follows the link into the
editor, which shows that question."""
import re
from io import BytesIO
from pathlib import Path

from openpyxl import load_workbook
from playwright.sync_api import expect
from sqlmodel import select

from models import OrgUnit
from models.db import session_scope
from services import exams
from services.permissions import system_actor
from tests.e2e.helpers import make_org, make_user, msg, msg_pattern, sign_in, tag
from tests.unit.test_item_report import MARKS, add_questions, sit

PW = "Staff2026ok"


def test_a_trainer_finds_the_worst_question_and_opens_it_in_the_editor(server, tabs):
    db = server["database_url"]
    codes = make_org(db)
    trainer = make_user(db, ("trainer", codes["district"]), unit=codes["district"])
    learners = [make_user(db, "learner", unit=codes["village"]) for _ in MARKS]
    t = tag()
    title = f"题目分析考试{t}"
    from models import User
    with session_scope(db) as s:
        district = s.exec(select(OrgUnit.id).where(OrgUnit.code == codes["district"])).one()
        _, qs = add_questions(s, [("single_choice", 1), ("multiple_choice", 0), ("true_false", 0), ("single_choice", 0)])
        exam_id = exams.create_exam(s, system_actor(), exam_in=exams.ExamIn(
            title=title, question_ids=[q for q, _ in qs], audience_units=[district]))
        exams.publish_exam(s, system_actor(), exam_id=exam_id)
        for username, marks in zip(learners, MARKS):
            uid = s.exec(select(User.id).where(User.username == username)).one()
            items = []
            for (qid, data), m in zip(qs, marks):
                if data["type"] == "single_choice":
                    k = next(i for i, o in enumerate(data["options"]) if o["fraction"] > 0)
                    resp = k if m else (2 if k != 2 else 3)
                elif data["type"] == "multiple_choice":
                    resp = [0, 1] if m else [0, 2]
                else:
                    resp = None if m is None else (data["answer"] if m else not data["answer"])
                items.append((qid, resp, float(m or 0)))
            sit(s, user_id=uid, exam_id=exam_id, items=items)
    worst = qs[3][0]

    tab = tabs(server["url"], accept_downloads=True)
    page = tab.page
    sign_in(tab, trainer, PW)
    tab.act(lambda: tab.sidebar_link(msg("nav.item_analysis")).click())
    expect(tab.heading()).to_have_text(msg("ia.title"))
    # the trainer's newest exam comes first in the picker
    expect(page.get_by_role("combobox", name=msg("ia.source"))).to_have_value(
        msg("ia.source_exam", title=title, n=len(MARKS)))
    tab.expect_path("/item_analysis")
    assert f"exam={exam_id}" in page.url                       # the address names the exam (links, reloads)
    expect(page.get_by_text(msg("ia.caution", n=len(MARKS), min=30))).to_be_visible()
    items = page.get_by_test_id("stDataFrame").first
    expect(items).to_contain_text(worst)
    expect(items).to_contain_text(msg("ia.band.check_key"))
    # the worst question is the one chosen below the table, with its distractors
    box = page.get_by_role("combobox", name=msg("ia.pick_question"))
    expect(box).to_have_value(re.compile(rf"^{re.escape(worst)} · {re.escape(msg('ia.band.check_key'))} · "))
    expect(page.get_by_text(msg_pattern("ia.options_help", high=1, low=1, n=len(MARKS)))).to_be_visible()
    expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(2)        # the scatter and the heat map
    tab.expect_no_error()
    tab.shot("50-item-analysis")
    page.get_by_test_id("stVegaLiteChart").first.scroll_into_view_if_needed()
    tab.shot("51-item-analysis-charts")

    # the item table as Excel, worst first, the stem in full
    with page.expect_download() as dl:
        page.get_by_role("button", name=msg("ia.export_xlsx")).click()
    ws = load_workbook(BytesIO(Path(dl.value.path()).read_bytes())).worksheets[0]
    values = [[c for c in row] for row in ws.iter_rows(values_only=True)]
    header = next(i for i, r in enumerate(values) if r and r[0] == msg("ia.col.rank"))
    assert values[header + 1][1] == worst and values[header + 1][2] == msg("ia.band.check_key")
    assert values[header + 1][-1] == qs[3][1]["text"]
    assert len(values) - header - 1 == 4

    tab.act(lambda: page.get_by_role("button", name=msg("ia.open_in_editor", id=worst)).click())
    tab.expect_path("/question_edit")
    assert f"q={worst}" in page.url
    expect(tab.heading()).to_have_text(msg("qedit.title_edit", id=worst, version=1))
    expect(page.get_by_role("textbox", name=msg("qedit.text"))).to_have_value(qs[3][1]["text"])
    tab.expect_no_error()
    tab.shot("52-item-analysis-editor")
