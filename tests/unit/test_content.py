import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from sqlmodel import select

from config import ROOT
from models import Question, QuestionVersion
from models.db import session_scope
from services.content import check_bank, load_bank


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
    dst = tmp_path / "bank"
    shutil.copytree(ROOT / "question_bank", dst)
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
    course_dir = next((bank / "courses").glob("*/"))
    spec = yaml.safe_load((course_dir / "course.yaml").read_text(encoding="utf-8"))
    lesson = course_dir / spec["lessons"][0]["file"]
    lesson.write_text("# 短\n\n太短了。<script>alert(1)</script>", encoding="utf-8")
    spec["quiz"]["draw"].append({"type": "essay", "count": 99})
    (course_dir / "course.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    errors = "\n".join(check_bank(bank)["errors"])
    assert "Chinese characters, expected 800–2500" in errors
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
