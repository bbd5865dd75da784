"""AppTest: the trainer's exam pages (list, builder, grading queue, results) × trainer and admin, in every state:
no exams, a draft, published with attempts, essays waiting, closed. The builder shows an unsatisfiable rule
with its reason and refuses to save or publish it; the results export opens with openpyxl and holds no
formula, even for a learner whose name looks like one."""
import uuid
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from config import ROOT
from models import Exam, QuestionVersion, User
from models.db import session_scope
from services import attempts, exams, org
from services.grading import correct_response
from services.permissions import load_actor, system_actor
from tests.unit.examkit import correct_key, exam_in, make_questions

LIST, EDIT, GRADING, RESULTS = ("pages/trainer/exams.py", "pages/trainer/exam_edit.py", "pages/trainer/grading.py",
                                "pages/trainer/exam_results.py")
PAGES = [LIST, EDIT, GRADING, RESULTS]


@pytest.fixture(scope="module")
def district(tree):
    """A district of this module's own, so "no exams" is true for its trainer whatever other tests made."""
    with session_scope() as s:
        tag = uuid.uuid4().hex[:6]
        unit = org.create_unit(s, system_actor(), code=f"XD-{tag}", name=f"考试区{tag}", kind="district", parent_id=tree["city"])
        return unit.id


def _person(role_scope: tuple | str, unit_id: int, name: str = "测试考生"):
    from services import users
    roles = [role_scope] if role_scope else []
    grants = [users.Grant(role=r[0], scope_unit_id=r[1]) if isinstance(r, tuple) else users.Grant(role=r) for r in roles]
    with session_scope() as s:
        u, _ = users.create_user(s, system_actor(), user_in=users.UserCreate(
            username=f"x{uuid.uuid4().hex[:10]}", name=name, unit_id=unit_id, grants=grants, password="Passw0rd!x"))
        return load_actor(s, u.id)


@pytest.fixture(scope="module")
def trainer(district):
    return _person(("trainer", district), district, "区培训师")


@pytest.fixture(scope="module")
def admin(make_user_module):
    return make_user_module("admin", unit="dept")


def page_as(path, user_id, **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=60)
    at.session_state["user_id"] = user_id
    for k, v in query.items():
        at.query_params[k] = str(v)
    return at


def texts(at) -> str:
    parts = [x.value for kind in ("title", "subheader", "markdown", "caption", "text", "info", "success", "warning", "error")
             for x in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def run(at) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def click(at, key) -> AppTest:
    at.button(key=key).click()
    return run(at)


def sit(learner, exam_id, *, essay: str | None = None, right: bool = True, submit: bool = True) -> int:
    with session_scope() as s:
        attempt_id = exams.start_exam(s, learner, exam_id=exam_id)
        for it in attempts.attempt_view(s, learner, attempt_id=attempt_id).items:
            data = s.get(QuestionVersion, s.get(attempts.AttemptItem, it.item_id).question_version_id).data
            if data["type"] == "essay":
                if essay is not None:
                    attempts.save_answer(s, learner, item_id=it.item_id, response=essay, expected_version=it.version)
                continue
            k = correct_response(data)
            attempts.save_answer(s, learner, item_id=it.item_id, response=k if right else (not k), expected_version=it.version)
        if submit:
            attempts.submit_attempt(s, learner, attempt_id=attempt_id)
    return attempt_id


@pytest.mark.parametrize("path", PAGES)
def test_learner_and_hr_are_refused(path, make_user_module):
    for role in ("learner", "hr"):
        at = run(page_as(path, make_user_module(role).id))
        assert any("您没有权限" in e.value for e in at.error)


@pytest.mark.parametrize("path", PAGES)
def test_no_exams_yet(path, trainer):
    at = run(page_as(path, trainer.id))
    assert len(at.title) >= 1
    if path == LIST:
        assert any("还没有您管理的考试" in i.value for i in at.info)
    if path == GRADING:
        assert any("没有待阅的简答题" in i.value for i in at.info)


def test_the_builder_refuses_an_unsatisfiable_rule_with_its_reason(trainer):
    cat, _ = make_questions(3, "single_choice")
    at = run(page_as(EDIT, trainer.id))
    assert at.title[0].value == "新建考试"
    at.text_input(key="xe_new_title").input("不够题的考试")
    at.selectbox(key="xe_new_new_category").set_value(cat)
    at.selectbox(key="xe_new_new_type").set_value("single_choice")
    at.number_input(key="xe_new_new_count").set_value(5)
    click(at, "FormSubmitter:xe_new_add_rule-添加规则")
    shown = texts(at)
    assert "题库无法满足这份试卷" in shown
    assert "需要 5 道单选题" in shown and "只有 3 道可用" in shown
    assert at.button(key="xe_publish").disabled and at.button(key="xe_save").disabled
    with session_scope() as s:
        assert s.exec(select(Exam).where(Exam.title == "不够题的考试")).first() is None
    # one fewer: satisfiable at once, with the number of distinct papers (C(3,3) = 1)
    click(at, "xe_new_rm_0")
    at.number_input(key="xe_new_new_count").set_value(2)
    click(at, "FormSubmitter:xe_new_add_rule-添加规则")
    assert any("题库可以满足：每份试卷 2 题" in x.value and "3 套不同试卷" in x.value for x in at.success), texts(at)
    assert not at.button(key="xe_publish").disabled


def test_a_trainer_builds_saves_and_publishes_a_rule_based_exam(trainer, district):
    cat, _ = make_questions(6, "true_false")
    make_questions(4, "single_choice", category=cat + "/子类")
    at = run(page_as(EDIT, trainer.id))
    title = f"规则考试{uuid.uuid4().hex[:4]}"
    at.text_input(key="xe_new_title").input(title)
    for category, qtype, count, points in ((cat, "true_false", 4, 2.0), (cat + "/子类", "single_choice", 2, 0.0)):
        at.selectbox(key="xe_new_new_category").set_value(category)
        at.selectbox(key="xe_new_new_type").set_value(qtype)
        at.number_input(key="xe_new_new_count").set_value(count)
        at.number_input(key="xe_new_new_points").set_value(points)
        click(at, "FormSubmitter:xe_new_add_rule-添加规则")
    assert any("每份试卷 6 题，满分 10 分" in x.value for x in at.success), texts(at)   # 4 × 2 + 2 × 1
    assert at.multiselect(key="xe_new_units").value == [district]        # the trainer's own district
    at.number_input(key="xe_new_limit").set_value(45)
    at.number_input(key="xe_new_credit").set_value(2.0)
    at.toggle(key="xe_new_certificate").set_value(True)
    at.toggle(key="xe_new_tab_on").set_value(True)
    at.selectbox(key="xe_new_rv_answers").set_value("never")
    click(at, "xe_save")
    with session_scope() as s:
        exam = s.exec(select(Exam).where(Exam.title == title)).one()
        assert exam.status == "draft" and exam.time_limit_minutes == 45 and exam.credit_hours == 2
        assert exam.certificate and exam.tab_switch_limit == 3 and exam.review_answers == "never"
        assert exam.audience_units == [district]
        assert sorted((r["type"], r["count"], r.get("points")) for r in exam.rules) == [
            ("single_choice", 2, None), ("true_false", 4, 2.0)]
        exam_id = exam.id
    at = run(page_as(EDIT, trainer.id, exam=exam_id))
    assert title in at.title[0].value
    click(at, "xe_publish")
    click(at, "xe_publish_do")
    with session_scope() as s:
        assert s.get(Exam, exam_id).status == "published"
    at = run(page_as(EDIT, trainer.id, exam=exam_id))
    assert any("试卷规则已冻结" in i.value for i in at.info)
    assert not [b for b in at.button if b.key and b.key.startswith(f"xe_{exam_id}_rm_")]      # rules read-only
    assert at.radio(key=f"xe_{exam_id}_kind").disabled


def _exam_with_essays(trainer, district, learners, *, title):
    cat, _ = make_questions(1, "essay", points=10)
    make_questions(2, "true_false", category=cat)
    with session_scope() as s:
        exam_id = exams.create_exam(s, trainer, exam_in=exam_in(
            cat, title=title, audience_units=[district], review_score="after_submit",
            rules=[{"type": "essay", "category": cat, "count": 1}, {"type": "true_false", "category": cat, "count": 2}]))
        exams.publish_exam(s, trainer, exam_id=exam_id)
    return exam_id


@pytest.fixture(scope="module")
def states(trainer, district):
    """Exams in every state, audience the module's district: a draft, one published with attempts and essays
    waiting (one blank), one closed."""
    learners = [_person("learner", district, name) for name in ("张三", "=SUM(A1:A2)", "李四")]
    with session_scope() as s:
        cat, _ = make_questions(4, "true_false", session=s)
    with session_scope() as s:
        draft = exams.create_exam(s, trainer, exam_in=exam_in(cat, title="草稿考试", audience_units=[district]))
    live = _exam_with_essays(trainer, district, learners, title="进行中的考试")
    sit(learners[0], live, essay="我的论述：网络安全很重要。")
    sit(learners[1], live, essay="第二位考生的论述。", right=False)
    sit(learners[2], live, essay=None)                  # blank essay: 0 without a grader
    closed = _exam_with_essays(trainer, district, learners, title="已结束的考试")
    sit(learners[0], closed, essay="已结束考试的论述。")
    sit(learners[2], closed, submit=False)             # open when closed: submitted by closing
    with session_scope() as s:
        exams.close_exam(s, trainer, exam_id=closed)
    return {"draft": draft, "live": live, "closed": closed, "learners": learners}


@pytest.mark.parametrize("who", ["trainer", "admin"])
def test_the_list_shows_every_state_and_confirms_publish_and_close(who, states, trainer, admin, request):
    actor = trainer if who == "trainer" else admin
    at = run(page_as(LIST, actor.id))
    df = at.dataframe[0].value
    by_title = {row["考试名称"]: row for _, row in df.iterrows()}
    assert by_title["草稿考试"]["状态"] == "草稿" and by_title["进行中的考试"]["状态"] == "已发布"
    assert by_title["已结束的考试"]["状态"] == "已结束"
    live = by_title["进行中的考试"]
    assert live["答卷"] == 3 and live["待阅卷"] == 2 and live["人数"] == 3
    assert "考试区" in live["考试对象"]
    if who == "admin":
        return
    at.selectbox(key="texams_status").set_value("draft")
    run(at)
    assert list(at.dataframe[0].value["考试名称"]) == ["草稿考试"]


def test_publishing_and_closing_from_the_list_need_a_confirmation(trainer, district):
    cat, _ = make_questions(2, "true_false")
    learner = _person("learner", district)
    with session_scope() as s:
        exam_id = exams.create_exam(s, trainer, exam_in=exam_in(cat, count=2, title="列表发布", audience_units=[district]))
    at = run(page_as(LIST, trainer.id))
    at.selectbox(key="texams_pick_0").set_value(exam_id)
    run(at)
    assert at.query_params["exam"] == [str(exam_id)] or at.query_params["exam"] == str(exam_id)
    click(at, "texams_publish")
    assert any("确定发布考试《列表发布》" in w.value for w in at.warning)
    with session_scope() as s:
        assert s.get(Exam, exam_id).status == "draft"                 # nothing yet
    click(at, "texams_publish_do")
    with session_scope() as s:
        assert s.get(Exam, exam_id).status == "published"
    assert any("已发布" in x.value for x in at.success)
    sit(learner, exam_id, submit=False)
    at = run(page_as(LIST, trainer.id, exam=exam_id))                 # the address names the exam
    click(at, "texams_close")
    assert any("正在作答的 1 份答卷" in w.value for w in at.warning)
    click(at, "texams_close_cancel")
    assert not at.warning
    click(at, "texams_close")
    click(at, "texams_close_do")
    with session_scope() as s:
        assert s.get(Exam, exam_id).status == "closed"
        assert set(s.exec(select(attempts.Attempt.status).where(attempts.Attempt.exam_id == exam_id)).all()) == {"submitted"}


@pytest.mark.parametrize("who", ["trainer", "admin"])
def test_builder_shows_each_state(who, states, trainer, admin):
    actor = trainer if who == "trainer" else admin
    at = run(page_as(EDIT, actor.id, exam=states["draft"]))
    assert "草稿考试" in at.title[0].value and not at.radio(key=f"xe_{states['draft']}_kind").disabled
    assert any("题库可以满足" in x.value for x in at.success)
    for key in ("live", "closed"):
        at = run(page_as(EDIT, actor.id, exam=states[key]))
        assert any("试卷规则已冻结" in i.value for i in at.info)
        assert at.button(key="xe_save").label == "保存设置"
    at = run(page_as(EDIT, actor.id, exam="abc"))
    assert any("考试编号无效" in e.value for e in at.error)


def test_a_trainer_out_of_scope_cannot_open_the_exam(states, make_user_module):
    other = make_user_module(("trainer", "district2"), unit="district2")
    for path in (EDIT, RESULTS):
        at = run(page_as(path, other.id, exam=states["live"]))
        assert at.error and ("范围" in at.error[0].value or "权限" in at.error[0].value)


@pytest.mark.parametrize("who", ["trainer", "admin"])
def test_results_list_every_attempt_with_filters(who, states, trainer, admin):
    actor = trainer if who == "trainer" else admin
    at = run(page_as(RESULTS, actor.id, exam=states["live"]))
    df = at.dataframe[0].value
    assert len(df) == 3 and set(df["状态"]) == {"待阅卷", "已交卷"}
    assert "=SUM(A1:A2)" in set(df["姓名"])                          # shown as the text it is
    assert {"用时", "切屏次数", "得分", "已答"} <= set(df.columns)
    at.multiselect(key="tresults_f_status").set_value(["submitted"])
    run(at)
    assert len(at.dataframe[0].value) == 1        # the blank essay: 0, settled
    at = run(page_as(RESULTS, actor.id, exam=states["closed"]))
    df = at.dataframe[0].value
    assert len(df) == 2 and "是" in set(df["自动交卷"])                # the open attempt closing submitted


def test_results_export_opens_and_holds_no_formula(states, trainer):
    at = run(page_as(RESULTS, trainer.id, exam=states["live"]))
    assert at.get("download_button")                                  # the page offers it
    with session_scope() as s:
        data = exams.results_xlsx(s, trainer, exam_id=states["live"])   # the bytes the button serves
    wb = load_workbook(BytesIO(data))
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert "=SUM(A1:A2)" in {c.value for c in cells}


def test_grading_queue_with_rubric_progress_and_second_grader(states, trainer, district):
    live = states["live"]
    at = run(page_as(GRADING, trainer.id, exam=live))
    prog = at.get("progress")[0]
    assert "已评 0 / 2" in prog.proto.text and "未作答 1 道" in prog.proto.text
    assert any("共 2 道待处理" in c.value for c in at.caption)
    task_keys = [k for k in (n.key for n in at.number_input) if k and k.endswith("_r0")]
    assert task_keys, "rubric items are shown"
    prefix = task_keys[0][:-3]
    at.number_input(key=f"{prefix}_r0").set_value(5.0)
    at.number_input(key=f"{prefix}_r1").set_value(4.0)
    at.text_area(key=f"{prefix}_comment").input("论点清楚")
    click(at, "tgrading_submit")
    assert any("已评分" in x.value for x in at.success)
    assert "已评 1 / 2" in at.get("progress")[0].proto.text
    # the second essay, then the exam has nothing left to grade
    prefix = [k for k in (n.key for n in at.number_input) if k and k.endswith("_r0")][0][:-3]
    at.number_input(key=f"{prefix}_r0").set_value(1.0)
    click(at, "tgrading_submit")
    assert any("没有待阅的简答题" in i.value for i in at.info)
    with session_scope() as s:
        statuses = s.exec(select(attempts.Attempt.status).where(attempts.Attempt.exam_id == live)).all()
    assert set(statuses) == {"submitted"}
    # a second grader reviews; the first grader sees nothing to review of their own
    at = run(page_as(GRADING, trainer.id, exam=live))
    at.segmented_control(key="tgrading_mode").set_value("review")
    run(at)
    assert any("没有可复核" in i.value for i in at.info)
    reviewer = _person(("trainer", district), district, "复核人")
    at = run(page_as(GRADING, reviewer.id, exam=live))
    at.segmented_control(key="tgrading_mode").set_value("review")
    run(at)
    assert "初评" in texts(at) and "论点清楚" in texts(at)
    prefix = [k for k in (n.key for n in at.number_input) if k and k.endswith("_r0")][0][:-3]
    at.number_input(key=f"{prefix}_r0").set_value(6.0)
    click(at, "tgrading_submit")
    assert any("已评分" in x.value for x in at.success)


def test_regrade_after_a_key_fix_shows_the_audit_row(trainer, district):
    learner = _person("learner", district)
    cat, ids = make_questions(2, "true_false")
    with session_scope() as s:
        exam_id = exams.create_exam(s, trainer, exam_in=exam_in(cat, count=2, title="改答案的考试", audience_units=[district],
                                                                pass_percent=100))
        exams.publish_exam(s, trainer, exam_id=exam_id)
    sit(learner, exam_id, right=False)
    with session_scope() as s:
        old = s.exec(select(QuestionVersion).where(QuestionVersion.question_id == ids[0])).one()
        correct_key(ids[0], old.data, s)
    at = run(page_as(RESULTS, trainer.id, exam=exam_id))
    at.selectbox(key="tresults_regrade_q").set_value(ids[0])
    click(at, "tresults_regrade")
    assert any("重新评定本场考试所有含该题的答卷" in w.value for w in at.warning)
    click(at, "tresults_regrade_do")
    assert any("2 版" in i.value and "1 份答卷成绩有变化" in i.value for i in at.info), texts(at)
    audit = at.dataframe[-1].value
    assert list(audit["题目"]) == [ids[0]] and list(audit["操作人"]) == [trainer.username]
    assert at.dataframe[0].value["得分"].tolist() == [1.0]


def test_named_people_in_the_audience(trainer, district):
    person = _person("learner", district, f"王{uuid.uuid4().hex[:4]}")
    cat, _ = make_questions(2, "true_false")
    at = run(page_as(EDIT, trainer.id))
    at.text_input(key="xe_new_title").input("指定人员的考试")
    at.selectbox(key="xe_new_new_category").set_value(cat)
    at.selectbox(key="xe_new_new_type").set_value("true_false")
    at.number_input(key="xe_new_new_count").set_value(2)
    click(at, "FormSubmitter:xe_new_add_rule-添加规则")
    at.multiselect(key="xe_new_units").set_value([])
    at.text_input(key="xe_new_people_q").input(person.name)
    run(at)
    at.multiselect(key="xe_new_people").set_value([person.id])
    click(at, "xe_save")
    with session_scope() as s:
        exam = s.exec(select(Exam).where(Exam.title == "指定人员的考试", Exam.created_by == trainer.id)).one()
        assert exam.audience_users == [person.id] and exam.audience_units == []
        assert s.exec(select(User.name).where(User.id == person.id)).one() == person.name


def test_a_fixed_paper_is_picked_from_a_bank_search(trainer):
    cat, ids = make_questions(3, "single_choice", usage="exam")
    at = run(page_as(EDIT, trainer.id))
    at.text_input(key="xe_new_title").input("固定试卷考试")
    at.radio(key="xe_new_kind").set_value("fixed")
    run(at)
    assert any("还没有选题" in c.value for c in at.caption)
    assert any("题库无法满足" in e.value for e in at.error)           # an empty paper cannot be saved
    at.selectbox(key="xe_new_f_category").set_value(cat)
    run(at)
    found_key = f"xe_new_found_{cat}__"
    at.session_state[found_key] = {"selection": {"rows": [0, 2], "columns": []}}    # rows ticked in the table
    run(at)
    click(at, "xe_new_fixed_add")
    assert any("已选题目（2 题）" in m.value for m in at.markdown)
    assert any("每份试卷 2 题" in x.value and "1 套不同试卷" in x.value for x in at.success), texts(at)
    click(at, "xe_save")
    with session_scope() as s:
        exam = s.exec(select(Exam).where(Exam.title == "固定试卷考试", Exam.created_by == trainer.id)).one()
        assert exam.question_ids == [sorted(ids)[0], sorted(ids)[2]] and exam.rules is None   # the bank lists by id


def test_a_published_exams_settings_still_save_with_the_paper_frozen(trainer, district):
    cat, _ = make_questions(3, "true_false")
    with session_scope() as s:
        exam_id = exams.create_exam(s, trainer, exam_in=exam_in(cat, count=2, title="改设置的考试", audience_units=[district],
                                                                rules=[{"type": "true_false", "category": cat, "count": 2,
                                                                        "difficulty": [1, 5], "points": 5}]))
        exams.publish_exam(s, trainer, exam_id=exam_id)
        rules = s.get(Exam, exam_id).rules
    at = run(page_as(EDIT, trainer.id, exam=exam_id))
    assert "每题 5.0 分" in texts(at) and "1–5" in texts(at)        # the frozen rule, shown read-only
    at.number_input(key=f"xe_{exam_id}_limit").set_value(90)
    click(at, "xe_save")
    assert any("已保存" in x.value for x in at.success), texts(at)
    with session_scope() as s:
        exam = s.get(Exam, exam_id)
        assert exam.time_limit_minutes == 90 and exam.rules == rules and exam.status == "published"


def test_the_window_is_set_in_the_citys_time(trainer):
    from datetime import date, time

    from models.db import LOCAL_TZ
    cat, _ = make_questions(2, "true_false")
    at = run(page_as(EDIT, trainer.id))
    at.text_input(key="xe_new_title").input("有时间窗口的考试")
    at.selectbox(key="xe_new_new_category").set_value(cat)
    at.selectbox(key="xe_new_new_type").set_value("true_false")
    at.number_input(key="xe_new_new_count").set_value(2)
    click(at, "FormSubmitter:xe_new_add_rule-添加规则")
    at.toggle(key="xe_new_opens_on").set_value(True)
    at.toggle(key="xe_new_closes_on").set_value(True)
    run(at)
    at.date_input(key="xe_new_opens_date").set_value(date(2027, 3, 1))
    at.time_input(key="xe_new_opens_time").set_value(time(9, 0))
    at.date_input(key="xe_new_closes_date").set_value(date(2027, 3, 1))
    at.time_input(key="xe_new_closes_time").set_value(time(8, 0))       # before it opens: refused
    run(at)
    assert any("截止时间必须晚于开放时间" in e.value for e in at.error), texts(at)
    assert at.button(key="xe_save").disabled and at.button(key="xe_publish").disabled
    at.time_input(key="xe_new_closes_time").set_value(time(11, 30))
    run(at)
    at.text_input(key="xe_new_title").input("  ")
    click(at, "xe_save")
    assert any("请填写考试名称" in e.value for e in at.error)
    at.text_input(key="xe_new_title").input("有时间窗口的考试")
    click(at, "xe_save")
    with session_scope() as s:
        exam = s.exec(select(Exam).where(Exam.title == "有时间窗口的考试", Exam.created_by == trainer.id)).one()
        assert exam.opens_at.astimezone(LOCAL_TZ).replace(tzinfo=None).isoformat() == "2027-03-01T09:00:00"
        assert exam.closes_at.astimezone(LOCAL_TZ).replace(tzinfo=None).isoformat() == "2027-03-01T11:30:00"
    at = run(page_as(EDIT, trainer.id, exam=exam.id))               # shown again in the city's time
    assert at.time_input(key=f"xe_{exam.id}_opens_time").value == time(9, 0)
