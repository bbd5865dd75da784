"""Exact per-person-year totals for the HR dashboard (models.rollups.PersonYearTotal, issue 10).

Why not an id watermark like the ledger's: a settle, an essay grade or a regrade re-totals an attempt
in place. So a person's rows are RECOMPUTED from the raw tables whenever something of theirs that the
dashboard counts changes (refresh_person, called by the services that write attempts and completions),
never incremented: exact by construction, nothing to drift.

The sums mirror services.analytics.dashboard._leaf_figures for a city calendar year (UTC+8):
- exams: attempts of kind "exam", status "submitted", submitted_at in [Jan 1, next Jan 1) local;
  count, passed, sum of score * 100 / max_score (0 where max_score is 0);
- completions of courses that are active, completed_at in the year (the dashboard's "done by the end of
  year Y" sums the rows of years <= Y).

A safety net for writers outside the services (bulk loaders, the demo, tests writing rows directly):
`ensure_fresh`, when attempts or completions were added since its last look (their highest ids),
compares cheap counts of the raw tables (counted exam attempts, passes, completions of active
courses) with the table's, and rebuilds the whole table from the raw rows when they differ.
Services flush, never commit."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Float, and_, case, cast, delete, literal, union_all
from sqlmodel import Session, col, func, select

from models import Attempt, Course, CourseCompletion
from models.db import LOCAL_TZ, local_year
from models.rollups import PersonYearTotal

def year_bounds(year: int) -> tuple[datetime, datetime]:
    """[Jan 1 00:00, next Jan 1 00:00) of a city calendar year, aware (UTC+8)."""
    return datetime(year, 1, 1, tzinfo=LOCAL_TZ), datetime(year + 1, 1, 1, tzinfo=LOCAL_TZ)


def score_pct():
    """An attempt's score in percent, exactly as the dashboard computes it."""
    return case((Attempt.max_score > 0, cast(Attempt.score, Float) * 100.0 / Attempt.max_score), else_=0.0)


def _counted_exams(lo: datetime, hi: datetime):
    return (Attempt.kind == "exam", Attempt.status == "submitted", Attempt.submitted_at >= lo,
            Attempt.submitted_at < hi)


def _active_courses():
    return select(Course.id).where(Course.active)


def _completions(lo: datetime | None, hi: datetime):
    conds = [col(CourseCompletion.course_id).in_(_active_courses()), CourseCompletion.completed_at < hi]
    if lo is not None:
        conds.append(CourseCompletion.completed_at >= lo)
    return conds


def _year_select(year: int, user_id: int | None = None):
    """user_id, year, exam_attempts, exam_passed, exam_score_sum, done for one year (one person or all)."""
    lo, hi = year_bounds(year)
    exams = select(Attempt.user_id.label("user_id"), literal(1).label("n"),
                   case((Attempt.passed, 1), else_=0).label("p"), score_pct().label("s"),
                   literal(0).label("d")).where(*_counted_exams(lo, hi))
    done = select(CourseCompletion.user_id.label("user_id"), literal(0).label("n"), literal(0).label("p"),
                  literal(0.0).label("s"), literal(1).label("d")).where(*_completions(lo, hi))
    if user_id is not None:
        exams = exams.where(Attempt.user_id == user_id)
        done = done.where(CourseCompletion.user_id == user_id)
    u = union_all(exams, done).subquery()
    return (select(u.c.user_id, literal(year).label("year"), func.sum(u.c.n), func.sum(u.c.p),
                   func.coalesce(func.sum(u.c.s), 0.0), func.sum(u.c.d))
            .group_by(u.c.user_id))


def _insert(session: Session):
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def refresh_person(session: Session, user_id: int, years: Iterable[int]) -> None:
    """Recompute one person's rows for these years from the raw tables. The row is locked first (an
    upsert that changes nothing), then read: under READ COMMITTED a concurrent writer of the same person
    waits, and whoever recomputes last sees everything committed before. Flushes."""
    table = PersonYearTotal.__table__
    insert = _insert(session)
    session.flush()      # the caller's own pending changes are part of what is summed
    for year in sorted({int(y) for y in years}):
        lock = insert(table).values(user_id=user_id, year=year, exam_attempts=0, exam_passed=0, exam_score_sum=0.0,
                                    done=0)
        session.execute(lock.on_conflict_do_update(index_elements=["user_id", "year"],
                                                   set_={"exam_attempts": table.c.exam_attempts}))
        row = session.execute(_year_select(year, user_id)).first()
        where = and_(table.c.user_id == user_id, table.c.year == year)
        if row is None or not (row[2] or row[5]):
            session.execute(delete(table).where(where))
        else:
            session.execute(table.update().where(where).values(exam_attempts=int(row[2]), exam_passed=int(row[3] or 0),
                                                              exam_score_sum=float(row[4] or 0.0), done=int(row[5] or 0)))
    session.flush()


def refresh_attempt(session: Session, attempt: Attempt | int) -> None:
    """The hook for a change of an exam attempt's status, total or pass: its person's year."""
    if isinstance(attempt, int):
        attempt = session.get(Attempt, attempt)
    if attempt is None or attempt.kind != "exam" or attempt.submitted_at is None:
        return
    refresh_person(session, attempt.user_id, [local_year(attempt.submitted_at)])


def refresh_completion(session: Session, user_id: int, completed_at: datetime) -> None:
    """The hook for a completion written or removed."""
    refresh_person(session, user_id, [local_year(completed_at)])


def _years(session: Session) -> list[int]:
    moments = session.execute(select(
        select(func.min(Attempt.submitted_at)).where(Attempt.kind == "exam", Attempt.status == "submitted")
        .scalar_subquery(),
        select(func.max(Attempt.submitted_at)).where(Attempt.kind == "exam", Attempt.status == "submitted")
        .scalar_subquery(),
        select(func.min(CourseCompletion.completed_at)).scalar_subquery(),
        select(func.max(CourseCompletion.completed_at)).scalar_subquery())).one()
    years = [local_year(_aware(m)) for m in moments if m is not None]
    return list(range(min(years) - 1, max(years) + 2)) if years else []


def _aware(moment: datetime) -> datetime:
    from datetime import UTC
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def rebuild(session: Session) -> int:
    """The whole table from the raw rows, in SQL (one INSERT ... SELECT per year; the migration's
    backfill, bulk loaders, the safety net). Flushes; returns the rows written."""
    table = PersonYearTotal.__table__
    session.flush()
    session.execute(delete(table))
    cols = ["user_id", "year", "exam_attempts", "exam_passed", "exam_score_sum", "done"]
    for year in _years(session):
        session.execute(table.insert().from_select(cols, _year_select(year)))
    session.flush()
    return session.execute(select(func.count()).select_from(table)).scalar_one()


def fingerprints(session: Session) -> tuple[tuple, tuple]:
    """(raw, rolled) over all years: counted exam attempts, passed ones, completions of active courses.
    Cheap (index-only counts): it catches rows added or removed outside the services; a score or a
    pass changed in place by hand-written SQL is not seen (the services recompute on every change)."""
    t = PersonYearTotal
    raw = session.execute(select(
        select(func.count()).where(Attempt.kind == "exam", Attempt.status == "submitted",
                                   Attempt.submitted_at.is_not(None)).scalar_subquery(),
        select(func.count()).where(Attempt.kind == "exam", Attempt.status == "submitted",
                                   Attempt.submitted_at.is_not(None), Attempt.passed).scalar_subquery(),
        select(func.count()).select_from(CourseCompletion)
        .where(col(CourseCompletion.course_id).in_(_active_courses())).scalar_subquery())).one()
    rolled = session.execute(select(func.sum(t.exam_attempts), func.sum(t.exam_passed), func.sum(t.done))).one()
    return tuple(int(v or 0) for v in raw), tuple(int(v or 0) for v in rolled)


def ensure_fresh(session: Session) -> bool:
    """True when the table agrees with the raw rows (counts over all years); otherwise rebuilds it and returns
    False. The counts run only when attempts or completions were added since the last check (their
    highest ids, kept in AnalyticsState) or the number of active courses changed: a writer that
    bypassed the services (a bulk loader, the demo, a test writing rows directly) always adds rows.
    Flushes."""
    from models import AnalyticsState
    marks = session.execute(select(select(func.max(Attempt.id)).scalar_subquery(),
                                   select(func.max(CourseCompletion.id)).scalar_subquery(),
                                   select(func.count()).select_from(Course).where(Course.active)
                                   .scalar_subquery())).one()
    keys = ("person_year:attempt", "person_year:completion", "person_year:active_courses")
    states = [session.get(AnalyticsState, k) for k in keys]
    if all(st is not None and st.last_id == (m or 0) for st, m in zip(states, marks)):
        return True
    raw, rolled = fingerprints(session)
    fresh = raw == rolled
    if not fresh:
        rebuild(session)
    table = AnalyticsState.__table__
    for k, st, m in zip(keys, states, marks):      # an upsert: two first viewers at once do not collide
        stmt = _insert(session)(table).values(key=k, last_id=m or 0)
        session.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"last_id": stmt.excluded.last_id}))
        if st is not None:
            session.expire(st)
    session.flush()
    return fresh
