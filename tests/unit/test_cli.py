"""cli.py: a backup never goes onto the live database, and an import is one unit of work with its
audit row and its passwords file."""
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from config import ROOT
from models import AuditLog, User
from models.db import get_engine
from tests.dbutil import fresh_database_url

pytestmark = pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")),
                                reason="the backup command copies the embedded SQLite database")


def cli(*args, url, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], check=False, cwd=cwd, capture_output=True,
                          text=True,
                          env={**os.environ, "DATABASE_URL": url}, timeout=300)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A database of its own with one unit to import into."""
    url = fresh_database_url("clitest")
    assert cli("db", "upgrade", url=url).returncode == 0
    db = Path(url.removeprefix("sqlite:///"))
    con = sqlite3.connect(db)
    with con:
        con.execute("INSERT INTO org_unit (code, name, kind, path, depth, active, created_at) "
                    "VALUES ('CLI-U', '命令行单位', 'unit', '/1/', 0, 1, '2026-01-01 00:00:00')")
    con.close()
    return {"url": url, "db": db}


def _fingerprint(db: Path) -> tuple[str, int]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0], con.execute("SELECT count(*) FROM org_unit").fetchone()[0]
    finally:
        con.close()


def _aliases(db: Path, tmp: Path) -> dict[str, tuple[str, Path]]:
    """Every way of naming the live file: (argument, working directory)."""
    link = tmp / "link.db"
    link.symlink_to(db)
    dir_link = tmp / "dir-link"
    dir_link.symlink_to(db.parent, target_is_directory=True)
    hard = db.parent / "hard.db"
    if not hard.exists():
        os.link(db, hard)
    return {
        "same path": (str(db), ROOT),
        "relative path": (db.name, db.parent),
        "dot segments": (str(db.parent / "." / ".." / db.parent.name / db.name), ROOT),
        "symlink to the file": (str(link), ROOT),
        "through a symlinked folder": (str(dir_link / db.name), ROOT),
        "hard link": (str(hard), ROOT),
        "its write-ahead log": (str(db) + "-wal", ROOT),
    }


def test_backup_onto_the_live_database_is_refused(live, tmp_path):
    before = _fingerprint(live["db"])
    size = live["db"].stat().st_size
    for how, (arg, cwd) in _aliases(live["db"], tmp_path).items():
        out = cli("backup", arg, url=live["url"], cwd=cwd)
        assert out.returncode != 0, how
        assert "refused" in out.stderr and "live database" in out.stderr, (how, out.stderr)
        assert "written" not in out.stdout, how
    assert _fingerprint(live["db"]) == before and live["db"].stat().st_size == size


def test_backup_to_another_file_is_a_consistent_copy(live, tmp_path):
    copy = tmp_path / "sub" / "copy.db"
    out = cli("backup", str(copy), url=live["url"])
    assert out.returncode == 0 and "integrity ok" in out.stdout, out.stderr
    assert _fingerprint(copy) == _fingerprint(live["db"])
    assert cli("backup", str(tmp_path), url=live["url"]).returncode != 0      # a folder is not a file name


def _users(url, prefix) -> int:
    with Session(get_engine(url)) as s:
        return s.exec(select(func.count()).select_from(User).where(User.username.startswith(prefix))).one()


def _import_audits(url) -> list[dict]:
    with Session(get_engine(url)) as s:
        return [d for d in s.exec(select(AuditLog.detail).where(AuditLog.action == "user.import")).all()]


def test_import_commits_accounts_audit_row_and_passwords_file_together(live, tmp_path):
    people = tmp_path / "people.csv"
    people.write_text("用户名,姓名,单位编码\ncli.a,甲,CLI-U\ncli.b,=1+1,CLI-U\n", encoding="utf-8")
    audits = len(_import_audits(live["url"]))
    nowhere = tmp_path / "no-such-folder" / "pw.xlsx"
    bad = cli("users", "import", str(people), "--passwords-out", str(nowhere), url=live["url"])
    assert bad.returncode == 1 and "nothing imported" in bad.stderr
    assert _users(live["url"], "cli.") == 0 and len(_import_audits(live["url"])) == audits and not nowhere.exists()

    good = cli("users", "import", str(people), url=live["url"])
    assert good.returncode == 0 and "imported 2" in good.stdout, good.stderr
    assert _users(live["url"], "cli.") == 2 and _import_audits(live["url"])[audits:] == [{"count": 2}]
    out = tmp_path / "people-initial-passwords.xlsx"
    assert out.stat().st_mode & 0o777 == 0o600
    from openpyxl import load_workbook
    sheet = load_workbook(out).active
    assert [r[:2] for r in sheet.iter_rows(min_row=2, values_only=True)] == [("cli.a", "甲"), ("cli.b", "=1+1")]
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


def test_import_refuses_a_control_character_and_names_the_row(live, tmp_path):
    people = tmp_path / "ctl.csv"
    people.write_bytes("用户名,姓名,单位编码\ncli.c,张\x00三,CLI-U\n".encode())
    out = cli("users", "import", str(people), url=live["url"])
    assert out.returncode == 1 and "row 2 [姓名]" in out.stderr and "error.control_chars" in out.stderr
    assert "\x00" not in out.stderr and _users(live["url"], "cli.c") == 0
