import csv
import io
import time

import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import func, select

from models import RoleGrant, User
from services import auth, user_import
from services.errors import ValidationFailed
from tests.conftest import uid

HEADER = ["用户名", "姓名", "单位编码", "角色", "管理范围", "工号", "手机", "邮箱", "初始密码"]


def xlsx(rows, header=HEADER) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv_bytes(rows, header=HEADER, encoding="utf-8-sig") -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode(encoding)


def count_users(session) -> int:
    return session.exec(select(func.count()).select_from(User)).one()


def test_template_is_importable_header(session, make_user):
    admin = make_user("admin")
    wb = load_workbook(io.BytesIO(user_import.template_xlsx()))
    assert [c.value for c in wb.active[1]] == HEADER
    plan = user_import.plan_import(session, admin, filename="t.csv", data=user_import.template_csv())
    assert {e.code for e in plan.errors} == {"error.import_unknown_unit"}   # only the sample unit code is unknown


def test_valid_file_imports_all_rows_with_roles_and_forced_change(session, make_user, tree):
    admin = make_user("admin")
    c = tree["codes"]
    a, b, d = uid(), uid(), uid()
    data = xlsx([[a, "甲", c["village"], "", "", "001", "13912345678", "a@example.com", ""],
                 [b, "乙", c["district"], "学员,人事", c["district"], "", "", "", ""],
                 [d, "丙", c["dept"], "培训师", "", "", "", "", "Own1234pw"]])
    plan = user_import.plan_import(session, admin, filename="people.xlsx", data=data)
    assert plan.ok, plan.errors
    result = user_import.apply_import(session, admin, plan=plan)
    assert result.created == 3
    generated = {u: pw for u, _, pw in result.credentials}
    assert set(generated) == {a, b} and generated[a] != generated[b]      # own random password each
    ua = session.exec(select(User).where(User.username == a)).one()
    assert ua.must_change_password and auth.verify_password(ua.password_hash, generated[a])
    assert ua.password_hash.startswith("$argon2id$")
    sheet = load_workbook(io.BytesIO(result.credentials_xlsx())).active
    assert [c.value for c in sheet[2]] == [a, "甲", generated[a]]
    # the light initial hash is upgraded to the full Argon2 parameters at the first sign-in
    auth.authenticate(session, username=a, password=generated[a])
    session.refresh(ua)
    assert auth.verify_password(ua.password_hash, generated[a]) and "m=1024" not in ua.password_hash
    assert ua.phone == "13912345678" and ua.unit_id == tree["village"]
    ud = session.exec(select(User).where(User.username == d)).one()
    assert auth.verify_password(ud.password_hash, "Own1234pw")
    ub = session.exec(select(User).where(User.username == b)).one()
    grants = {(g.role, g.scope_unit_id) for g in session.exec(select(RoleGrant).where(RoleGrant.user_id == ub.id))}
    assert grants == {("learner", None), ("hr", tree["district"])}
    dgrants = {(g.role, g.scope_unit_id) for g in session.exec(select(RoleGrant).where(RoleGrant.user_id == ud.id))}
    assert dgrants == {("trainer", tree["dept"])}     # scope defaults to the person's own unit


def test_every_error_is_reported_with_row_and_nothing_written(session, make_user, tree):
    admin = make_user("admin")
    existing = make_user("learner")
    c = tree["codes"]
    dup = uid()
    rows = [
        [uid(), "好人", c["village"], "", "", "", "", "", ""],                    # row 2 fine
        [dup, "甲", c["village"], "", "", "", "", "", ""],                        # row 3
        [dup, "乙", c["village"], "", "", "", "", "", ""],                        # row 4 duplicate in file
        [existing.username, "丙", c["village"], "", "", "", "", "", ""],          # row 5 exists in DB
        [uid(), "丁", "NO-SUCH-UNIT", "", "", "", "", "", ""],                     # row 6 unknown unit
        [uid(), "", c["village"], "", "", "", "", "", ""],                        # row 7 missing name
        ["x!", "戊", c["village"], "", "", "", "", "", ""],                       # row 8 bad username
        [uid(), "己", c["village"], "校长", "", "", "", "", ""],                   # row 9 unknown role
        [uid(), "庚", c["village"], "", "", "", "12345", "no-at-sign", ""],        # row 10 bad phone + email
        [uid(), "辛", c["village"], "", c["town"], "", "", "", ""],                # row 11 scope without role
        [uid(), "壬", c["village"], "", "", "", "", "", "short"],                 # row 12 weak password
    ]
    before = count_users(session)
    plan = user_import.plan_import(session, admin, filename="bad.csv", data=csv_bytes(rows))
    found = {(e.row, e.code) for e in plan.errors}
    assert found == {(4, "error.import_dup_in_file"), (5, "error.username_taken"), (6, "error.import_unknown_unit"),
                     (7, "error.import_required"), (8, "error.username_format"), (9, "error.import_unknown_role"),
                     (10, "error.import_bad_phone"), (10, "error.import_bad_email"),
                     (11, "error.import_scope_without_role"), (12, "error.password_too_short")}
    assert next(e for e in plan.errors if e.row == 4).params == {"other": 3}
    with pytest.raises(ValidationFailed):
        user_import.apply_import(session, admin, plan=plan)
    assert count_users(session) == before


def test_wrong_headers_and_file_types(session, make_user):
    admin = make_user("admin")
    plan = user_import.plan_import(session, admin, filename="a.csv", data=csv_bytes([], header=["账号名", "姓名"]))
    codes = {(e.row, e.code) for e in plan.errors}
    assert (1, "error.import_unknown_column") in codes and (1, "error.import_missing_column") in codes
    assert not plan.ok
    assert user_import.plan_import(session, admin, filename="a.csv", data=csv_bytes([])).errors[0].code == "error.import_no_rows"
    with pytest.raises(ValidationFailed) as exc:
        user_import.plan_import(session, admin, filename="a.xls", data=b"x")
    assert exc.value.code == "error.import_file_type"
    with pytest.raises(ValidationFailed) as exc:
        user_import.plan_import(session, admin, filename="a.xlsx", data=b"not a zip")
    assert exc.value.code == "error.import_unreadable"


def test_usernames_are_unique_regardless_of_case_and_lengths_are_checked(session, make_user, tree):
    admin = make_user("admin")
    existing = make_user("learner")
    c = tree["codes"]["town"]
    rows = [[existing.username.upper(), "甲", c, "", "", "", "", "", ""],
            [uid(), "乙", c, "", "", "E" * 40, "", "", ""],
            [uid(), "丙", c, "", "", "", "", "x" * 130 + "@a.cn", ""]]
    plan = user_import.plan_import(session, admin, filename="a.csv", data=csv_bytes(rows))
    assert {(e.row, e.code) for e in plan.errors} == {(2, "error.username_taken"), (3, "error.import_too_long"),
                                                      (4, "error.import_too_long")}


def test_gbk_csv_from_chinese_excel(session, make_user, tree):
    admin = make_user("admin")
    name = uid()
    data = csv_bytes([[name, "张三", tree["codes"]["town"], "学员", "", "", "", "", ""]], encoding="gb18030")
    plan = user_import.plan_import(session, admin, filename="gbk.csv", data=data)
    assert plan.ok and plan.rows[0]["name"] == "张三"


def test_failure_during_write_leaves_nothing(session, make_user, tree, monkeypatch):
    """All-or-nothing: a failure half-way through the write rolls everything back."""
    from models.db import session_scope
    admin = make_user("admin")
    names = [uid() for _ in range(50)]
    plan = user_import.plan_import(session, admin, filename="a.csv",
                                   data=csv_bytes([[n, "某", tree["codes"]["town"], "", "", "", "", "", ""] for n in names]))
    assert plan.ok
    plan.rows[30]["unit"] = "GONE"          # the unit vanished between validation and write
    with pytest.raises(KeyError):
        with session_scope() as s:
            user_import.apply_import(s, admin, plan=plan)
    assert session.exec(select(func.count()).select_from(User).where(User.username.in_(names))).one() == 0


def test_twenty_thousand_rows(session, make_user, tree):
    admin = make_user("admin")
    tag = uid("b")
    rows = [[f"{tag}{i:05d}", f"学员{i}", tree["codes"]["village"], "", "", f"{i}", "", "", ""] for i in range(20_000)]
    data = xlsx(rows)
    start = time.perf_counter()
    plan = user_import.plan_import(session, admin, filename="big.xlsx", data=data)
    assert plan.ok and len(plan.rows) == 20_000
    result = user_import.apply_import(session, admin, plan=plan)
    assert result.created == 20_000 and len({pw for _, _, pw in result.credentials}) == 20_000
    assert session.exec(select(func.count()).select_from(User).where(User.username.startswith(tag))).one() == 20_000
    print(f"20k import: {time.perf_counter() - start:.1f}s")   # the timed figure comes from bench/import_users.py
