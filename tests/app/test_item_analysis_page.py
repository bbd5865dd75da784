"""AppTest: the trainer's item analysis page (pages/trainer/item_analysis.py): no attempts yet, an exam
with attempts (caution below 30, the test's figures, worst question first with its editor link, its
distractors, the charts), an admin, and a trainer of another district."""
import pytest
from streamlit.testing.v1 import AppTest

from config import ROOT
from models.db import session_scope
from services import exams
from services.permissions import system_actor
from tests.unit.test_item_report import MARKS, add_questions, sit

PAGE = "pages/trainer/item_analysis.py"


def page_as(user_id, **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=90)
    at.session_state["user_id"] = user_id
    for k, v in query.items():
        at.query_params[k] = v
    return at


@pytest.fixture(scope="module")
def exam(make_user_module, tree):
    """A fixed paper of 4 questions and 5 graded attempts; q4 has a negative D (the bottom got it right)."""
    with session_scope() as s:
        _, qs = add_questions(s, [("single_choice", 1), ("multiple_choice", 0), ("true_false", 0), ("single_choice", 0)])
        ids = [q for q, _ in qs]
        exam_id = exams.create_exam(s, system_actor(), exam_in=exams.ExamIn(title="页面小考", question_ids=ids,
                                                                             audience_units=[tree["district"]]))
        exams.publish_exam(s, system_actor(), exam_id=exam_id)
        empty_id = exams.create_exam(s, system_actor(), exam_in=exams.ExamIn(title="无人考", question_ids=ids[:1],
                                                                              audience_units=[tree["district"]]))
    learners = [make_user_module("learner") for _ in MARKS]
    with session_scope() as s:
        for learner, marks in zip(learners, MARKS):
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
            sit(s, user_id=learner.id, exam_id=exam_id, items=items)
    return {"id": exam_id, "empty": empty_id, "ids": ids}


@pytest.fixture(scope="module")
def trainer(make_user_module):
    return make_user_module(("trainer", "district"), unit="district")


def test_an_exam_without_attempts_says_so(exam, trainer):
    at = page_as(trainer.id, exam=str(exam["empty"]))
    at.run()
    assert not at.exception, at.exception
    assert any("还没有已评分的作答" in i.value for i in at.info)
    assert at.selectbox(key=f"ia_source_exam:{exam['empty']}").value == f"exam:{exam['empty']}"


def test_the_worst_question_first_with_its_editor_link_and_distractors(exam, trainer):
    at = page_as(trainer.id, exam=str(exam["id"]))
    at.run()
    assert not at.exception, at.exception
    assert any("只有 5 次作答" in w.value for w in at.warning)                 # the caution below 30
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["作答数"] == "5" and metrics["题数"] == "4" and metrics["平均分"] == "2.0"
    items = at.dataframe[0].value
    first = items.iloc[0]
    q4 = exam["ids"][3]
    assert first["题目编号"] == q4 and first["评价"] == "检查答案" and "检查答案" in first["提示"]
    assert first["编辑"] == f"question_edit?q={q4}"                             # each row links to the editor
    assert set(items["编辑"]) == {f"question_edit?q={q}" for q in exam["ids"]}
    # the chosen question (the worst by default): a link into the editor and its distractor table
    assert q4 in at.button(key="ia_open_editor").label
    opts = at.dataframe[1].value
    assert list(opts["高分组"]) == [0, 0, 1, 0, 0] and list(opts["低分组"]) == [1, 0, 0, 0, 0]
    assert len(at.get("vega_lite_chart")) == 2                              # scatter and heat map
    # another question, the multiple-choice one
    at.selectbox(key=f"ia_question_exam:{exam['id']}_all").set_value(exam["ids"][1]).run()
    assert not at.exception, at.exception
    opts = at.dataframe[1].value
    assert list(opts["正确"])[:4] == ["✓", "✓", "", ""]
    # first attempts only: the same five learners, one attempt each
    at.radio(key="ia_which").set_value("first").run()
    assert not at.exception and {m.label: m.value for m in at.metric}["作答数"] == "5"


def test_an_admin_sees_it_and_another_district_does_not(exam, make_user_module):
    admin = make_user_module("admin")
    at = page_as(admin.id, exam=str(exam["id"]))
    at.run()
    assert not at.exception and at.dataframe[0].value.iloc[0]["题目编号"] == exam["ids"][3]
    other = make_user_module(("trainer", "district2"), unit="district2")
    at = page_as(other.id, exam=str(exam["id"]))
    at.run()
    assert not at.exception, at.exception
    assert any("不在您的范围内" in w.value for w in at.warning)                 # not theirs: shows another
    assert all(exam["ids"][3] not in df.value.to_string() for df in at.dataframe)   # none of its questions


def test_in_english(exam, trainer):
    at = page_as(trainer.id, exam=str(exam["id"]))
    at.session_state["locale"] = "en"
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Item analysis"
    assert any("Only 5 attempts" in w.value for w in at.warning)
    assert at.dataframe[0].value.iloc[0]["Verdict"] == "Check the key"
