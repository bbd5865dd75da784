"""AppTest: the trainer's bank, editor and import pages in states with data."""
import uuid

import pytest
from streamlit.testing.v1 import AppTest

from config import ROOT
from models.db import session_scope
from services import bank
from services.formats import gift

PAGES = ["pages/trainer/bank.py", "pages/trainer/question_edit.py", "pages/trainer/question_import.py"]


@pytest.fixture(scope="module")
def trainer(make_user_module):
    return make_user_module(("trainer", "city"), unit="dept")


def page_as(path, user_id, **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=60)
    at.session_state["user_id"] = user_id
    for k, v in query.items():
        at.query_params[k] = v
    return at


@pytest.mark.parametrize("path", PAGES)
def test_learner_and_hr_are_refused(path, make_user_module):
    for role in ("learner", "hr"):
        at = page_as(path, make_user_module(role).id)
        at.run()
        assert not at.exception and any("您没有权限" in e.value for e in at.error)


def test_bank_page_shows_the_true_total_and_filters(trainer):
    at = page_as("pages/trainer/bank.py", trainer.id)
    at.run()
    assert not at.exception, at.exception
    with session_scope() as s:
        total = bank.search(s, trainer).total
    assert any(f"共 {total} 题" in c.value for c in at.caption)
    at.selectbox(key="bank_type").set_value("true_false").run()
    with session_scope() as s:
        tf = bank.search(s, trainer, filters=bank.BankFilter(qtype="true_false")).total
    assert tf < total and any(f"共 {tf} 题" in c.value for c in at.caption)
    at.text_input(key="bank_search").input("zzz-no-such-question").run()
    assert any("没有符合条件" in i.value for i in at.info)


def test_editor_creates_and_edits_with_live_validation(trainer):
    cat = f"页面测试{uuid.uuid4().hex[:6]}"
    at = page_as("pages/trainer/question_edit.py", trainer.id)
    at.run()
    assert not at.exception and at.title[0].value == "新建题目"
    at.selectbox(key="qe_new_0_type").set_value("true_false").run()
    assert at.button(key="qe_save").disabled            # no stem, no category yet
    at.text_area(key="qe_new_0_text").input("乌海市位于内蒙古自治区。").run()
    at.text_input(key="qe_new_0_category").input(cat).run()
    assert any("题目完整" in s.value for s in at.success)
    at.button(key="qe_save").click().run()
    assert not at.exception, at.exception
    with session_scope() as s:
        page = bank.search(s, trainer, filters=bank.BankFilter(category=cat))
    assert page.total == 1 and page.rows[0].type == "true_false"
    qid = page.rows[0].id

    at = page_as("pages/trainer/question_edit.py", trainer.id, q=qid)
    at.run()
    assert "第 1 版" in at.title[0].value
    at.text_area(key=f"qe_{qid}_1_text").input("乌海市是内蒙古自治区的地级市。").run()
    at.button(key="qe_save").click().run()
    with session_scope() as s:
        rec = bank.question_record(s, trainer, question_id=qid)
        old = bank.question_record(s, trainer, question_id=qid, version=1)
    assert rec["_version"] == 2 and rec["text"].startswith("乌海市是") and old["text"] == "乌海市位于内蒙古自治区。"
    at = page_as("pages/trainer/question_edit.py", trainer.id, q=qid)
    at.run()
    assert "第 2 版" in at.title[0].value and at.code and "+text: 乌海市是" in at.code[0].value


def test_import_page_reports_errors_then_imports_only_valid(trainer):
    cat = f"导入页{uuid.uuid4().hex[:6]}"
    data = f"$CATEGORY: {cat}\n\n::a:: 第一题 {{T}}\n\n::b:: 坏题 {{#x}}\n\n::c:: 第三题 {{=甲 ~乙 ~丙}}\n".encode()
    at = page_as("pages/trainer/question_import.py", trainer.id)
    at.run()
    assert not at.exception and at.download_button(key="qimport_template")
    at.file_uploader(key="qimport_file").set_value(("q.gift", data, "text/plain")).run()
    assert not at.exception, at.exception
    assert any("1 处错误" in e.value for e in at.error)
    assert at.button(key="qimport_all").disabled
    at.button(key="qimport_valid").click().run()
    assert any("新增 2 道" in s.value for s in at.success), [s.value for s in at.success]
    with session_scope() as s:
        assert bank.search(s, trainer, filters=bank.BankFilter(category=cat)).total == 2
    assert gift.read(data).errors[0].line == 5


@pytest.mark.parametrize("qtype", ["single_choice", "multiple_choice", "true_false", "fill_blank", "numerical", "matching", "essay"])
def test_editor_opens_a_bank_question_of_every_type(trainer, qtype):
    with session_scope() as s:
        qid = bank.search(s, trainer, filters=bank.BankFilter(qtype=qtype), page_size=1).rows[0].id
    at = page_as("pages/trainer/question_edit.py", trainer.id, q=qid)
    at.run()
    assert not at.exception, at.exception
    assert any("题目完整" in s.value for s in at.success), [w.value for w in at.warning]
    if qtype != "true_false":   # the type's own table holds what the bank holds
        with session_scope() as s:
            rec = bank.question_record(s, trainer, question_id=qid)
        held = {"single_choice": "options", "multiple_choice": "options", "fill_blank": "answers", "numerical": "answers",
                "matching": "pairs", "essay": "rubric"}[qtype]
        assert len(at.data_editor[0].value) == len(rec.get(held, [])) or (qtype == "essay" and not rec.get("rubric"))
