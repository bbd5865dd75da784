"""The question bank service: filters with the true total, versions, history, bulk actions, import/export."""
import uuid

import pytest

from models import Question, QuestionVersion
from models.db import session_scope
from services import bank
from services.errors import PermissionDenied, ValidationFailed
from services.formats import gift, yamlfmt


def _q(cat, text, **extra):
    return {"type": "single_choice", "text": text, "category": cat,
            "options": [{"text": "甲", "fraction": 1.0}, {"text": "乙", "fraction": 0.0}, {"text": "丙", "fraction": 0.0}],
            **extra}


@pytest.fixture
def trainer(make_user):
    return make_user("trainer")


@pytest.fixture
def cat():
    return f"测试分类{uuid.uuid4().hex[:6]}"


def test_learner_cannot_use_the_bank(make_user, session):
    learner = make_user("learner")
    for call in (lambda: bank.search(session, learner), lambda: bank.save_question(session, learner, data=_q("c", "x")),
                 lambda: bank.export_questions(session, learner, fmt="yaml", question_ids=[])):
        with pytest.raises(PermissionDenied):
            call()


def test_search_gives_the_true_total_and_pages(session, trainer):
    page = bank.search(session, trainer, page_size=25)
    all_active = session.exec(__import__("sqlmodel").select(__import__("sqlmodel").func.count()).select_from(Question)
                              .where(Question.active)).one()
    assert page.total == all_active > 500 and len(page.rows) == 25 and page.pages == -(-all_active // 25)
    last = bank.search(session, trainer, page=page.pages, page_size=25)
    assert len(last.rows) == page.total - 25 * (page.pages - 1)
    assert bank.search(session, trainer, page=999, page_size=25).page == page.pages   # clamped, never empty


def test_filters_category_subtree_tag_usage_text(session, trainer, cat):
    a, _ = bank.save_question(session, trainer, data=_q(f"{cat}/甲组", "乌海市的首要任务是什么", tags=["重点"], usage="exam"))
    b, _ = bank.save_question(session, trainer, data=_q(f"{cat}/乙组/子组", "另一道题目", tags=["一般"]))
    c, _ = bank.save_question(session, trainer, data=_q(f"{cat}x", "不在子树里"))
    ids = lambda **kw: [r.id for r in bank.search(session, trainer, filters=bank.BankFilter(**kw), page_size=200).rows]
    assert sorted(ids(category=cat)) == sorted([a, b])              # the subtree, not a prefix of the name
    assert ids(category=f"{cat}/乙组") == [b]
    assert ids(category=cat, tag="重点") == [a]
    assert ids(category=cat, usage="exam") == [a]
    assert ids(text="乌海市 首要") == [a]
    assert c in ids(category=f"{cat}x")
    assert f"{cat}/乙组" in bank.category_tree(session, trainer) and "重点" in bank.tags(session, trainer)


def test_editing_makes_a_new_version_and_keeps_the_old(session, trainer, cat):
    qid, v1 = bank.save_question(session, trainer, data=_q(cat, "第一稿"))
    assert v1 == 1 and qid.startswith("q-")
    same, v_same = bank.save_question(session, trainer, question_id=qid, data=_q(cat, "第一稿"))
    assert (same, v_same) == (qid, 1)                                  # no change, no version
    _, v2 = bank.save_question(session, trainer, question_id=qid, data=_q(cat, "第二稿", explanation="改了"))
    assert v2 == 2
    assert bank.question_record(session, trainer, question_id=qid, version=1)["text"] == "第一稿"
    assert bank.question_record(session, trainer, question_id=qid)["text"] == "第二稿"
    hist = bank.history(session, trainer, question_id=qid)
    assert [h.version for h in hist] == [2, 1] and hist[0].created_by == "测试用户"
    d = bank.diff(session, trainer, question_id=qid, old=1, new=2)
    assert "-text: 第一稿" in d and "+text: 第二稿" in d and "+explanation: 改了" in d


def test_course_questions_are_numbered_after_the_course(session, trainer):
    qid, _ = bank.save_question(session, trainer, data=_q("信息化战略", "新题"), course_id="strat")
    assert qid.startswith("strat-") and int(qid.split("-")[1]) > 50


def test_invalid_question_is_refused_with_reasons(session, trainer, cat):
    bad = _q(cat, "两个正确答案")
    bad["options"][1]["fraction"] = 1.0
    with pytest.raises(ValidationFailed) as exc:
        bank.save_question(session, trainer, data=bad)
    assert "exactly one option" in exc.value.params["errors"][0]
    q, errors = bank.validate_question(_q(cat, "名字\x00有控制字符"))
    assert q is None and "control characters" in errors[0]


def test_retire_restore_and_bulk_edit(session, trainer, cat):
    ids = [bank.save_question(session, trainer, data=_q(cat, f"批量{i}", tags=["旧"]))[0] for i in range(3)]
    assert bank.set_active(session, trainer, question_ids=ids[:2], active=False) == 2
    f = bank.BankFilter(category=cat, status="retired")
    assert sorted(r.id for r in bank.search(session, trainer, filters=f).rows) == sorted(ids[:2])
    assert bank.set_active(session, trainer, question_ids=ids, active=True) == 2
    n = bank.bulk_edit(session, trainer, question_ids=ids, category=f"{cat}/新", add_tags=["新"], remove_tags=["旧"])
    assert n == 3
    rec = bank.question_record(session, trainer, question_id=ids[0])
    assert rec["category"] == f"{cat}/新" and rec["tags"] == ["新"] and rec["_version"] == 2


def test_import_all_or_nothing_duplicates_and_only_valid(session, trainer, cat):
    existing, _ = bank.save_question(session, trainer, data=_q(cat, "已在题库中的题目"))
    text = (f"$CATEGORY: {cat}\n\n::a:: 已在题库中的题目！ {{=甲 ~乙 ~丙}}\n\n::b:: 全新的题目 {{T}}\n\n"
            "::c:: 坏题 {#abc}\n").encode()
    preview = bank.preview_import(session, trainer, data=text, fmt="gift")
    assert [e.line for e in preview.report.errors] == [7]
    assert list(preview.duplicates.values()) == [existing]           # normalised text: punctuation ignored
    with pytest.raises(ValidationFailed):
        bank.import_questions(session, trainer, preview=preview)
    result = bank.import_questions(session, trainer, preview=preview, only_valid=True)
    assert len(result.created) == 1 and result.skipped_duplicates == 1 and result.skipped_invalid == 1


def test_import_writes_nothing_when_a_later_write_fails(database, make_user, cat):
    trainer = make_user("trainer")
    data = yamlfmt.write([_q(cat, f"事务{i}") for i in range(5)])
    with pytest.raises(RuntimeError), session_scope() as s:
        preview = bank.preview_import(s, trainer, data=data, fmt="yaml")
        bank.import_questions(s, trainer, preview=preview)
        assert s.exec(__import__("sqlmodel").select(QuestionVersion).where(QuestionVersion.category == cat)).all()
        raise RuntimeError("disk full after the rows were written")
    with session_scope() as s:
        assert not s.exec(__import__("sqlmodel").select(QuestionVersion).where(QuestionVersion.category == cat)).all()


def test_import_with_ids_updates_those_questions(session, trainer, cat):
    qid, _ = bank.save_question(session, trainer, data=_q(cat, "旧题干"))
    data = yamlfmt.write([_q(cat, "新题干", id=qid)])
    preview = bank.preview_import(session, trainer, data=data, fmt="yaml")
    assert preview.updates == {0: qid}
    result = bank.import_questions(session, trainer, preview=preview)
    assert result.new_versions == [qid] and bank.question_record(session, trainer, question_id=qid)["_version"] == 2


def test_export_a_category_and_read_it_back(session, trainer, cat):
    for i in range(3):
        bank.save_question(session, trainer, data=_q(f"{cat}/子", f"导出{i}", tags=["t"]))
    data = bank.export_questions(session, trainer, fmt="gift", filters=bank.BankFilter(category=cat))
    back = gift.read(data)
    assert back.ok and sorted(p.question.text for p in back.questions) == ["导出0", "导出1", "导出2"]
    assert {p.question.category for p in back.questions} == {f"{cat}/子"}
    assert "difficulty" in bank.not_carried("gift")


def test_reloading_the_bank_keeps_trainers_edits_retirements_and_new_questions(database, make_user):
    from services.content import load_bank
    trainer = make_user("trainer")
    with session_scope() as s:
        rec = bank.question_record(s, trainer, question_id="strat-002")
        data = {k: v for k, v in rec.items() if not k.startswith("_")} | {"explanation": "培训师补充的解析"}
        _, edited = bank.save_question(s, trainer, question_id="strat-002", data=data)
        bank.set_active(s, trainer, question_ids=["strat-003"], active=False)
        added, _ = bank.save_question(s, trainer, data=_q("信息化战略", "培训师新增的题"), course_id="strat")
    with session_scope() as s:
        report = load_bank(s)          # what every app start does
    assert report.questions_new_version == 0
    with session_scope() as s:
        assert bank.question_record(s, trainer, question_id="strat-002")["_version"] == edited
        assert bank.question_record(s, trainer, question_id="strat-002")["explanation"] == "培训师补充的解析"
        assert not bank.question_record(s, trainer, question_id="strat-003")["_active"]
        assert bank.question_record(s, trainer, question_id=added)["_active"]
        bank.set_active(s, trainer, question_ids=["strat-003"], active=True)
