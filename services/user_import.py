"""Bulk user import from .xlsx / .csv: validate every row first, write all or nothing.

Rows are numbered as the spreadsheet shows them (header = row 1). Every imported account gets its
own random initial password (unless the row brings one), handed back once as a spreadsheet for
the admin to pass on, and must change it at first sign-in. Initial passwords are hashed with light
Argon2id parameters (auth.hash_initial_password) so 20,000 rows stay well under 30 seconds."""
from __future__ import annotations

import csv
import io
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import insert
from sqlmodel import Session, select

from models import Membership, OrgUnit, RoleGrant, User
from models.db import utcnow
from services import audit, auth, spreadsheets
from services.errors import ValidationFailed
from services.permissions import Actor, require_admin
from services.text import clean_text, preview
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
# the longest value each field may hold: the column sizes of the tables the rows go to
LIMITS: dict[str, int] = {
    "username": User.__table__.c.username.type.length, "name": User.__table__.c.name.type.length,
    "unit": OrgUnit.__table__.c.code.type.length, "roles": 64, "scope": OrgUnit.__table__.c.code.type.length,
    "employee_no": User.__table__.c.employee_no.type.length, "phone": User.__table__.c.phone.type.length,
    "email": User.__table__.c.email.type.length, "password": 128,
}
MAX_CELL = 131_072          # Python's default CSV field limit: a longer cell is refused with its row and column
_CSV_LIMIT_LOCK = threading.Lock()


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
        """The one copy of the generated passwords, for the admin to hand out (names stay text)."""
        return spreadsheets.table_xlsx(
            columns=[spreadsheets.Column("用户名", 18), spreadsheets.Column("姓名", 14),
                     spreadsheets.Column("初始密码（首次登录须修改）", 28)],
            rows=self.credentials, sheet="初始密码", auto_filter=False)


TEMPLATE_WIDTHS = (14, 10, 14, 14, 12, 10, 14, 26, 12)
TEMPLATE_NOTES = ("必填：用户名（字母数字开头，3–64位，可含 . _ @ -）、姓名、单位编码（见组织架构页）。",
                  "角色：学员/培训师/人事/管理员，多个用逗号分隔；留空为学员。",
                  "管理范围：培训师、人事角色管辖的单位编码（含下级），留空为本人单位。",
                  "初始密码：留空则系统为每个账号生成随机初始密码，导入后下载一次；首次登录必须修改密码。",
                  "任何一行有错误时，整个文件都不会导入。")


def template_xlsx() -> bytes:
    columns = [spreadsheets.Column(h, w) for h, w in zip(TEMPLATE_HEADERS, TEMPLATE_WIDTHS)]
    sample = [["zhangsan", "张三", "WH-HBW", "学员", "", "HB0001", "13800000000", "zhangsan@example.gov.cn", ""],
              ["lisi", "李四", "WH-RSJ", "学员,人事", "WH-RSJ", "RS0002", "", "", ""]]
    return spreadsheets.workbook_xlsx(spreadsheets.Sheet("用户导入", columns, sample),
                                      spreadsheets.Sheet("说明", [spreadsheets.Column("说明", 90)],
                                                         [[line] for line in TEMPLATE_NOTES], freeze_header=False))


def template_csv() -> bytes:
    return spreadsheets.table_csv(columns=TEMPLATE_HEADERS,
                                  rows=[["zhangsan", "张三", "WH-HBW", "学员", "", "HB0001", "13800000000", "", ""]])


def _csv_rows(text: str) -> list[list[str]]:
    """Parse CSV text. Python refuses a cell over 131,072 characters with a bare _csv.Error; the
    limit is lifted (under a lock, restored after) so plan_import can name the row and column of an
    over-long cell instead, without echoing it."""
    with _CSV_LIMIT_LOCK:
        old = csv.field_size_limit()
        csv.field_size_limit(max(old, len(text) + 1))
        try:
            reader = csv.reader(io.StringIO(text))
            try:
                return [list(r) for r in reader]
            except csv.Error as exc:
                raise ValidationFailed("error.import_csv_malformed", row=reader.line_num, detail=preview(str(exc), 80))
        finally:
            csv.field_size_limit(old)


def read_table(filename: str, data: bytes) -> list[list[str]]:
    """Rows of cell strings, header first. .xlsx via openpyxl; .csv as UTF-8 (with BOM) or GB18030."""
    suffix = Path(filename).suffix.lower()
    if suffix == ".xlsx":
        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - a damaged file can fail in any of openpyxl's layers
            raise ValidationFailed("error.import_unreadable", detail=preview(str(exc), 200))
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
        rows = [[c.strip() for c in r] for r in _csv_rows(text)]
    else:
        raise ValidationFailed("error.import_file_type", suffix=suffix or "?")
    while rows and not any(rows[-1]):
        rows.pop()
    return rows


def _label(key: str) -> str:
    return COLUMNS[key][0]


def plan_import(session: Session, actor: Actor, *, filename: str, data: bytes) -> ImportPlan:
    """Validate every row against the file itself and the database. Writes nothing.

    Every text field is checked for control characters and for its length first (an error names
    the row and the column; the value is shown cut short, a password never)."""
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
            errors.append(RowError(1, preview(h), preview(h), "error.import_unknown_column", {"column": preview(h)}))
        elif key in colmap:
            errors.append(RowError(1, h, h, "error.import_duplicate_column", {"column": h}))
        else:
            colmap[key] = i
    for key in REQUIRED:
        if key not in colmap:
            errors.append(RowError(1, _label(key), "", "error.import_missing_column", {"column": _label(key)}))
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
        rec = {k: (raw[colmap[k]] if k in colmap and colmap[k] < len(raw) else "").strip() for k in COLUMNS}
        rec["row"] = n
        bad: set[str] = set()           # fields already refused: no further checks echo them
        for key in COLUMNS:
            try:
                clean_text(rec[key], field=_label(key), max_length=LIMITS[key], row=n)
            except ValidationFailed as exc:
                shown = "******" if key == "password" else preview(rec[key])
                errors.append(RowError(n, _label(key), shown, exc.code, exc.params))
                bad.add(key)
        u = rec["username"]
        for key in REQUIRED:
            if not rec[key]:
                errors.append(RowError(n, _label(key), "", "error.import_required", {"column": _label(key)}))
        if u and "username" not in bad:
            if not USERNAME_RE.match(u):
                errors.append(RowError(n, "用户名", u, "error.username_format", {"username": u}))
            elif u.lower() in seen:
                errors.append(RowError(n, "用户名", u, "error.import_dup_in_file", {"other": seen[u.lower()]}))
            elif u.lower() in existing:
                errors.append(RowError(n, "用户名", u, "error.username_taken", {"username": u}))
            seen.setdefault(u.lower(), n)
        if rec["unit"] and "unit" not in bad and rec["unit"] not in units:
            errors.append(RowError(n, "单位编码", rec["unit"], "error.import_unknown_unit", {"unit": rec["unit"]}))
        roles = []
        words = re.split(r"[,，、;；\s]+", rec["roles"]) if rec["roles"] and "roles" not in bad else ["learner"]
        for word in words:
            if not word:
                continue
            role = ROLE_WORDS.get(word.lower())
            if role is None:
                errors.append(RowError(n, "角色", preview(word), "error.import_unknown_role", {"role": preview(word)}))
            else:
                roles.append(role)
        rec["roles"] = sorted(set(roles)) or ["learner"]
        if rec["scope"] and "scope" not in bad:
            if rec["scope"] not in units:
                errors.append(RowError(n, "管理范围", rec["scope"], "error.import_unknown_unit", {"unit": rec["scope"]}))
            elif not set(rec["roles"]) & {"trainer", "hr"}:
                errors.append(RowError(n, "管理范围", rec["scope"], "error.import_scope_without_role"))
        if rec["phone"] and "phone" not in bad and not PHONE_RE.match(rec["phone"]):
            errors.append(RowError(n, "手机", rec["phone"], "error.import_bad_phone"))
        if rec["email"] and "email" not in bad and not EMAIL_RE.match(rec["email"]):
            errors.append(RowError(n, "邮箱", rec["email"], "error.import_bad_email"))
        if rec["password"] and "password" not in bad:
            try:
                auth.check_password_policy(rec["password"], username=u)
            except ValidationFailed as exc:
                errors.append(RowError(n, "初始密码", "******", exc.code, exc.params))
        rows.append(rec)
    # a column the import does not read is never stored, but a huge cell in it is still refused
    read = set(colmap.values())
    for n, raw in enumerate(body, start=2):
        for i, cell in enumerate(raw):
            if i not in read and len(cell) > MAX_CELL:
                name = preview(header[i]) if i < len(header) and header[i] else f"#{i + 1}"
                errors.append(RowError(n, name, preview(cell), "error.field_too_long",
                                       {"field": name, "max": MAX_CELL, "length": len(cell), "row": n}))
    return ImportPlan(rows, errors)


def apply_import(session: Session, actor: Actor, *, plan: ImportPlan) -> ImportResult:
    """Write a fully valid plan: users, memberships, role grants and the audit row, flushed into the
    caller's unit of work, which commits them together or rolls all of them back."""
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
    session.flush()          # the caller's unit of work commits the accounts and this audit row together
    return ImportResult(created=len(plan.rows), credentials=credentials)
