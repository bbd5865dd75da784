import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlmodel import Session, select

from config import ROOT
from models import Lesson, Question, QuestionVersion
from models.db import get_engine, session_scope
from services import content
from services.content import check_bank, load_bank
from services.interchange import QuestionIn


def test_content_check_cli_reports_no_errors_and_the_required_counts():
    out = subprocess.run([sys.executable, "cli.py", "content", "check", "--json"], cwd=ROOT, capture_output=True, text=True)
    report = json.loads(out.stdout)
    assert report["errors"] == [], "\n".join(report["errors"][:40])
    assert out.returncode == 0
    assert report["courses"] >= 10 and report["questions"] >= 500
    assert all(n >= 40 for n in report["questions_by_course"].values())
    assert set(report["questions_by_type"]) >= {"single_choice", "multiple_choice", "true_false", "fill_blank",
                                                 "matching", "essay"}


def _copy_bank(tmp_path: Path) -> Path:
    """The real bank without courses still being drafted (they are not loaded either)."""
    from services.content import is_draft
    dst = tmp_path / "bank"
    shutil.copytree(ROOT / "question_bank", dst)
    for folder in (dst / "courses").iterdir():
        if folder.is_dir() and is_draft(folder):
            shutil.rmtree(folder)
    return dst


def test_checker_finds_broken_questions(tmp_path):
    bank = _copy_bank(tmp_path)
    qfile = next((bank / "courses").glob("*/questions.yaml"))
    items = yaml.safe_load(qfile.read_text(encoding="utf-8"))
    sc = next(q for q in items if q["type"] == "single_choice")
    for o in sc["options"]:
        o["fraction"] = 0.0                       # no correct option
    mc = next(q for q in items if q["type"] == "multiple_choice")
    mc["options"][0]["fraction"] = 0.9            # fractions no longer sum to 1
    items[2]["explanation"] = ""
    items.append(dict(items[3]))                  # duplicate id and text
    qfile.write_text(yaml.safe_dump(items, allow_unicode=True), encoding="utf-8")
    errors = "\n".join(check_bank(bank)["errors"])
    assert f"question {sc['id']}: single_choice needs exactly one option with fraction 1.0" in errors
    assert f"question {mc['id']}: multiple_choice positive fractions must sum to 1.0" in errors
    assert f"question {items[2]['id']}: explanation missing" in errors
    assert f"question id '{items[3]['id']}' used 2 times" in errors
    assert "duplicate of question" in errors


def test_checker_requires_legal_basis_where_a_law_is_cited(tmp_path):
    bank = _copy_bank(tmp_path)
    qfile = next((bank / "courses").glob("05-*/questions.yaml"))
    items = yaml.safe_load(qfile.read_text(encoding="utf-8"))
    cited = next(q for q in items if q.get("legal_basis") and "《" in q["text"])
    del cited["legal_basis"]
    qfile.write_text(yaml.safe_dump(items, allow_unicode=True), encoding="utf-8")
    assert any(f"question {cited['id']}: cites 《" in e for e in check_bank(bank)["errors"])


def test_checker_finds_short_lessons_html_and_unsatisfiable_rules(tmp_path):
    bank = _copy_bank(tmp_path)
    course_dir = min((bank / "courses").glob("*/"))
    spec = yaml.safe_load((course_dir / "course.yaml").read_text(encoding="utf-8"))
    lesson = course_dir / spec["lessons"][0]["file"]
    lesson.write_text("# 短\n\n太短了。<script>alert(1)</script>", encoding="utf-8")
    spec["quiz"]["draw"].append({"type": "essay", "count": 99})
    (course_dir / "course.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    errors = "\n".join(check_bank(bank)["errors"])
    assert f"Chinese characters, expected {content.LESSON_MIN_CJK}–{content.LESSON_MAX_CJK}" in errors
    assert "contains an HTML tag" in errors
    assert "quiz rule needs 99 × essay" in errors


def test_load_is_idempotent_and_a_change_makes_a_new_version(tmp_path, database):
    with session_scope() as s:
        again = load_bank(s)
    assert again.questions_new == 0 and again.questions_new_version == 0 and again.questions_unchanged >= 500
    bank = _copy_bank(tmp_path)
    qfile = next((bank / "courses").glob("*/questions.yaml"))
    items = yaml.safe_load(qfile.read_text(encoding="utf-8"))
    target = items[0]
    target["explanation"] = target["explanation"] + "（修订）"
    qfile.write_text(yaml.safe_dump(items, allow_unicode=True), encoding="utf-8")
    with session_scope() as s:
        old = s.exec(select(QuestionVersion).where(QuestionVersion.question_id == target["id"])).all()
        report = load_bank(s, bank)
        assert report.questions_new_version == 1
        q = s.get(Question, target["id"])
        assert q.current_version == len(old) + 1
        versions = s.exec(select(QuestionVersion).where(QuestionVersion.question_id == target["id"])).all()
        assert {v.version for v in versions} == {v.version for v in old} | {q.current_version}
        # the original text comes back as yet another version; old versions are never rewritten
        report = load_bank(s)
        assert report.questions_new_version == 1


def test_questions_citing_laws_carry_effective_dates():
    bank = check_bank()
    from services.content import read_bank
    laws = {"网络安全法": "2017-06-01", "数据安全法": "2021-09-01", "个人信息保护法": "2021-11-01",
            "保守国家秘密法": "2024-05-01", "密码法": "2020-01-01", "电子商务法": "2019-01-01",
            "电子签名法": "2005-04-01"}
    checked = 0
    for lc in read_bank().courses:
        for q in lc.questions:
            if q.legal_basis is None:
                continue
            for short, date in laws.items():
                if q.legal_basis.law.endswith(short) and "修" not in q.legal_basis.law:
                    if short == "网络安全法" and str(q.legal_basis.effective) == "2026-01-01":
                        continue      # the 2025 amendment, in force from 2026-01-01
                    assert str(q.legal_basis.effective) == date, (q.id, q.legal_basis)
                    checked += 1
    assert checked >= 10 and bank["errors"] == []


# ---------------------------------------------------------------- issue 11: positions, cues, self-checks, minutes

LESSON_BODY = "# 测试课\n\n## 一、内容\n\n" + "政务信息化工作需要扎实推进。" * 70 + "\n\n## 小结\n\n要点。\n"


def _mc(qid, keys, n=5, explanation="说明各个选项的对错。"):
    opts = [{"text": f"正确做法{i}", "fraction": round(1 / keys, 7)} for i in range(keys)]
    opts += [{"text": f"常见误解{i}", "fraction": -0.5} for i in range(n - keys)]
    opts[0]["fraction"] = round(1 - round(1 / keys, 7) * (keys - 1), 7)
    return {"id": qid, "type": "multiple_choice", "text": f"多选题{qid}", "options": opts,
            "explanation": explanation, "category": "测试/子类"}


def _sc(qid, key_text="答案甲", others=("选项乙乙", "选项丙丙", "选项丁丁"), explanation="说明。", usage="both"):
    return {"id": qid, "type": "single_choice", "text": f"单选题{qid}", "usage": usage,
            "options": [{"text": key_text, "fraction": 1.0}] + [{"text": t, "fraction": 0.0} for t in others],
            "explanation": explanation, "category": "测试/子类"}


def _tf(qid, answer, text=None):
    return {"id": qid, "type": "true_false", "text": text or f"判断题{qid}", "answer": answer,
            "explanation": "说明。", "category": "测试"}


def _good_questions():
    return ([_mc("tst-001", 2), _mc("tst-002", 3), _mc("tst-003", 4, n=6), _mc("tst-004", 2, n=4)]
            + [_sc(f"tst-01{i}") for i in range(4)]
            + [_tf("tst-020", True), _tf("tst-021", False), _tf("tst-022", True), _tf("tst-023", False)]
            + [{"id": "tst-030", "type": "essay", "text": "论述题", "explanation": "要点。", "category": "测试",
                "points": 4, "rubric": [{"criterion": "要点", "points": 4}]}])


def _small_bank(tmp_path: Path, questions=None, lessons=None, course_id="tst", quiz=True) -> Path:
    root = tmp_path / "bank"
    folder = root / "courses" / f"01-{course_id}"
    (folder / "lessons").mkdir(parents=True)
    (folder / "lessons" / "01-a.md").write_text(LESSON_BODY, encoding="utf-8")
    spec = {"id": course_id, "title": "测试课程", "category": "测试",
            "lessons": lessons or [{"id": f"{course_id}-l1", "title": "测试课", "file": "lessons/01-a.md",
                                    "minutes": 4}]}
    if quiz:
        spec["quiz"] = {"draw": [{"type": "single_choice", "count": 2}]}
    (folder / "course.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    qs = _good_questions() if questions is None else questions
    if course_id != "tst":
        for q in qs:
            q["id"] = q["id"].replace("tst-", f"{course_id}-")
    (folder / "questions.yaml").write_text(yaml.safe_dump(qs, allow_unicode=True), encoding="utf-8")
    return root


def _errors(root: Path) -> str:
    return "\n".join(check_bank(root)["errors"])


def test_small_bank_is_clean_and_reports_measures(tmp_path):
    report = check_bank(_small_bank(tmp_path))
    assert report["errors"] == []
    cues = report["cue_measures"]["by_course"]["tst"]
    assert cues["multiple_choice"]["key_counts"] == {"2": 2, "3": 1, "4": 1}
    assert cues["multiple_choice"]["max_count_share"] == 0.5
    assert cues["single_choice"]["key_strictly_longest_share"] == 0.0
    assert cues["true_false"]["share_true"] == 0.5
    assert report["cue_measures"]["bank"]["multiple_choice"]["items"] == 4


@pytest.mark.parametrize("explanation", ["后两项不在其中。", "选项A和C正确。", "A、C 两项正确", "以上都不对。",
                                         "第一项是对的", "前两项属于计划。", "后两个选项不是目标。"])
def test_explanations_pointing_at_positions_are_rejected_for_shuffled_options(tmp_path, explanation):
    qs = _good_questions()
    qs[0]["explanation"] = explanation                      # multiple choice
    qs[4]["explanation"] = explanation                      # single choice
    qs[8]["explanation"] = explanation                      # true/false: no options, nothing shuffled
    errors = _errors(_small_bank(tmp_path, qs))
    assert "question tst-001: the explanation points at an option's position" in errors
    assert "question tst-010: the explanation points at an option's position" in errors
    assert "tst-020" not in errors


def test_explanations_naming_options_or_parameters_pass(tmp_path):
    qs = _good_questions()
    qs[0]["explanation"] = "\"金字工程推广计划\"不是行动计划；VLOOKUP 第四个参数写 FALSE；B2C和C2C都是模式。"
    assert _errors(_small_bank(tmp_path, qs)) == ""


def test_one_number_of_keys_on_most_multiple_choice_items_is_an_error(tmp_path):
    qs = [q for q in _good_questions() if q["type"] != "multiple_choice"]
    qs += [_mc(f"tst-00{i}", 3) for i in range(4)] + [_mc("tst-009", 2)]
    errors = _errors(_small_bank(tmp_path, qs))
    assert "01-tst: cue: multiple choice: one number of keys covers 80% of the items" in errors
    assert "bank: cue: multiple choice: one number of keys covers 80%" in errors


def test_multiple_choice_keys_and_options_in_range(tmp_path):
    qs = _good_questions()
    qs[1] = _mc("tst-002", 5, n=6)                           # 5 keys
    qs[2] = _mc("tst-003", 2, n=7)                           # 7 options
    errors = _errors(_small_bank(tmp_path, qs))
    assert "multiple choice needs 2–4 keys of 4–6 options: tst-002, tst-003" in errors


def test_key_strictly_longest_above_30_percent_is_an_error(tmp_path):
    qs = _good_questions()
    qs[4] = _sc("tst-010", key_text="这是明显更长更完整的正确答案")
    qs[5] = _sc("tst-011", key_text="这是明显更长更完整的正确答案")
    errors = _errors(_small_bank(tmp_path, qs))
    assert "single choice: the key is strictly the longest option in 50% of the items (at most 30%)" in errors
    qs[5] = _sc("tst-011", key_text="选项戊戊")                # as long as the longest distractor: not strictly
    assert "strictly the longest" not in _errors(_small_bank(tmp_path / "b", qs))


def test_true_false_share_and_absolute_words(tmp_path):
    qs = [q for q in _good_questions() if q["type"] != "true_false"]
    errors = _errors(_small_bank(tmp_path, qs + [_tf(f"tst-02{i}", False) for i in range(4)]))
    assert "true/false: 0% keyed true (expected 30%–70%)" in errors
    absolute = [_tf(f"tst-04{i}", False, f"所有单位必须第{i}次统一办理。") for i in range(5)]
    balanced = [_tf(f"tst-05{i}", True) for i in range(5)]
    errors = _errors(_small_bank(tmp_path / "b", qs + absolute + balanced))
    assert "keyed true (expected" not in errors.split("absolute")[0]       # overall 50 %: fine
    assert "true/false with absolute words" in errors and "0% of 5 keyed true" in errors
    only_if = [_tf("tst-060", False, "只要签了字就有效。"), _tf("tst-061", False, "只要上报了就算完成。"),
               _tf("tst-062", False, "只要登记了就能查询。")]
    errors = _errors(_small_bank(tmp_path / "c", qs + balanced[:3] + only_if))
    assert "all 3 \"只要…就\" statements have the same answer" in errors
    only_if[0]["answer"] = True
    assert "statements have the same answer" not in _errors(_small_bank(tmp_path / "d", qs + balanced[:3] + only_if))


def test_cue_words_in_wrong_options_only_is_an_error(tmp_path):
    qs = _good_questions()
    for i in range(4):
        qs[4 + i] = _sc(f"tst-01{i}", others=("一律直接办理", "随意处理", "常见误解"))
    errors = _errors(_small_bank(tmp_path, qs))
    assert "cue words (只要、一律、随意、直接、取消) in" in errors and "of wrong options but 0% of right ones" in errors


def test_courses_still_being_rewritten_get_warnings_not_errors(tmp_path, monkeypatch):
    qs = [q for q in _good_questions() if q["type"] != "true_false"] + [_tf(f"tst-02{i}", False) for i in range(4)]
    root = _small_bank(tmp_path, qs)
    monkeypatch.setattr(content, "CUE_PENDING", frozenset({"tst"}))
    report = check_bank(root)
    assert report["errors"] == []
    assert any("01-tst: cue: true/false: 0% keyed true" in w for w in report["warnings"])
    assert any(w.startswith("bank: cue: true/false") for w in report["warnings"])
    assert report["cue_measures"]["pending_courses"] == ["tst"]


def test_lesson_checks_must_be_practice_usable_questions_of_the_course(tmp_path):
    qs = _good_questions() + [_sc("tst-019", usage="exam")]
    lessons = [{"id": "tst-l1", "title": "测试课", "file": "lessons/01-a.md", "minutes": 4,
                "checks": ["tst-001", "tst-999", "tst-019", "tst-030", "tst-020", "tst-020"]}]
    errors = _errors(_small_bank(tmp_path, qs, lessons))
    assert "lesson tst-l1 checks: no question 'tst-999' in this course" in errors
    assert "lesson tst-l1 checks: question tst-019 is exam-only" in errors
    assert "lesson tst-l1 checks: question tst-030 is an essay" in errors
    assert "lesson tst-l1 checks: tst-020 listed more than once" in errors
    assert "tst-001" not in errors
    lessons[0]["checks"] = ["tst-001", "tst-010", "tst-020"]
    assert _errors(_small_bank(tmp_path / "b", qs, lessons)) == ""


def test_study_minutes_estimate_hours_on_offer_and_over_estimate_errors(tmp_path):
    lessons = [{"id": "tst-l1", "title": "甲", "file": "lessons/01-a.md", "minutes": 30, "media_minutes": 27},
               {"id": "tst-l2", "title": "乙", "file": "lessons/01-a.md", "minutes": 20, "checks": ["tst-001"]},
               {"id": "tst-l3", "title": "丙", "file": "lessons/01-a.md", "minutes": 4}]
    report = check_bank(_small_bank(tmp_path, lessons=lessons))
    chars, estimate = content.estimate_minutes(LESSON_BODY)
    assert chars == len("测试课一、内容" + "政务信息化工作需要扎实推进。" * 70 + "小结要点。")
    assert estimate == round(chars / 300, 1)
    rows = {r["id"]: r for r in report["lesson_estimates"]}
    assert rows["tst-l1"]["estimated_minutes"] == round(chars / 300 + 27, 1)
    assert rows["tst-l2"]["estimated_minutes"] == round(chars / 300 + 1, 1)
    assert report["hours_on_offer"] == 1.0 + 0.5 + 0.25 + 0.5      # lessons by their tiers + the quiz
    assert [r["id"] for r in report["lessons_over_estimate"]] == ["tst-l2"]   # 20 > 1.25 × 4.3
    assert [e for e in report["errors"] if "declares" in e] == [e for e in report["errors"] if "declares 20 min" in e] != []


def test_legal_basis_amendments_are_validated_and_recorded():
    base = {"type": "true_false", "text": "判断", "answer": True, "explanation": "说明", "category": "测试"}
    ok = QuestionIn.model_validate(base | {"legal_basis": {"law": "中华人民共和国电子签名法", "effective": "2005-04-01",
                                                           "amended": ["2015-04-24", "2019-04-23"]}})
    assert str(ok.legal_basis.current_text_since) == "2019-04-23"
    for bad in (["2019-04-23", "2015-04-24"], ["2004-01-01"], []):
        with pytest.raises(ValueError):
            QuestionIn.model_validate(base | {"legal_basis": {"law": "某法", "effective": "2005-04-01", "amended": bad}})
    signature = [q for lc in content.read_bank().courses for q in lc.questions
                 if q.legal_basis and q.legal_basis.law.endswith("电子签名法")]
    current = [q for q in signature if q.legal_basis.amended]
    assert len(current) >= 8
    assert all([str(d) for d in q.legal_basis.amended] == ["2015-04-24", "2019-04-23"] for q in current)


def test_load_stores_lesson_checks_and_leaves_the_commit_to_the_caller(tmp_path, database):
    bank = _copy_bank(tmp_path)
    course_dir = min((bank / "courses").glob("01-*"))
    spec = yaml.safe_load((course_dir / "course.yaml").read_text(encoding="utf-8"))
    items = yaml.safe_load((course_dir / "questions.yaml").read_text(encoding="utf-8"))
    picks = [q["id"] for q in items if q.get("usage", "both") != "exam" and q["type"] != "essay"][:2]
    lesson_id = spec["lessons"][-1]["id"]
    spec["lessons"][-1]["checks"] = picks
    (course_dir / "course.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    with Session(get_engine()) as s:          # no commit: load_bank only flushes
        load_bank(s, bank)
        assert s.get(Lesson, lesson_id).checks == picks
        s.rollback()
    with session_scope() as s:
        before = s.get(Lesson, lesson_id).checks
        assert before != picks
        load_bank(s, bank)
    with session_scope() as s:
        assert s.get(Lesson, lesson_id).checks == picks
        load_bank(s)                            # the real bank again
    with session_scope() as s:
        assert s.get(Lesson, lesson_id).checks == before


def test_lessons_of_courses_01_to_05_carry_self_checks_and_the_database_has_them(database):
    report = check_bank()
    rows = [r for r in report["lesson_estimates"] if r["course"] in {"strat", "egov", "share", "sec", "law"}]
    assert len(rows) == 30 and all(3 <= r["checks"] <= 5 for r in rows)
    spec = next(lc.spec for lc in content.read_bank().courses if lc.spec.id == "sec")
    with session_scope() as s:
        for ls in spec.lessons:
            assert s.get(Lesson, ls.id).checks == ls.checks
