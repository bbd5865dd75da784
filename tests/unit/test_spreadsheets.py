"""Every spreadsheet we hand out goes through services/spreadsheets.py and stores user strings as
text: no cell is ever a formula, whatever a name starts with."""
import csv
import io
import re
from datetime import UTC, datetime

import pandas as pd
import pytest
from openpyxl import load_workbook
from sqlalchemy import insert

from config import ROOT
from models import RoleGrant, User
from models.db import session_scope, utcnow
from services import reports, spreadsheets, user_import
from tests.conftest import uid

EVIL = ["=1+1", '=HYPERLINK("http://x","y")', "+1", "-1", "@SUM(A1)", "\t=1+1", "\r=1+1", "=cmd|' /C calc'!A0",
        "-2+3", "+SUM(1,2)"]


def _as_read(value: str) -> str:
    """What any XML reader gives back: XML turns a carriage return into a line feed."""
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _cells(data: bytes):
    wb = load_workbook(io.BytesIO(data))
    return [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]


def _assert_no_formula(data: bytes) -> list:
    cells = _cells(data)
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    return cells


def test_the_writer_keeps_formula_like_strings_as_text():
    data = spreadsheets.table_xlsx(columns=["名字", spreadsheets.Column("学时", number_format="0.00")],
                                   rows=[(name, 1.5) for name in EVIL], title_rows=["=标题", "+副标题"])
    cells = _assert_no_formula(data)
    values = [c.value for c in cells if isinstance(c.value, str)]
    for name in EVIL + ["=标题", "+副标题"]:
        assert _as_read(name) in values
    quoted = {c.value for c in cells if c.quotePrefix}
    assert {"=1+1", "+1", "-1", "@SUM(A1)", "=标题"} <= quoted and "名字" not in quoted


def test_numbers_dates_and_missing_values_keep_their_types():
    when = datetime(2026, 3, 1, 2, 30, tzinfo=UTC)
    data = spreadsheets.table_xlsx(columns=["a", "b", "c", "d", "e"],
                                   rows=[(-1, 2.5, when, None, True), (pd.NA, float("nan"), pd.NaT, "x", False)])
    ws = load_workbook(io.BytesIO(data)).active
    assert [c.value for c in ws[2]] == [-1, 2.5, datetime(2026, 3, 1, 10, 30), None, True]   # city time
    assert [c.value for c in ws[3]] == [None, None, None, "x", False]


def test_characters_xml_cannot_carry_do_not_crash_an_export():
    data = spreadsheets.table_xlsx(columns=["姓名"], rows=[("张\x00三",), ("\x1b[31m",)])
    assert [c.value for c in _cells(data)][1:] == ["张\ufffd三", "\ufffd[31m"]


def test_csv_cells_that_would_be_formulas_get_an_apostrophe():
    data = spreadsheets.table_csv(columns=["名字", "学时"], rows=[(name, -1) for name in EVIL] + [("普通", 2.5)])
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["名字", "学时"]
    assert [r[0] for r in rows[1:-1]] == ["'" + name for name in EVIL]
    assert rows[-1] == ["普通", "2.5"] and rows[1][1] == "-1"      # numbers are numbers, not text


def _evil_people(tree) -> tuple[int, list[str]]:
    """Learners whose names start like formulas, stored as they might be in old data (written
    straight to the table, past today's input checks)."""
    from services import org
    from services.permissions import system_actor
    with session_scope() as s:
        unit = org.create_unit(s, system_actor(), code=uid("F"), name="=HYPERLINK(\"http://x\",\"单位\")",
                               parent_id=tree["district"])
        unit_id = unit.id
    tag = uid("f")
    with session_scope() as s:
        ids = [r[0] for r in s.execute(insert(User).returning(User.id), [
            {"username": f"{tag}{i}", "name": name, "unit_id": unit_id, "password_hash": "x",
             "must_change_password": True, "locale": "zh-CN", "active": True, "failed_logins": 0,
             "created_at": utcnow()} for i, name in enumerate(EVIL)])]
        s.execute(insert(RoleGrant), [{"user_id": i, "role": "learner", "scope_unit_id": None} for i in ids])
    return unit_id, EVIL


def _hr_export(session, make_user, tree) -> bytes:
    unit_id, _ = _evil_people(tree)
    hr = make_user(("hr", "district"), unit="district")
    df = reports.people(session, hr, unit_id=unit_id)
    headers = {"username": "用户名", "name": "姓名", "unit": "单位", "hours": "学时合计", "target": "年度目标",
               "gap": "距目标差", "required_done": "已完成必修课"}
    return reports.people_xlsx(df, headers, title_rows=["学时达标人员明细 · =HYPERLINK(\"http://x\",\"单位\")"])


def _passwords_file(session, make_user, tree) -> bytes:
    result = user_import.ImportResult(created=len(EVIL), credentials=[(uid(), name, "Abcd-efg234") for name in EVIL])
    return result.credentials_xlsx()


EXPORTS = {
    "hr_people": _hr_export,
    "initial_passwords": _passwords_file,
    "import_template": lambda session, make_user, tree: user_import.template_xlsx(),
}


@pytest.mark.parametrize("export", list(EXPORTS))
def test_every_exported_xlsx_has_no_formula_cell(session, make_user, tree, export):
    data = EXPORTS[export](session, make_user, tree)
    cells = _assert_no_formula(data)
    if export != "import_template":
        values = [c.value for c in cells]
        for name in EVIL:
            assert _as_read(name) in values, name


def test_the_csv_template_goes_through_the_writer():
    rows = list(csv.reader(io.StringIO(user_import.template_csv().decode("utf-8-sig"))))
    assert rows[0] == user_import.TEMPLATE_HEADERS and len(rows) == 2


def test_no_other_module_writes_spreadsheets():
    """One writer: nothing else in the app builds a workbook by hand, and a CSV writer elsewhere
    passes every cell through spreadsheets.csv_cell."""
    workbook = re.compile(r"\bWorkbook\(|\.to_excel\(|\.to_csv\(|\bxlsxwriter\b")
    files = [*(ROOT / "services").rglob("*.py"), *(ROOT / "pages").rglob("*.py"), *(ROOT / "ui").rglob("*.py"),
             ROOT / "cli.py", ROOT / "app.py"]
    offenders = []
    for path in files:
        if path.name == "spreadsheets.py":
            continue
        src = path.read_text(encoding="utf-8")
        if workbook.search(src) or ("csv.writer(" in src and "csv_cell" not in src):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
