"""The demo organisation and the CLI, on a database of their own."""
import json
import os
import subprocess
import sys

from sqlmodel import Session, func, select

from config import ROOT
from models import CourseCompletion, LedgerEntry, LessonProgress, OrgUnit, User
from models.db import get_engine
from tests.dbutil import fresh_database_url


def cli(*args, url, stdin=None):
    return subprocess.run([sys.executable, "cli.py", *args], cwd=ROOT, capture_output=True, text=True, input=stdin,
                          env={**os.environ, "DATABASE_URL": url}, timeout=600)


def test_cli_end_to_end_on_a_fresh_database(tmp_path):
    url = fresh_database_url("cli")
    assert cli("db", "upgrade", url=url).returncode == 0
    first = cli("content", "load", url=url)
    assert first.returncode == 0 and json.loads(first.stdout)["questions_new"] >= 500
    again = json.loads(cli("content", "load", url=url).stdout)
    assert again["questions_new"] == 0 and again["questions_new_version"] == 0
    demo = cli("demo", "--learners", "120", "--seed", "7", url=url)
    assert demo.returncode == 0, demo.stderr
    assert "hr_hbw" in demo.stdout and "trainer01" in demo.stdout
    assert cli("demo", url=url).returncode == 1            # only once
    made = cli("users", "create", "--username", "li.ming", "--name", "李明", "--role", "hr", "--unit", "WH-HBW",
               "--password-stdin", url=url, stdin="Strong2026pw\n")
    assert made.returncode == 0, made.stderr
    assert cli("users", "create", "--username", "x.y", "--name", "某", "--unit", "NOPE", url=url).returncode == 1
    weak = cli("users", "create", "--username", "w.k", "--name", "某", "--password-stdin", url=url, stdin="weak\n")
    assert weak.returncode == 1 and "password_too_short" in weak.stderr
    people = tmp_path / "people.csv"
    people.write_text("用户名,姓名,单位编码\nzhao.yi,赵一,WH-HN\nqian.er,钱二,WH-NOPE\n", encoding="utf-8")
    bad = cli("users", "import", str(people), url=url)
    assert bad.returncode == 1 and "row 3" in bad.stderr
    people.write_text("用户名,姓名,单位编码\nzhao.yi,赵一,WH-HN\nqian.er,钱二,WH-WD\n", encoding="utf-8")
    good = cli("users", "import", str(people), url=url)
    assert good.returncode == 0 and "imported 2" in good.stdout
    from openpyxl import load_workbook
    sheet = load_workbook(tmp_path / "people-initial-passwords.xlsx").active
    assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == ["zhao.yi", "qian.er"]
    assert cli("users", "import", str(people), url=url).returncode == 1   # never overwrites a password file

    engine = get_engine(url)
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(OrgUnit)).one() >= 80
        names = {u.name for u in s.exec(select(OrgUnit).where(OrgUnit.depth == 1))}
        assert {"海勃湾区", "乌达区", "海南区"} <= names
        assert s.exec(select(func.count()).select_from(User).where(User.username.startswith("wh"))).one() == 120
        # 学时 per lesson done (design.md §2): a ledger row for every completed lesson, none per course
        # (completions are records of their own); no source is credited twice (unique key)
        completions = s.exec(select(func.count()).select_from(CourseCompletion)).one()
        lessons_done = s.exec(select(func.count()).select_from(LessonProgress).where(LessonProgress.completed_at.is_not(None))).one()
        lesson_rows = s.exec(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.source_type == "lesson")).one()
        assert completions > 0 and lessons_done == lesson_rows > completions
        assert s.exec(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.source_type == "course")).one() == 0
        stations = s.exec(select(func.count()).select_from(OrgUnit).where(OrgUnit.kind == "station")).one()
        assert stations >= 20
    if url.startswith("sqlite"):
        backup = tmp_path / "copy.db"
        out = cli("backup", str(backup), url=url)
        assert out.returncode == 0 and "integrity ok" in out.stdout
        with Session(get_engine(f"sqlite:///{backup}")) as s:
            assert s.exec(select(func.count()).select_from(User)).one() >= 123
    engine.dispose()


def test_demo_is_deterministic_per_seed():
    from models.migrate import upgrade_db
    from models.db import session_scope
    from services import demo
    from services.content import load_bank
    from services.permissions import system_actor
    totals = []
    for _ in range(2):
        url = fresh_database_url("demo")
        upgrade_db(url)
        with session_scope(url) as s:
            load_bank(s)
            demo.load_demo(s, system_actor(), learners=60, seed=11)
            totals.append(s.exec(select(func.sum(LedgerEntry.hours))).one())
        get_engine(url).dispose()
    assert totals[0] == totals[1] and totals[0] > 0
