"""The CLI contracts of the bank and course packages (people and outside checks rely on them):
`questions import FILE [--format] [--dry-run] [--json]`, `questions export`, `courses import/export`."""
import json
import os
import subprocess
import sys

import pytest

from config import ROOT
from tests.dbutil import fresh_database_url

FIX = ROOT / "tests" / "fixtures" / "moodle"


def cli(*args, url):
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], check=False, cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "DATABASE_URL": url}, timeout=300)


@pytest.fixture(scope="module")
def url():
    url = fresh_database_url("clibank")
    assert cli("content", "load", url=url).returncode == 0
    return url


def test_dry_run_json_contract(url):
    r = cli("questions", "import", str(FIX / "gift_questions.gift.txt"), "--dry-run", "--json", url=url)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= {"ok", "format", "count", "questions", "errors"}
    assert out["ok"] is True and out["format"] == "gift" and out["count"] == 9 and out["errors"] == []
    q = next(q for q in out["questions"] if q["type"] == "multiple_choice")
    assert [o["fraction"] for o in q["options"]] == [0.5, -1.0, 0.5, -1.0] and "text" in q["options"][0]
    assert {"numerical", "matching", "essay", "true_false", "fill_blank", "single_choice"} <= {q["type"] for q in out["questions"]}
    assert "written" not in out


def test_errors_exit_1_with_lines_and_write_nothing(url, tmp_path):
    r = cli("questions", "import", str(FIX / "aiken_errors.txt"), "--format", "aiken", "--json", url=url)
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["ok"] is False and out["count"] == 3 and [e["line"] for e in out["errors"]] == [3, 5, 7, 18]
    assert "written" not in out
    export = tmp_path / "all.yaml"
    assert cli("questions", "export", "--format", "yaml", "--out", str(export), "--category", "导入题目", url=url).returncode == 0
    assert export.read_text(encoding="utf-8").strip() == "[]"          # nothing of the failed file is in the bank


def test_import_writes_then_export_round_trips(url, tmp_path):
    r = cli("questions", "import", str(FIX / "xml_nested_categories_with_questions.xml"), "--json", url=url)
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["written"]["created"]) == 5
    out = tmp_path / "iota.gift"
    r = cli("questions", "export", "--format", "gift", "--out", str(out), "--category", "Iota", url=url)
    assert r.returncode == 0 and "cannot hold" in r.stdout
    back = cli("questions", "import", str(out), "--dry-run", "--json", url=url)
    assert json.loads(back.stdout)["count"] == 5


def test_bad_format_is_a_usage_error(url):
    r = cli("questions", "import", str(FIX / "aiken_errors.txt"), "--format", "docx", url=url)
    assert r.returncode == 2 and "unknown format" in r.stderr


def test_course_package_export_and_dry_run_import(url, tmp_path):
    pkg = tmp_path / "strat.zip"
    assert cli("courses", "export", "strat", "--out", str(pkg), url=url).returncode == 0
    r = cli("courses", "import", str(pkg), "--dry-run", "--json", url=url)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["ok"] and out["course"] == "strat" and out["lessons"] == 6
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    r = cli("courses", "import", str(bad), "--json", url=url)
    assert r.returncode == 1 and json.loads(r.stdout)["errors"] == ["not a .zip file"]
