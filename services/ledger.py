"""The 学时 ledger: append-only rows, each with a reason; totals are SUMs, never counters."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlmodel import Session, col, func, select

from models import Course, LedgerEntry, OrgUnit, User
from models.db import local_year, utcnow
from services import audit
from services.errors import NotFound, ValidationFailed
from services.permissions import Actor, require_admin, require_scope
from services.settings import target_for_unit


def insert_once(session: Session, model, values: dict[str, Any], *, index_elements: list[str],
                index_where: Any = None, returning: Any = None) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING on a unique key (SQLite and PostgreSQL): the loser of a race
    skips instead of failing the whole unit of work, with no savepoint (with the pysqlite driver a
    savepoint opened before any write is a transaction of its own, committed on release). Returns the
    `returning` column of the new row (None when skipped), or without it whether a row was inserted."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:   # pragma: no cover - the app supports SQLite and PostgreSQL
        raise RuntimeError(f"unsupported database {dialect}")
    stmt = insert(model.__table__).values(**values).on_conflict_do_nothing(index_elements=index_elements,
                                                                          index_where=index_where)
    if returning is not None:
        return session.execute(stmt.returning(returning)).scalar_one_or_none()
    # RETURNING rather than rowcount: with implicit RETURNING (PostgreSQL) the rowcount is not reliable
    key = next(iter(model.__table__.primary_key.columns))
    return session.execute(stmt.returning(key)).scalar_one_or_none() is not None


def credit(session: Session, *, user_id: int, hours: float, source_type: str, source_id: str,
           reason: str, course_id: str | None = None, created_by: int | None = None) -> bool:
    """Append one entry unless this source was credited already (unique key). Returns True if added."""
    exists = session.exec(select(LedgerEntry.id).where(LedgerEntry.user_id == user_id,
                                                       LedgerEntry.source_type == source_type,
                                                       LedgerEntry.source_id == source_id)).first()
    if exists is not None:
        return False
    now = utcnow()
    # a concurrent credit of the same source may win the race: then this one adds nothing
    return insert_once(session, LedgerEntry, {
        "user_id": user_id, "year": local_year(now), "hours": round(hours, 2), "source_type": source_type,
        "source_id": source_id, "course_id": course_id, "reason": reason, "created_at": now, "created_by": created_by},
        index_elements=["user_id", "source_type", "source_id"])


def adjust(session: Session, actor: Actor, *, user_id: int, hours: float, reason: str) -> None:
    """An admin correction: a new signed row with the admin's reason (the ledger is never edited)."""
    require_admin(actor)
    if session.get(User, user_id) is None:
        raise NotFound(what="user", id=user_id)
    if not reason.strip():
        raise ValidationFailed("error.reason_required")
    if hours == 0 or abs(hours) > 100:
        raise ValidationFailed("error.adjust_range")
    credit(session, user_id=user_id, hours=hours, source_type="adjustment", source_id=f"adj-{uuid.uuid4().hex}",
           reason=reason.strip()[:400], created_by=actor.id)
    audit.record(session, actor.id, "ledger.adjust", user_id=user_id, hours=hours, reason=reason.strip())
    session.flush()


@dataclass
class HoursSummary:
    year: int
    total: float
    target: float
    required_total: float
    elective_total: float

    @property
    def percent(self) -> float:
        return min(100.0, 100 * self.total / self.target) if self.target else 100.0


def my_summary(session: Session, actor: Actor, *, year: int | None = None) -> HoursSummary:
    year = year or local_year()
    rows = session.exec(
        select(Course.required, func.sum(LedgerEntry.hours))
        .join(Course, Course.id == LedgerEntry.course_id, isouter=True)
        .where(LedgerEntry.user_id == actor.id, LedgerEntry.year == year)
        .group_by(Course.required)
    ).all()
    req = sum(h or 0 for r, h in rows if r)
    other = sum(h or 0 for r, h in rows if not r)
    user = session.get(User, actor.id)
    return HoursSummary(year=year, total=round(req + other, 2), target=target_for_unit(session, user.unit_id),
                        required_total=round(req, 2), elective_total=round(other, 2))


def my_entries(session: Session, actor: Actor, *, year: int | None = None) -> pd.DataFrame:
    """Every ledger row of the acting user (a learner sees only their own ledger)."""
    return _entries(session, actor.id, year)


def entries_of(session: Session, actor: Actor, *, user_id: int, year: int | None = None) -> pd.DataFrame:
    """Someone else's ledger: admins, and HR for people in their scope."""
    user = session.get(User, user_id)
    if user is None:
        raise ValidationFailed("error.not_found")
    unit = session.get(OrgUnit, user.unit_id) if user.unit_id else None
    require_scope(actor, "hr", unit.path if unit else None)
    return _entries(session, user_id, year)


def _entries(session: Session, user_id: int, year: int | None) -> pd.DataFrame:
    q = (select(LedgerEntry.created_at, LedgerEntry.hours, LedgerEntry.source_type, LedgerEntry.reason,
                Course.title.label("course"))
         .join(Course, Course.id == LedgerEntry.course_id, isouter=True)
         .where(LedgerEntry.user_id == user_id))
    if year:
        q = q.where(LedgerEntry.year == year)
    rows = session.exec(q.order_by(col(LedgerEntry.created_at).desc())).all()
    return pd.DataFrame(rows, columns=["created_at", "hours", "source_type", "reason", "course"])


def my_years(session: Session, actor: Actor) -> list[int]:
    years = session.exec(select(LedgerEntry.year).where(LedgerEntry.user_id == actor.id).distinct()).all()
    return sorted(set(years) | {local_year()}, reverse=True)
