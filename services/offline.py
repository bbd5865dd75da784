"""Offline training (线下培训, 党校班): HR registers a class and who attended; each attendee is credited
in the 学时 ledger with source "offline", naming the class.

Rules:
- A class has a unit (its scope): HR whose scope covers that unit (and admins) manage it, and only
  active people of that unit's subtree can attend. HR sees the classes of units in their scope.
- Attendance is added by picking people or by importing a list (.xlsx/.csv with a 用户名 or a 工号
  column, 姓名 optional as a cross-check). An import is validated whole first: any bad row and nothing
  is written; every error names its row, its column and why. People already on the list are not an
  error: they are reported and skipped, so importing the same list again adds nothing.
- The ledger is append-only, each row unique by (person, source, source id). A class's rows for one
  person are "offline-<class>-<person>-<n>": n = 1 is the credit, later ones correct it — removing the
  person adds the negative row, changing the class's 学时 or its end year adds the difference. The sum
  of a person's rows for a class is always what the class gives them now (0 once removed).
- The 学时 count in the city year in which the class ends.
- Attendance can be added once the class has started (not for a class still in the future).
Every change is audited. Functions flush, never commit: the caller's unit of work commits."""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func as sa_func
from sqlalchemy import text
from sqlmodel import Session, col, func, or_, select

from models import LedgerEntry, OrgUnit, User
from models.db import LOCAL_TZ, utcnow
from models.offline import PRESENT_WHERE, OfflineAttendance, OfflineClass
from services import audit, spreadsheets
from services.errors import NotFound, PermissionDenied, ValidationFailed
from services.permissions import ALL, Actor, require_scope, scope_paths
from services.text import clean_text, preview
from services.user_import import MAX_ROWS, RowError, read_table

SOURCE = "offline"
NAME_MAX = OfflineClass.__table__.c.name.type.length
ORGANISER_MAX = OfflineClass.__table__.c.organiser.type.length
MAX_HOURS = 200.0
FIRST_YEAR = 2000

# canonical field -> accepted header spellings (Chinese template first)
COLUMNS: dict[str, tuple[str, ...]] = {
    "username": ("用户名", "username", "账号"),
    "employee_no": ("工号", "employee_no"),
    "name": ("姓名", "name"),
}
LIMITS = {"username": User.__table__.c.username.type.length, "employee_no": User.__table__.c.employee_no.type.length,
          "name": User.__table__.c.name.type.length}
TEMPLATE_HEADERS = ["用户名", "工号", "姓名"]
TEMPLATE_NOTES = ("每行一人：填用户名或工号（至少一项）；姓名可填，用来核对。",
                  "只能登记本班所属单位（含下级单位）的在职人员。",
                  "已在名单中的人员会被跳过，重复导入同一名单不会重复计学时。",
                  "任何一行有错误时，整个文件都不会导入。")


def today() -> date:
    return utcnow().astimezone(LOCAL_TZ).date()


# ---- read models ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClassIn:
    name: str
    organiser: str
    start_date: date
    end_date: date
    hours: float
    unit_id: int


@dataclass(frozen=True)
class ClassPublic:
    id: int
    name: str
    organiser: str
    start_date: date
    end_date: date
    hours: float
    unit_id: int
    unit_name: str
    attendees: int
    created_at: datetime

    @property
    def year(self) -> int:
        return self.end_date.year


@dataclass(frozen=True)
class Attendee:
    user_id: int
    username: str
    name: str
    employee_no: str | None
    unit_name: str
    added_at: datetime


@dataclass(frozen=True)
class PersonOption:
    user_id: int
    label: str          # 姓名（用户名 · 单位）


@dataclass
class AttendancePlan:
    """A validated list: `rows` to add (row, user_id, username, name), `already` present (skipped),
    `errors` (nothing is written while there is one)."""
    class_id: int
    rows: list[dict] = field(default_factory=list)
    already: list[dict] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows or self.already)


@dataclass(frozen=True)
class AttendanceResult:
    added: int
    already: int


# ---- scope ----------------------------------------------------------------------------------------

def _unit(session: Session, unit_id: int | None) -> OrgUnit:
    unit = session.get(OrgUnit, unit_id) if unit_id is not None else None
    if unit is None:
        raise NotFound(what="unit", id=unit_id)
    return unit


def _managed_class(session: Session, actor: Actor, class_id: int) -> tuple[OfflineClass, OrgUnit]:
    """The class, if the actor's HR scope covers its unit (admins: every class)."""
    cls = session.get(OfflineClass, class_id)
    if cls is None:
        raise NotFound("error.offline_class_not_found")
    unit = _unit(session, cls.unit_id)
    require_scope(actor, "hr", unit.path)
    return cls, unit


def _in_scope_where(actor: Actor):
    paths = scope_paths(actor, "hr")
    if ALL in paths:
        return None
    return or_(*(col(OrgUnit.path).startswith(p) for p in paths))


def units_for_classes(session: Session, actor: Actor) -> list[tuple[int, str]]:
    """(unit id, path of names) of the active units a class can belong to: those in the HR scope."""
    q = select(OrgUnit).where(OrgUnit.active)
    where = _in_scope_where(actor)
    if where is not None:
        q = q.where(where)
    units = session.exec(q.order_by(OrgUnit.path)).all()
    names = {u.id: u.name for u in units}
    missing = {int(i) for u in units for i in u.path.strip("/").split("/") if i} - set(names)
    if missing:
        names |= dict(session.exec(select(OrgUnit.id, OrgUnit.name).where(col(OrgUnit.id).in_(missing))).all())
    return [(u.id, " / ".join(names.get(int(i), "?") for i in u.path.strip("/").split("/") if i)) for u in units]


# ---- classes --------------------------------------------------------------------------------------

def _checked(session: Session, actor: Actor, data: ClassIn) -> tuple[str, str, float, OrgUnit]:
    name = (clean_text(data.name, field="name", max_length=NAME_MAX) or "").strip()
    organiser = (clean_text(data.organiser, field="organiser", max_length=ORGANISER_MAX) or "").strip()
    if not name:
        raise ValidationFailed("error.offline_name_required")
    if not organiser:
        raise ValidationFailed("error.offline_organiser_required")
    if not isinstance(data.start_date, date) or not isinstance(data.end_date, date):
        raise ValidationFailed("error.offline_dates")
    if data.end_date < data.start_date:
        raise ValidationFailed("error.offline_dates")
    if data.start_date.year < FIRST_YEAR or data.end_date.year > today().year + 1:
        raise ValidationFailed("error.offline_dates_range", first=FIRST_YEAR, last=today().year + 1)
    try:
        hours = round(float(data.hours), 2)
    except (TypeError, ValueError):
        raise ValidationFailed("error.offline_hours", max=MAX_HOURS) from None
    if not (0 < hours <= MAX_HOURS):
        raise ValidationFailed("error.offline_hours", max=MAX_HOURS)
    unit = _unit(session, data.unit_id)
    require_scope(actor, "hr", unit.path)
    if not unit.active:
        raise ValidationFailed("error.offline_unit_retired")
    return name, organiser, hours, unit


def _public(session: Session, cls: OfflineClass, unit: OrgUnit | None = None, attendees: int | None = None) -> ClassPublic:
    unit = unit or session.get(OrgUnit, cls.unit_id)
    if attendees is None:
        attendees = session.exec(select(func.count()).select_from(OfflineAttendance)
                                 .where(OfflineAttendance.class_id == cls.id,
                                        col(OfflineAttendance.removed_at).is_(None))).one()
    return ClassPublic(id=cls.id, name=cls.name, organiser=cls.organiser, start_date=cls.start_date,
                       end_date=cls.end_date, hours=cls.hours, unit_id=cls.unit_id,
                       unit_name=unit.name if unit else "—", attendees=int(attendees), created_at=cls.created_at)


def create_class(session: Session, actor: Actor, *, class_in: ClassIn) -> ClassPublic:
    """HR (within scope) registers a class."""
    name, organiser, hours, unit = _checked(session, actor, class_in)
    now = utcnow()
    cls = OfflineClass(name=name, organiser=organiser, start_date=class_in.start_date, end_date=class_in.end_date,
                       hours=hours, unit_id=unit.id, created_by=actor.id, created_at=now, updated_at=now)
    session.add(cls)
    session.flush()
    audit.record(session, actor.id, "offline.class_create", class_id=cls.id, name=name, unit=unit.code, hours=hours,
                 start=class_in.start_date.isoformat(), end=class_in.end_date.isoformat())
    session.flush()
    return _public(session, cls, unit, 0)


def update_class(session: Session, actor: Actor, *, class_id: int, class_in: ClassIn) -> ClassPublic:
    """Edit a class. A new 学时 or a new end year corrects every present attendee's ledger (new rows);
    a new unit must still hold every present attendee."""
    cls, old_unit = _managed_class(session, actor, class_id)
    name, organiser, hours, unit = _checked(session, actor, class_in)
    present = _present(session, cls.id)
    if unit.id != old_unit.id and present:
        outside = session.exec(select(func.count()).select_from(User).join(OrgUnit, OrgUnit.id == User.unit_id,
                                                                           isouter=True)
                               .where(col(User.id).in_(list(present)),
                                      or_(col(OrgUnit.path).is_(None), ~col(OrgUnit.path).startswith(unit.path)))).one()
        if outside:
            raise ValidationFailed("error.offline_unit_excludes", count=int(outside))
    before = {"name": cls.name, "organiser": cls.organiser, "start": cls.start_date.isoformat(),
              "end": cls.end_date.isoformat(), "hours": cls.hours, "unit_id": cls.unit_id}
    old_hours = cls.hours
    cls.name, cls.organiser, cls.hours, cls.unit_id = name, organiser, hours, unit.id
    cls.start_date, cls.end_date, cls.updated_at = class_in.start_date, class_in.end_date, utcnow()
    session.add(cls)
    session.flush()
    after = {"name": name, "organiser": organiser, "start": cls.start_date.isoformat(), "end": cls.end_date.isoformat(),
             "hours": hours, "unit_id": unit.id}
    changed = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    corrected = len(_settle(session, cls, sorted(present), present=True, actor_id=actor.id,
                            reason=f"线下培训《{cls.name}》学时更正：{old_hours:g} → {hours:g} 学时（{cls.end_date.year} 年）"))
    audit.record(session, actor.id, "offline.class_update", class_id=cls.id, changed=changed, corrected=corrected)
    session.flush()
    return _public(session, cls, unit, len(present))


def list_classes(session: Session, actor: Actor, *, year: int | None = None) -> list[ClassPublic]:
    """The classes of units in the actor's HR scope, newest first; `year` = the year they end in."""
    counts = (select(OfflineAttendance.class_id, func.count().label("n"))
              .where(col(OfflineAttendance.removed_at).is_(None)).group_by(OfflineAttendance.class_id).subquery())
    q = (select(OfflineClass, OrgUnit, func.coalesce(counts.c.n, 0))
         .join(OrgUnit, OrgUnit.id == OfflineClass.unit_id)
         .join(counts, counts.c.class_id == OfflineClass.id, isouter=True))
    where = _in_scope_where(actor)
    if where is not None:
        q = q.where(where)
    if year:
        q = q.where(OfflineClass.end_date >= date(year, 1, 1), OfflineClass.end_date <= date(year, 12, 31))
    rows = session.exec(q.order_by(col(OfflineClass.start_date).desc(), col(OfflineClass.id).desc())).all()
    return [_public(session, c, u, n) for c, u, n in rows]


def get_class(session: Session, actor: Actor, *, class_id: int) -> ClassPublic:
    cls, unit = _managed_class(session, actor, class_id)
    return _public(session, cls, unit)


def class_years(session: Session, actor: Actor) -> list[int]:
    """Years with classes in scope, and this year, newest first."""
    return sorted({c.year for c in list_classes(session, actor)} | {today().year}, reverse=True)


# ---- attendance -----------------------------------------------------------------------------------

def _present(session: Session, class_id: int) -> set[int]:
    return set(session.exec(select(OfflineAttendance.user_id).where(OfflineAttendance.class_id == class_id,
                                                                    col(OfflineAttendance.removed_at).is_(None))).all())


def _prefix(class_id: int, user_id: int) -> str:
    return f"{SOURCE}-{class_id}-{user_id}-"


CHUNK = 500


def _insert_many(session: Session, model, rows: list[dict], *, index_elements: list[str], index_where=None,
                 returning: tuple) -> list[tuple]:
    """INSERT ... ON CONFLICT DO NOTHING ... RETURNING for many rows (SQLite and PostgreSQL), in chunks:
    a row that loses a race on the unique key is skipped, never fails the unit of work (as
    services.ledger.insert_once does for one row). Returns the `returning` columns of the rows added."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:   # pragma: no cover - the app supports SQLite and PostgreSQL
        raise RuntimeError(f"unsupported database {dialect}")
    out: list[tuple] = []
    for i in range(0, len(rows), CHUNK):
        stmt = (insert(model.__table__).values(rows[i:i + CHUNK])
                .on_conflict_do_nothing(index_elements=index_elements, index_where=index_where).returning(*returning))
        out += [tuple(r) for r in session.execute(stmt).all()]
    return out


def _settle(session: Session, cls: OfflineClass, user_ids: Sequence[int], *, present: bool, actor_id: int | None,
            reason: str) -> dict[int, int]:
    """Make each person's ledger rows for this class sum to what the class gives them now: its 学时 in
    its end year while present, nothing otherwise. Appends the differences (a few statements for any
    number of people); returns {user id: id of the last row added} for the people who got one."""
    user_ids = list(dict.fromkeys(user_ids))
    net: dict[int, dict[int, float]] = {}
    count: dict[int, int] = {}
    for i in range(0, len(user_ids), CHUNK):
        for user_id, y, h in session.exec(
                select(LedgerEntry.user_id, LedgerEntry.year, LedgerEntry.hours)
                .where(col(LedgerEntry.user_id).in_(user_ids[i:i + CHUNK]), LedgerEntry.source_type == SOURCE,
                       col(LedgerEntry.source_id).startswith(f"{SOURCE}-{cls.id}-"))).all():
            per_year = net.setdefault(user_id, {})
            per_year[y] = per_year.get(y, 0.0) + h
            count[user_id] = count.get(user_id, 0) + 1
    want = {cls.end_date.year: cls.hours} if present else {}
    now = utcnow()
    rows = []
    for user_id in user_ids:
        have, seq = net.get(user_id, {}), count.get(user_id, 0)
        for y in sorted(set(have) | set(want)):
            diff = round(want.get(y, 0.0) - have.get(y, 0.0), 2)
            if abs(diff) < 0.005:
                continue
            seq += 1
            rows.append({"user_id": user_id, "year": y, "hours": diff, "source_type": SOURCE,
                         "source_id": f"{_prefix(cls.id, user_id)}{seq}", "course_id": None, "reason": reason[:400],
                         "created_at": now, "created_by": actor_id})
    last: dict[int, int] = {}
    for entry_id, user_id in sorted(_insert_many(session, LedgerEntry, rows,
                                                 index_elements=["user_id", "source_type", "source_id"],
                                                 returning=(LedgerEntry.id, LedgerEntry.user_id))):
        last[user_id] = entry_id
    return last


def _credit_reason(cls: OfflineClass) -> str:
    when = (cls.start_date.isoformat() if cls.start_date == cls.end_date
            else f"{cls.start_date.isoformat()} 至 {cls.end_date.isoformat()}")
    return f"线下培训《{cls.name}》（{cls.organiser}，{when}），计 {cls.hours:g} 学时"


def _add(session: Session, actor: Actor, cls: OfflineClass, user_ids: Sequence[int]) -> int:
    """Add present attendance and credit each person (those already present are skipped by the caller):
    one multi-row insert of attendance, one of ledger rows, one update linking them."""
    from sqlalchemy import bindparam
    now = utcnow()
    # the partial unique index stops a concurrent second add of the same person: skipped, never failing
    added = _insert_many(session, OfflineAttendance,
                         [{"class_id": cls.id, "user_id": u, "ledger_entry_id": None, "added_at": now,
                           "added_by": actor.id, "removed_at": None, "removed_by": None} for u in user_ids],
                         index_elements=["class_id", "user_id"], index_where=text(PRESENT_WHERE),
                         returning=(OfflineAttendance.id, OfflineAttendance.user_id))
    attendance = {user_id: att_id for att_id, user_id in added}
    entries = _settle(session, cls, list(attendance), present=True, actor_id=actor.id, reason=_credit_reason(cls))
    table = OfflineAttendance.__table__
    links = [{"att_id": attendance[u], "entry_id": e} for u, e in entries.items()]
    if links:
        session.execute(table.update().where(table.c.id == bindparam("att_id")).values(ledger_entry_id=bindparam("entry_id")),
                        links)
    session.flush()
    return len(attendance)


def _require_started(cls: OfflineClass) -> None:
    if cls.start_date > today():
        raise ValidationFailed("error.offline_not_started", start=cls.start_date.isoformat())


def _people(session: Session, ids: Iterable[int]):
    ids = list(ids)
    out = []
    for i in range(0, len(ids), 500):
        out += session.exec(select(User, OrgUnit).join(OrgUnit, OrgUnit.id == User.unit_id, isouter=True)
                            .where(col(User.id).in_(ids[i:i + 500]))).all()
    return out


def add_attendees(session: Session, actor: Actor, *, class_id: int, user_ids: Sequence[int]) -> AttendanceResult:
    """Add picked people. All or nothing: anyone unknown, inactive or outside the class's unit refuses
    the whole pick. People already present are skipped."""
    cls, unit = _managed_class(session, actor, class_id)
    _require_started(cls)
    wanted = list(dict.fromkeys(int(u) for u in user_ids))
    if not wanted:
        raise ValidationFailed("error.offline_pick_none")
    found = {u.id: (u, ou) for u, ou in _people(session, wanted)}
    for user_id in wanted:
        user, ou = found.get(user_id, (None, None))
        if user is None or ou is None or not ou.path.startswith(unit.path):
            raise ValidationFailed("error.offline_person_outside", unit=unit.name,
                                   name=user.name if user is not None and actor.covers("hr", ou.path if ou else None)
                                   else f"#{user_id}")
        if not user.active:
            raise ValidationFailed("error.offline_person_inactive", name=user.name)
    present = _present(session, cls.id)
    new = [u for u in wanted if u not in present]
    added = _add(session, actor, cls, new)
    audit.record(session, actor.id, "offline.attendance_add", class_id=cls.id, via="pick", added=added,
                 already=len(wanted) - len(new), user_ids=new[:200])
    session.flush()
    return AttendanceResult(added=added, already=len(wanted) - len(new))


def remove_attendee(session: Session, actor: Actor, *, class_id: int, user_id: int) -> None:
    """Take someone off the list: the attendance row is stamped and the ledger gets the reversing row."""
    cls, _ = _managed_class(session, actor, class_id)
    att = session.exec(select(OfflineAttendance).where(OfflineAttendance.class_id == cls.id,
                                                       OfflineAttendance.user_id == user_id,
                                                       col(OfflineAttendance.removed_at).is_(None))).first()
    if att is None:
        raise NotFound("error.offline_not_attending")
    att.removed_at, att.removed_by = utcnow(), actor.id
    session.add(att)
    session.flush()
    _settle(session, cls, [user_id], present=False, actor_id=actor.id,
            reason=f"撤销线下培训《{cls.name}》的 {cls.hours:g} 学时（已从名单移除）")
    audit.record(session, actor.id, "offline.attendance_remove", class_id=cls.id, user_id=user_id)
    session.flush()


def attendees(session: Session, actor: Actor, *, class_id: int) -> list[Attendee]:
    """Present attendees of a class, by unit then name."""
    cls, _ = _managed_class(session, actor, class_id)
    rows = session.exec(select(User, OrgUnit, OfflineAttendance.added_at)
                        .join(OfflineAttendance, OfflineAttendance.user_id == User.id)
                        .join(OrgUnit, OrgUnit.id == User.unit_id, isouter=True)
                        .where(OfflineAttendance.class_id == cls.id, col(OfflineAttendance.removed_at).is_(None))
                        .order_by(OrgUnit.path, User.name, User.id)).all()
    return [Attendee(user_id=u.id, username=u.username, name=u.name, employee_no=u.employee_no,
                     unit_name=ou.name if ou else "—", added_at=at) for u, ou, at in rows]


def _like(text: str) -> str:
    return "%" + re.sub(r"[%_\\]", "", text) + "%"


def candidates(session: Session, actor: Actor, *, class_id: int, search: str = "", limit: int = 50) -> list[PersonOption]:
    """Active people of the class's unit subtree not yet on its list, matching `search` (name, username
    or 工号), at most `limit`, by name."""
    cls, unit = _managed_class(session, actor, class_id)
    search = (clean_text(search or "", field="search", max_length=64) or "").strip()
    present = select(OfflineAttendance.user_id).where(OfflineAttendance.class_id == cls.id,
                                                      col(OfflineAttendance.removed_at).is_(None))
    q = (select(User.id, User.name, User.username, OrgUnit.name).join(OrgUnit, OrgUnit.id == User.unit_id)
         .where(User.active, col(OrgUnit.path).startswith(unit.path), col(User.id).not_in(present)))
    if search:
        like = _like(search)
        q = q.where(or_(col(User.name).like(like), col(User.username).like(like), col(User.employee_no).like(like)))
    rows = session.exec(q.order_by(User.name, User.id).limit(max(1, min(limit, 500)))).all()
    return [PersonOption(user_id=i, label=f"{n}（{u} · {un}）") for i, n, u, un in rows]


# ---- import ---------------------------------------------------------------------------------------

def template_xlsx() -> bytes:
    C = spreadsheets.Column
    return spreadsheets.workbook_xlsx(
        spreadsheets.Sheet("签到名单", [C("用户名", 18), C("工号", 14), C("姓名", 14)],
                           [["zhangsan", "HB0001", "张三"], ["", "HB0002", "李四"]]),
        spreadsheets.Sheet("说明", [C("说明", 90)], [[line] for line in TEMPLATE_NOTES], freeze_header=False))


def template_csv() -> bytes:
    return spreadsheets.table_csv(columns=TEMPLATE_HEADERS, rows=[["zhangsan", "HB0001", "张三"]])


def _lookup(session: Session, column, values: set[str]) -> list[tuple[User, OrgUnit | None]]:
    values = sorted(values)
    out = []
    for i in range(0, len(values), 500):
        out += session.exec(select(User, OrgUnit).join(OrgUnit, OrgUnit.id == User.unit_id, isouter=True)
                            .where(column.in_(values[i:i + 500]))).all()
    return out


def plan_attendance_import(session: Session, actor: Actor, *, class_id: int, filename: str, data: bytes) -> AttendancePlan:
    """Validate an attendance list against the file and the database. Writes nothing.

    Rows are numbered as the spreadsheet shows them (header = row 1). Each row names a person by 用户名
    or 工号 (both may be given: they must be the same person); 姓名, when given, must match. Someone
    unknown or outside the class's unit gets the same message (the list cannot probe other units)."""
    cls, unit = _managed_class(session, actor, class_id)
    plan = AttendancePlan(class_id=cls.id)
    if cls.start_date > today():
        plan.errors.append(RowError(1, "", "", "error.offline_not_started", {"start": cls.start_date.isoformat()}))
        return plan
    table = read_table(filename, data)
    if not table:
        plan.errors.append(RowError(1, "", "", "error.import_empty"))
        return plan
    lookup = {alias.lower(): key for key, aliases in COLUMNS.items() for alias in aliases}
    colmap: dict[str, int] = {}
    for i, h in enumerate(table[0]):
        key = lookup.get((h or "").strip().lower())
        if key is None:
            continue                    # other columns (单位, 备注, 签到时间 ...) are allowed and not read
        if key in colmap:
            plan.errors.append(RowError(1, preview(h), preview(h), "error.import_duplicate_column", {"column": preview(h)}))
        else:
            colmap[key] = i
    if "username" not in colmap and "employee_no" not in colmap:
        plan.errors.append(RowError(1, "用户名/工号", "", "error.offline_missing_column"))
    if plan.errors:
        return plan
    body = table[1:]
    if not any(any(r) for r in body):
        plan.errors.append(RowError(2, "", "", "error.import_no_rows"))
        return plan
    if len(body) > MAX_ROWS:
        plan.errors.append(RowError(len(body) + 1, "", "", "error.import_too_many", {"max": MAX_ROWS}))
        return plan

    labels = {k: COLUMNS[k][0] for k in COLUMNS}
    records = []
    for n, raw in enumerate(body, start=2):
        rec = {k: (raw[colmap[k]] if k in colmap and colmap[k] < len(raw) else "").strip() for k in COLUMNS}
        if not any(rec.values()):
            continue
        rec["row"], rec["bad"] = n, set()
        for key in COLUMNS:
            try:
                clean_text(rec[key], field=labels[key], max_length=LIMITS[key], row=n)
            except ValidationFailed as exc:
                plan.errors.append(RowError(n, labels[key], preview(rec[key]), exc.code, exc.params))
                rec["bad"].add(key)
        if not rec["username"] and not rec["employee_no"]:
            plan.errors.append(RowError(n, "用户名/工号", "", "error.offline_row_needs_person"))
            rec["bad"].add("username")
        records.append(rec)

    by_name: dict[str, list] = {}
    for u, ou in _lookup(session, sa_func.lower(User.username),
                         {r["username"].lower() for r in records if r["username"] and "username" not in r["bad"]}):
        by_name.setdefault(u.username.lower(), []).append((u, ou))
    by_no: dict[str, list] = {}
    for u, ou in _lookup(session, User.employee_no,
                         {r["employee_no"] for r in records if r["employee_no"] and "employee_no" not in r["bad"]}):
        by_no.setdefault(u.employee_no, []).append((u, ou))

    def inside(pair) -> bool:
        return pair[1] is not None and pair[1].path.startswith(unit.path)

    present = _present(session, cls.id)
    seen: dict[int, int] = {}
    for rec in records:
        n = rec["row"]
        if rec["bad"]:
            continue
        person = None
        if rec["username"]:
            matches = [p for p in by_name.get(rec["username"].lower(), []) if inside(p)]
            if not matches:
                plan.errors.append(RowError(n, labels["username"], preview(rec["username"]),
                                            "error.offline_person_unknown", {"unit": unit.name}))
                continue
            person = matches[0][0]
        if rec["employee_no"]:
            matches = [p[0] for p in by_no.get(rec["employee_no"], []) if inside(p)]
            if person is not None:
                if person.id not in {m.id for m in matches}:
                    plan.errors.append(RowError(n, labels["employee_no"], preview(rec["employee_no"]),
                                                "error.offline_employee_no_mismatch", {"username": person.username}))
                    continue
            elif not matches:
                plan.errors.append(RowError(n, labels["employee_no"], preview(rec["employee_no"]),
                                            "error.offline_person_unknown", {"unit": unit.name}))
                continue
            elif len(matches) > 1:
                plan.errors.append(RowError(n, labels["employee_no"], preview(rec["employee_no"]),
                                            "error.offline_employee_no_ambiguous", {"count": len(matches)}))
                continue
            else:
                person = matches[0]
        if rec["name"] and rec["name"] != person.name:
            plan.errors.append(RowError(n, labels["name"], preview(rec["name"]), "error.offline_name_mismatch",
                                        {"name": person.name}))
            continue
        if not person.active:
            plan.errors.append(RowError(n, labels["username"] if rec["username"] else labels["employee_no"],
                                        preview(rec["username"] or rec["employee_no"]), "error.offline_person_inactive",
                                        {"name": person.name}))
            continue
        if person.id in seen:
            plan.errors.append(RowError(n, labels["username"] if rec["username"] else labels["employee_no"],
                                        preview(rec["username"] or rec["employee_no"]), "error.offline_dup_in_file",
                                        {"other": seen[person.id]}))
            continue
        seen[person.id] = n
        entry = {"row": n, "user_id": person.id, "username": person.username, "name": person.name}
        (plan.already if person.id in present else plan.rows).append(entry)
    return plan


def apply_attendance_import(session: Session, actor: Actor, *, plan: AttendancePlan) -> AttendanceResult:
    """Write a fully valid plan (flushed into the caller's unit of work). The plan is checked again
    against the database as it is now, so a list validated earlier cannot add someone who has left."""
    cls, unit = _managed_class(session, actor, plan.class_id)
    _require_started(cls)
    if plan.errors or not (plan.rows or plan.already):
        raise ValidationFailed("error.import_has_errors", count=len(plan.errors))
    ids = [r["user_id"] for r in plan.rows]
    for user, ou in _people(session, ids):
        if ou is None or not ou.path.startswith(unit.path) or not user.active:
            raise ValidationFailed("error.offline_person_outside", unit=unit.name, name=user.name)
    present = _present(session, cls.id)
    new = [i for i in ids if i not in present]
    added = _add(session, actor, cls, new)
    already = len(plan.already) + (len(ids) - added)
    audit.record(session, actor.id, "offline.attendance_add", class_id=cls.id, via="import", added=added,
                 already=already, user_ids=new[:200])
    session.flush()
    return AttendanceResult(added=added, already=already)


# ---- the learner's own ----------------------------------------------------------------------------

def my_classes(session: Session, actor: Actor, *, year: int | None = None) -> list[ClassPublic]:
    """The classes the acting user attends (present), ending in `year` when given, newest first."""
    if actor.id is None:
        raise PermissionDenied(roles="learner")
    q = (select(OfflineClass, OrgUnit).join(OfflineAttendance, OfflineAttendance.class_id == OfflineClass.id)
         .join(OrgUnit, OrgUnit.id == OfflineClass.unit_id)
         .where(OfflineAttendance.user_id == actor.id, col(OfflineAttendance.removed_at).is_(None)))
    if year:
        q = q.where(OfflineClass.end_date >= date(year, 1, 1), OfflineClass.end_date <= date(year, 12, 31))
    return [_public(session, c, u, 0) for c, u in
            session.exec(q.order_by(col(OfflineClass.start_date).desc())).all()]


# ---- exports (the safe writer: user text stays text) -------------------------------------------------

CLASS_COLUMNS = [spreadsheets.Column("班次名称", 36), spreadsheets.Column("主办单位", 24),
                 spreadsheets.Column("开始日期", 12, "yyyy-mm-dd"), spreadsheets.Column("结束日期", 12, "yyyy-mm-dd"),
                 spreadsheets.Column("每人学时", 10, "0.00"), spreadsheets.Column("所属单位", 24),
                 spreadsheets.Column("参加人数", 10)]
ATTENDEE_COLUMNS = [spreadsheets.Column("用户名", 18), spreadsheets.Column("姓名", 14), spreadsheets.Column("工号", 14),
                    spreadsheets.Column("单位", 24), spreadsheets.Column("登记时间", 18, "yyyy-mm-dd hh:mm"),
                    spreadsheets.Column("学时", 10, "0.00")]


def _scope_label(session: Session, actor: Actor) -> str:
    from services.reports import scope_names
    names = scope_names(session, actor)
    return "全部单位" if names is None else "、".join(names)


def classes_xlsx(session: Session, actor: Actor, *, year: int | None = None) -> bytes:
    """The classes of the scope (of `year`): the filters on the first sheet, then the table."""
    rows = [(c.name, c.organiser, c.start_date, c.end_date, c.hours, c.unit_name, c.attendees)
            for c in list_classes(session, actor, year=year)]
    title = f"线下培训班次 · {year or '全部年度'}"
    filters = [("管理范围", _scope_label(session, actor)), ("年度（按结束日期）", str(year or "全部")),
               ("导出时间", utcnow().astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"))]
    return spreadsheets.workbook_xlsx(
        spreadsheets.Sheet("筛选条件", [spreadsheets.Column("项目", 18), spreadsheets.Column("内容", 60)], filters,
                           title_rows=[title], freeze_header=False),
        spreadsheets.Sheet("班次", CLASS_COLUMNS, rows, title_rows=[title], auto_filter=True))


def classes_csv(session: Session, actor: Actor, *, year: int | None = None) -> bytes:
    return spreadsheets.table_csv(columns=CLASS_COLUMNS, rows=[
        (c.name, c.organiser, c.start_date.isoformat(), c.end_date.isoformat(), c.hours, c.unit_name, c.attendees)
        for c in list_classes(session, actor, year=year)])


def attendees_xlsx(session: Session, actor: Actor, *, class_id: int) -> bytes:
    """One class: what it is on the first sheet, then its attendees."""
    cls = get_class(session, actor, class_id=class_id)
    people = attendees(session, actor, class_id=class_id)
    title = f"线下培训参加人员 · {cls.name}"
    info = [("班次名称", cls.name), ("主办单位", cls.organiser), ("日期", f"{cls.start_date} 至 {cls.end_date}"),
            ("每人学时", f"{cls.hours:g}"), ("所属单位", cls.unit_name), ("参加人数", str(len(people))),
            ("导出时间", utcnow().astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"))]
    return spreadsheets.workbook_xlsx(
        spreadsheets.Sheet("班次", [spreadsheets.Column("项目", 14), spreadsheets.Column("内容", 60)], info,
                           title_rows=[title], freeze_header=False),
        spreadsheets.Sheet("参加人员", ATTENDEE_COLUMNS,
                           [(p.username, p.name, p.employee_no or "", p.unit_name, p.added_at, cls.hours) for p in people],
                           title_rows=[title], auto_filter=True))


def attendees_csv(session: Session, actor: Actor, *, class_id: int) -> bytes:
    cls = get_class(session, actor, class_id=class_id)
    return spreadsheets.table_csv(columns=ATTENDEE_COLUMNS, rows=[
        (p.username, p.name, p.employee_no or "", p.unit_name, p.added_at, cls.hours)
        for p in attendees(session, actor, class_id=class_id)])
