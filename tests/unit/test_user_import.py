import csv
import io
from contextlib import contextmanager

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import event
from sqlmodel import func, select

from models import AuditLog, Membership, RoleGrant, User
from models.db import session_scope
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
    assert {(e.row, e.code) for e in plan.errors} == {(2, "error.username_taken"), (3, "error.field_too_long"),
                                                      (4, "error.field_too_long")}
    assert {(e.row, e.field, e.params["max"]) for e in plan.errors if e.code == "error.field_too_long"} == {
        (3, "工号", 32), (4, "邮箱", 128)}


def test_gbk_csv_from_chinese_excel(session, make_user, tree):
    admin = make_user("admin")
    name = uid()
    data = csv_bytes([[name, "张三", tree["codes"]["town"], "学员", "", "", "", "", ""]], encoding="gb18030")
    plan = user_import.plan_import(session, admin, filename="gbk.csv", data=data)
    assert plan.ok and plan.rows[0]["name"] == "张三"


@contextmanager
def fail_on(predicate):
    """Make the real database refuse the first statement for which predicate(statement, seen) is
    true (seen: the statements executed so far); yields that list."""
    seen: list[str] = []

    def check(conn, cursor, statement, parameters, context, executemany):
        if predicate(statement, seen):
            raise RuntimeError(f"injected fault at: {statement[:60]}")
        seen.append(statement)
    with session_scope() as s:          # the engine every unit of work uses
        engine = s.get_bind()
    event.listen(engine, "before_cursor_execute", check)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", check)


def _inserts(seen, table):
    return [s for s in seen if s.lstrip().upper().startswith(f"INSERT INTO {table.upper()} ")]


def _plan_of(session, admin, tree, names):
    plan = user_import.plan_import(session, admin, filename="a.csv", data=csv_bytes(
        [[n, "某", tree["codes"]["town"], "学员,人事" if i % 7 == 0 else "", "", "", "", "", ""]
         for i, n in enumerate(names)]))
    assert plan.ok, plan.errors[:3]
    return plan


def _left_behind(names) -> tuple[int, int, int]:
    with session_scope() as s:
        ids = select(User.id).where(User.username.in_(names))
        return (s.exec(select(func.count()).select_from(User).where(User.username.in_(names))).one(),
                s.exec(select(func.count()).select_from(Membership).where(Membership.user_id.in_(ids))).one(),
                s.exec(select(func.count()).select_from(RoleGrant).where(RoleGrant.user_id.in_(ids))).one())


def test_failure_during_write_leaves_nothing(session, make_user, tree):
    """All-or-nothing: the fault fires after every account, membership and role row was sent to the
    database (on the audit row, the last write); the caller's rollback leaves none of them."""
    admin = make_user("admin")
    names = [uid() for _ in range(50)]
    plan = _plan_of(session, admin, tree, names)
    audits_before = session.exec(select(func.count()).select_from(AuditLog).where(AuditLog.action == "user.import")).one()
    audit_insert = lambda st, seen: st.lstrip().upper().startswith("INSERT INTO AUDIT_LOG")
    with fail_on(audit_insert) as seen, pytest.raises(RuntimeError, match="injected fault"), session_scope() as s:
        user_import.apply_import(s, admin, plan=plan)
    assert _inserts(seen, "app_user") and _inserts(seen, "membership") and _inserts(seen, "role_grant")
    assert _left_behind(names) == (0, 0, 0)
    with session_scope() as s:
        assert s.exec(select(func.count()).select_from(AuditLog).where(AuditLog.action == "user.import")).one() == audits_before


def test_failure_at_a_later_batch_of_accounts_leaves_nothing(session, make_user, tree):
    """The accounts go in batches of 2,000: the third batch fails after 4,000 accounts were inserted."""
    admin = make_user("admin")
    names = [uid() for _ in range(5000)]
    plan = _plan_of(session, admin, tree, names)
    def third_batch(st, seen):
        return st.lstrip().upper().startswith("INSERT INTO APP_USER") and len(_inserts(seen, "app_user")) >= 2
    with fail_on(third_batch) as seen, pytest.raises(RuntimeError, match="injected fault"), session_scope() as s:
        user_import.apply_import(s, admin, plan=plan)
    assert len(_inserts(seen, "app_user")) >= 2
    assert _left_behind(names) == (0, 0, 0)


def test_an_import_and_its_audit_row_commit_together(session, make_user, tree):
    admin = make_user("admin")
    names = [uid() for _ in range(30)]
    plan = _plan_of(session, admin, tree, names)
    with session_scope() as s:
        user_import.apply_import(s, admin, plan=plan)
        # flushed, not committed: another connection sees neither the accounts nor the audit row yet
        assert _left_behind(names) == (0, 0, 0)
    assert _left_behind(names) == (30, 30, 30 + 5)
    with session_scope() as s:
        rows = s.exec(select(AuditLog.detail).where(AuditLog.action == "user.import", AuditLog.actor_id == admin.id)).all()
        assert [d["count"] for d in rows] == [30]


def test_twenty_thousand_rows(session, make_user, tree):
    """20,000 rows import whole: every account with its name, unit, number, membership, role and own
    initial password (the timing is bench/import_users.py's job)."""
    admin = make_user("admin")
    tag = uid("b")
    rows = [[f"{tag}{i:05d}", f"学员{i}", tree["codes"]["village"], "", "", f"{i}", "", "", ""] for i in range(20_000)]
    plan = user_import.plan_import(session, admin, filename="big.xlsx", data=xlsx(rows))
    assert plan.ok and len(plan.rows) == 20_000
    result = user_import.apply_import(session, admin, plan=plan)
    session.commit()
    assert result.created == 20_000
    assert [u for u, _, _ in result.credentials] == [r[0] for r in rows]
    assert len({pw for _, _, pw in result.credentials}) == 20_000
    stored = session.exec(select(User.username, User.name, User.unit_id, User.employee_no, User.must_change_password)
                          .where(User.username.startswith(tag)).order_by(User.username)).all()
    assert [tuple(r) for r in stored] == [(r[0], r[1], tree["village"], r[5], True) for r in rows]
    ids = select(User.id).where(User.username.startswith(tag))
    assert session.exec(select(func.count()).select_from(Membership)
                        .where(Membership.user_id.in_(ids), Membership.unit_id == tree["village"])).one() == 20_000
    assert session.exec(select(func.count()).select_from(RoleGrant)
                        .where(RoleGrant.user_id.in_(ids), RoleGrant.role == "learner")).one() == 20_000
    # spot checks: the password handed out opens the account it was made for
    for i in (0, 9_999, 19_999):
        username, _, password = result.credentials[i]
        hashed = session.exec(select(User.password_hash).where(User.username == username)).one()
        assert auth.verify_password(hashed, password)
    sheet = load_workbook(io.BytesIO(result.credentials_xlsx()), read_only=True).worksheets[0]
    assert sum(1 for _ in sheet.iter_rows(min_row=2, values_only=True)) == 20_000


CONTROL_SAMPLES = {"NUL": "\x00", "newline": "\n", "tab": "\t", "CR": "\r", "ESC": "\x1b", "DEL": "\x7f",
                   "C1": "\x85", "line separator": "\u2028"}
FIELD_VALUES = {"用户名": "ctl{}user", "姓名": "张{}三", "单位编码": "{unit}{}X", "角色": "学员{}人事", "工号": "E{}1",
                "手机": "1391234{}5678", "邮箱": "a{}b@example.com", "初始密码": "Good{}Pass123"}


def test_control_characters_in_any_field_are_refused_with_row_and_field(session, make_user, tree):
    """Every column × every kind of control character, one per row (inside the value, so stripping
    the cell cannot remove it): each row reports exactly its own field; nothing is written."""
    admin = make_user("admin")
    rows, expected = [[uid(), "好人", tree["codes"]["town"], "", "", "", "", "", ""]], {}
    for column, template in FIELD_VALUES.items():
        for ch in CONTROL_SAMPLES.values():
            row = [uid(), "某人", tree["codes"]["town"], "", "", "", "", "", ""]
            row[HEADER.index(column)] = template.replace("{unit}", tree["codes"]["town"]).format(ch)
            if column == "用户名":
                row[0] = uid() + ch + "x"
            rows.append(row)
            expected[len(rows) + 1] = (column, ch)
    plan = user_import.plan_import(session, admin, filename="c.csv", data=csv_bytes(rows))
    hits = [e for e in plan.errors if e.code == "error.control_chars"]
    assert {e.row: e.field for e in hits} == {n: column for n, (column, _) in expected.items()}
    assert len(hits) == len(expected)
    for e in hits:
        column, ch = expected[e.row]
        assert e.params["row"] == e.row and e.params["field"] == column and f"U+{ord(ch):04X}" in e.params["chars"]
        assert ch not in e.value and (column != "初始密码" or e.value == "******")
    before = count_users(session)
    with pytest.raises(ValidationFailed):
        user_import.apply_import(session, admin, plan=plan)
    assert count_users(session) == before


def test_control_characters_in_an_xlsx_are_refused_too(session, make_user, tree):
    admin = make_user("admin")
    rows = [[uid(), "张\u2028三", tree["codes"]["town"], "", "", "", "", "", ""],
            [uid(), "李四", tree["codes"]["town"], "", "", "E\x851", "", "", ""],
            [uid(), "王\n五", tree["codes"]["town"], "", "", "", "", "", ""]]
    plan = user_import.plan_import(session, admin, filename="c.xlsx", data=xlsx(rows))
    assert [(e.row, e.field, e.code) for e in plan.errors] == [
        (2, "姓名", "error.control_chars"), (3, "工号", "error.control_chars"), (4, "姓名", "error.control_chars")]


def test_a_cell_over_the_csv_limit_is_named_not_a_traceback(session, make_user, tree):
    """Python's csv refuses a field over 131,072 characters with a bare _csv.Error; the import names
    the row and the column instead, and never echoes the value whole."""
    admin = make_user("admin")
    limit = csv.field_size_limit()
    huge = "名" * 250_000           # over the default limit, and over any limit another module set
    rows = [[uid(), "好人", tree["codes"]["town"], "", "", "", "", "", ""],
            [uid(), huge, tree["codes"]["town"], "", "", "", "", "", ""],
            ["u" + "x" * 100_000, "甲", tree["codes"]["town"], "", "", "", "", "", ""],
            [uid(), "乙", "U" * 100_000, "", "", "", "", "", ""]]
    plan = user_import.plan_import(session, admin, filename="big.csv", data=csv_bytes(rows))
    assert [(e.row, e.field, e.code) for e in plan.errors] == [
        (3, "姓名", "error.field_too_long"), (4, "用户名", "error.field_too_long"), (5, "单位编码", "error.field_too_long")]
    for e in plan.errors:
        assert len(e.value) <= 41 and all(len(str(v)) < 100 for v in e.params.values())
    assert plan.errors[0].params == {"field": "姓名", "max": 64, "length": 250_000, "row": 3}
    assert csv.field_size_limit() == limit            # the process-wide limit is back where it was


def test_a_huge_cell_in_an_unnamed_column_is_refused(session, make_user, tree):
    admin = make_user("admin")
    data = csv_bytes([[uid(), "好人", tree["codes"]["town"], "z" * 200_000]], header=["用户名", "姓名", "单位编码", ""])
    plan = user_import.plan_import(session, admin, filename="big.csv", data=data)
    assert [(e.row, e.field, e.code) for e in plan.errors] == [(2, "#4", "error.field_too_long")]


def test_a_malformed_csv_is_a_clear_error_with_its_line(session, make_user):
    admin = make_user("admin")
    with pytest.raises(ValidationFailed) as exc:
        user_import.plan_import(session, admin, filename="m.csv", data="用户名,姓名,单位编码\nli\rx,张,U\n".encode())
    assert exc.value.code == "error.import_csv_malformed" and exc.value.params["row"] == 2


def test_the_passwords_file_keeps_formula_like_names_as_text(session, make_user, tree):
    admin = make_user("admin")
    names = ["=1+1", '=HYPERLINK("http://x","y")', "+1", "-1", "@SUM(A1)"]
    rows = [[uid(), n, tree["codes"]["town"], "", "", "", "", "", ""] for n in names]
    plan = user_import.plan_import(session, admin, filename="f.csv", data=csv_bytes(rows))
    assert plan.ok, plan.errors
    result = user_import.apply_import(session, admin, plan=plan)
    sheet = load_workbook(io.BytesIO(result.credentials_xlsx())).active
    cells = [c for row in sheet.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert [r[1] for r in sheet.iter_rows(min_row=2, values_only=True)] == names
