"""Bulk user import from .xlsx / .csv: validate every row first, write all or nothing.

Rows are numbered as the spreadsheet shows them (header = row 1). Every imported account gets its
own random initial password (unless the row brings one), handed back once as a spreadsheet for
the admin to pass on, and must change it at first sign-in. Initial passwords are hashed with light
Argon2id parameters (auth.hash_initial_password) so 20,000 rows stay well under 30 seconds."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from openpyxl import Workbook, load_workbook
from sqlalchemy import insert
from sqlmodel import Session, select

from models import Membership, OrgUnit, RoleGrant, User
from models.db import utcnow
from services import audit, auth
from services.errors import ValidationFailed
from services.permissions import Actor, require_admin
from services.users import USERNAME_RE

# canonical field -> accepted header spellings (Chinese template first)
COLUMNS: dict[str, tuple[str, ...]] = {
    "username": ("用户名", "username", "账号"),
    "name": ("姓名", "name"),
    "unit": ("单位编码", "unit", "单位", "unit_code"),
    "roles": ("角色", "roles"),
    "scope": ("管理范围", "scope"),
    "employee_no": ("工号", "employee_no"),
    "phone": ("手机", "phone", "手机号"),
    "email": ("邮箱", "email"),
    "password": ("初始密码", "password"),
}
REQUIRED = ("username", "name", "unit")
TEMPLATE_HEADERS = ["用户名", "姓名", "单位编码", "角色", "管理范围", "工号", "手机", "邮箱", "初始密码"]
ROLE_WORDS = {"learner": "learner", "学员": "learner", "trainer": "trainer", "培训师": "trainer",
              "hr": "hr", "人事": "hr", "admin": "admin", "管理员": "admin"}
PHONE_RE = re.compile(r"^1\d{10}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_ROWS = 50_000


@dataclass
class RowError:
    row: int
    field: str
    value: str
    code: str
    params: dict = field(default_factory=dict)


@dataclass
class ImportPlan:
    rows: list[dict]
    errors: list[RowError]

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)


@dataclass
class ImportResult:
    created: int
    credentials: list[tuple[str, str, str]]    # (username, name, initial password) of generated passwords

    def credentials_xlsx(self) -> bytes:
        """The one copy of the generated passwords, for the admin to hand out."""
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("初始密码")
        ws.append(["用户名", "姓名", "初始密码（首次登录须修改）"])
        for row in self.credentials:
            ws.append(list(row))
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()


def template_xlsx() -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "用户导入"
    ws.append(TEMPLATE_HEADERS)
    ws.append(["zhangsan", "张三", "WH-HBW", "学员", "", "HB0001", "13800000000", "zhangsan@example.gov.cn", ""])
    ws.append(["lisi", "李四", "WH-RSJ", "学员,人事", "WH-RSJ", "RS0002", "", "", ""])
    for col, width in zip("ABCDEFGHI", (14, 10, 14, 14, 12, 10, 14, 26, 12)):
        ws.column_dimensions[col].width = width
    notes = wb.create_sheet("说明")
    for line in ("必填：用户名（字母数字开头，3–64位，可含 . _ @ -）、姓名、单位编码（见组织架构页）。",
                 "角色：学员/培训师/人事/管理员，多个用逗号分隔；留空为学员。",
                 "管理范围：培训师、人事角色管辖的单位编码（含下级），留空为本人单位。",
                 "初始密码：留空则使用本批次统一初始密码；首次登录必须修改密码。",
                 "任何一行有错误时，整个文件都不会导入。"):
        notes.append([line])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def template_csv() -> bytes:
    return ("\ufeff" + ",".join(TEMPLATE_HEADERS) + "\r\nzhangsan,张三,WH-HBW,学员,,HB0001,13800000000,,\r\n").encode("utf-8")


def read_table(filename: str, data: bytes) -> list[list[str]]:
    """Rows of cell strings, header first. .xlsx via openpyxl; .csv as UTF-8 (with BOM) or GB18030."""
    suffix = Path(filename).suffix.lower()
    if suffix == ".xlsx":
        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:
            raise ValidationFailed("error.import_unreadable", detail=str(exc)[:200])
        ws = wb.worksheets[0]
        rows = [["" if v is None else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)).strip()
                 for v in row] for row in ws.iter_rows(values_only=True)]
        wb.close()
    elif suffix == ".csv":
        for enc in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ValidationFailed("error.import_encoding")
        rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(text))]
    else:
        raise ValidationFailed("error.import_file_type", suffix=suffix or "?")
    while rows and not any(rows[-1]):
        rows.pop()
    return rows


def plan_import(session: Session, actor: Actor, *, filename: str, data: bytes) -> ImportPlan:
    """Validate every row against the file itself and the database. Writes nothing."""
    require_admin(actor)
    table = read_table(filename, data)
    errors: list[RowError] = []
    if not table:
        return ImportPlan([], [RowError(1, "", "", "error.import_empty")])
    header = table[0]
    lookup = {alias.lower(): key for key, aliases in COLUMNS.items() for alias in aliases}
    colmap: dict[str, int] = {}
    for i, h in enumerate(header):
        if not h:
            continue
        key = lookup.get(h.strip().lower())
        if key is None:
            errors.append(RowError(1, h, h, "error.import_unknown_column", {"column": h}))
        elif key in colmap:
            errors.append(RowError(1, h, h, "error.import_duplicate_column", {"column": h}))
        else:
            colmap[key] = i
    for key in REQUIRED:
        if key not in colmap:
            errors.append(RowError(1, COLUMNS[key][0], "", "error.import_missing_column", {"column": COLUMNS[key][0]}))
    if errors:
        return ImportPlan([], errors)
    body = table[1:]
    if not body:
        return ImportPlan([], [RowError(2, "", "", "error.import_no_rows")])
    if len(body) > MAX_ROWS:
        return ImportPlan([], [RowError(len(body) + 1, "", "", "error.import_too_many", {"max": MAX_ROWS})])

    units = {u.code: u for u in session.exec(select(OrgUnit).where(OrgUnit.active)).all()}
    existing = {u.lower() for u in session.exec(select(User.username)).all()}
    seen: dict[str, int] = {}
    rows: list[dict] = []
    for n, raw in enumerate(body, start=2):
        if not any(raw):
            continue
        get = lambda k: (raw[colmap[k]] if k in colmap and colmap[k] < len(raw) else "").strip()  # noqa: E731
        rec = {k: get(k) for k in COLUMNS}
        rec["row"] = n
        u = rec["username"]
        for key in REQUIRED:
            if not rec[key]:
                errors.append(RowError(n, COLUMNS[key][0], "", "error.import_required", {"column": COLUMNS[key][0]}))
        if u:
            if not USERNAME_RE.match(u):
                errors.append(RowError(n, "用户名", u, "error.username_format", {"username": u}))
            elif u.lower() in seen:
                errors.append(RowError(n, "用户名", u, "error.import_dup_in_file", {"other": seen[u.lower()]}))
            elif u.lower() in existing:
                errors.append(RowError(n, "用户名", u, "error.username_taken", {"username": u}))
            seen.setdefault(u.lower(), n)
        if rec["unit"] and rec["unit"] not in units:
            errors.append(RowError(n, "单位编码", rec["unit"], "error.import_unknown_unit", {"unit": rec["unit"]}))
        roles = []
        for word in re.split(r"[,，、;；\s]+", rec["roles"]) if rec["roles"] else ["learner"]:
            if not word:
                continue
            role = ROLE_WORDS.get(word.lower())
            if role is None:
                errors.append(RowError(n, "角色", word, "error.import_unknown_role", {"role": word}))
            else:
                roles.append(role)
        rec["roles"] = sorted(set(roles)) or ["learner"]
        if rec["scope"]:
            if rec["scope"] not in units:
                errors.append(RowError(n, "管理范围", rec["scope"], "error.import_unknown_unit", {"unit": rec["scope"]}))
            elif not set(rec["roles"]) & {"trainer", "hr"}:
                errors.append(RowError(n, "管理范围", rec["scope"], "error.import_scope_without_role"))
        if rec["phone"] and not PHONE_RE.match(rec["phone"]):
            errors.append(RowError(n, "手机", rec["phone"], "error.import_bad_phone"))
        if rec["email"] and not EMAIL_RE.match(rec["email"]):
            errors.append(RowError(n, "邮箱", rec["email"], "error.import_bad_email"))
        if rec["password"]:
            try:
                auth.check_password_policy(rec["password"], username=u)
            except ValidationFailed as exc:
                errors.append(RowError(n, "初始密码", "******", exc.code, exc.params))
        for key, label, limit in (("name", "姓名", 64), ("employee_no", "工号", 32), ("email", "邮箱", 128)):
            if len(rec[key]) > limit:
                errors.append(RowError(n, label, rec[key][:20] + "…", "error.import_too_long", {"max": limit}))
        rows.append(rec)
    return ImportPlan(rows, errors)


def apply_import(session: Session, actor: Actor, *, plan: ImportPlan) -> ImportResult:
    """Write a fully valid plan in one transaction (the caller's session commits or rolls back)."""
    require_admin(actor)
    if plan.errors or not plan.rows:
        raise ValidationFailed("error.import_has_errors", count=len(plan.errors))
    units = {u.code: u.id for u in session.exec(select(OrgUnit)).all()}
    now = utcnow()
    credentials: list[tuple[str, str, str]] = []
    user_rows = []
    for r in plan.rows:
        password = r["password"]
        if not password:
            password = auth.generate_password()
            credentials.append((r["username"], r["name"], password))
        user_rows.append({
            "username": r["username"], "name": r["name"], "unit_id": units[r["unit"]],
            "employee_no": r["employee_no"] or None, "phone": r["phone"] or None, "email": r["email"] or None,
            "password_hash": auth.hash_initial_password(password),
            "must_change_password": True, "locale": "zh-CN", "active": True, "failed_logins": 0, "created_at": now,
        })
    ids: dict[str, int] = {}
    for start in range(0, len(user_rows), 2000):
        chunk = user_rows[start:start + 2000]
        for uid, uname in session.execute(insert(User).returning(User.id, User.username), chunk):
            ids[uname] = uid
    grants, members = [], []
    for r in plan.rows:
        uid = ids[r["username"]]
        members.append({"user_id": uid, "unit_id": units[r["unit"]], "valid_from": now})
        for role in r["roles"]:
            scope = units[r["scope"] or r["unit"]] if role in ("trainer", "hr") else None
            grants.append({"user_id": uid, "role": role, "scope_unit_id": scope})
    for start in range(0, len(members), 5000):
        session.execute(insert(Membership), members[start:start + 5000])
    for start in range(0, len(grants), 5000):
        session.execute(insert(RoleGrant), grants[start:start + 5000])
    audit.record(session, actor.id, "user.import", count=len(plan.rows))
    session.commit()
    return ImportResult(created=len(plan.rows), credentials=credentials)
