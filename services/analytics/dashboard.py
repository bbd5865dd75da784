"""HR dashboard: KPIs, the org-tree roll-up, chart data and a person's record, within the HR scope.

How figures are made (the page's help says the same):
- A learner is an active account holding the learner role, counted in the unit they belong to NOW
  (current-unit rule): their whole year's 学时 go with them when they move, because the annual target
  is a personal obligation followed up by the unit responsible for them today. The old unit no longer
  sees them. (Membership history is kept, but splitting hours by the date each was earned would make
  a person who moved count as half a person in two units, never meeting the target in either.)
- The period is a city calendar year (UTC+8; ledger rows carry their credited year) or a date range of
  local dates, both ends included. The previous period is the year before, or the range of the same
  length just before.
- 学时 follow the course and required/elective filters (hours from imports or adjustments have no
  course and drop out when a course filter is set). "Active" = credited with any 学时 in the period.
- Meeting the target: 学时 in the period ≥ the person's annual target (per unit, nearest ancestor).
- Course completion rate: (learner, course) pairs completed by the end of the period, over learners ×
  active courses in the filter.
- Exams: submitted attempts of kind "exam" in the period: participation = learners with one / learners,
  pass rate = passed / submitted attempts, average score = mean of score / max score (percent).
- Every figure of a unit includes its whole subtree (materialised path); the per-unit numbers are
  computed in SQL grouped by unit (a few hundred rows) and rolled up the tree in Python.
- Whole calendar years without course filters read each person's exams and completions from the
  exact per-person-year totals (services.analytics.rollups: recomputed per person by the services that
  write attempts and completions); anything else sums the raw attempts and completions.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Float, and_, case, cast, literal, or_, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.types import String
from sqlmodel import Session, col, func, select

from models import (AnalyticsState, Attempt, Course, CourseCompletion, LedgerEntry, LedgerWeekTotal, LedgerYearTotal,
                    OrgUnit, RoleGrant, User)
from models.db import LOCAL_TZ, local_year
from services.errors import NotFound, PermissionDenied
from services.permissions import ALL, Actor, scope_paths
from services.reports import _target_expr, learners_in, unit_path_label

# the 学时 distribution: share of the target reached, in tenths; the last bin is "target met"
DIST_BINS = [f"{10 * i}–{10 * (i + 1)}%" for i in range(10)] + ["≥100%"]


# --- the period -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Filters:
    """What the dashboard shows. unit_id None = everything in the actor's scope; year (city calendar
    year) unless start/end (local dates, inclusive) are given; course_id or required narrow the courses."""
    unit_id: int | None = None
    year: int | None = None
    start: date | None = None
    end: date | None = None
    course_id: str | None = None
    required: bool | None = None      # True = required only, False = elective only, None = all

    @property
    def is_range(self) -> bool:
        return self.start is not None and self.end is not None

    def bounds(self) -> tuple[datetime, datetime]:
        """[from, to) in aware datetimes at the city's midnights."""
        if self.is_range:
            return (datetime.combine(self.start, datetime.min.time(), LOCAL_TZ),
                    datetime.combine(self.end + timedelta(days=1), datetime.min.time(), LOCAL_TZ))
        y = self.year or local_year()
        return datetime(y, 1, 1, tzinfo=LOCAL_TZ), datetime(y + 1, 1, 1, tzinfo=LOCAL_TZ)

    def resolved(self) -> Filters:
        return self if self.is_range or self.year else replace(self, year=local_year())

    def previous(self) -> Filters:
        f = self.resolved()
        if f.is_range:
            days = (f.end - f.start).days + 1
            return replace(f, start=f.start - timedelta(days=days), end=f.start - timedelta(days=1))
        return replace(f, year=f.year - 1)

    def key(self) -> tuple:
        f = self.resolved()
        return (f.unit_id, f.year, f.start, f.end, f.course_id, f.required)


# --- scope ------------------------------------------------------------------------------------

@dataclass
class Scope:
    """The units an HR actor sees under the chosen root. units: every unit (names are not secret),
    ids: the visible subtree, root: the chosen unit (None = the scope's top units)."""
    units: dict[int, OrgUnit]
    ids: list[int]
    root: OrgUnit | None
    tops: list[int]


def resolve_scope(session: Session, actor: Actor, unit_id: int | None = None) -> Scope:
    """The HR scope (admins: everything), narrowed to unit_id's subtree; PermissionDenied outside it."""
    paths = scope_paths(actor, "hr")
    units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    if ALL in paths:
        visible = set(units)
        tops = [u.id for u in units.values() if u.parent_id is None]
    else:
        visible = {u.id for u in units.values() if any(u.path.startswith(p) for p in paths)}
        tops = [u.id for u in units.values() if u.path in paths]
    root = None
    if unit_id is not None:
        root = units.get(unit_id)
        if root is None or unit_id not in visible:
            raise PermissionDenied("error.out_of_scope")
        visible = {i for i in visible if units[i].path.startswith(root.path)}
    return Scope(units=units, ids=sorted(visible), root=root, tops=sorted(tops, key=lambda i: units[i].code))


def breadcrumbs(scope: Scope, actor: Actor) -> list[tuple[int, str, bool]]:
    """The path from the top down to the root: (unit id, name, may open it)."""
    if scope.root is None:
        return []
    out = []
    for x in scope.root.path.strip("/").split("/"):
        u = scope.units.get(int(x))
        if u is not None:
            out.append((u.id, u.name, actor.covers("hr", u.path)))
    return out


def unit_label(units: dict[int, OrgUnit], unit_id: int) -> str:
    """A unit's name; when another unit has the same name, with its parent's name: 海勃湾区 · 区政府办公室."""
    u = units[unit_id]
    names = _name_counts(units)
    parent = units.get(u.parent_id) if u.parent_id else None
    return f"{parent.name} · {u.name}" if parent and names.get(u.name, 0) > 1 else u.name


def _name_counts(units: dict[int, OrgUnit]) -> dict[str, int]:
    key = id(units)
    cached = _NAME_COUNTS.get(key)
    if cached is None or cached[0] is not units:
        counts: dict[str, int] = {}
        for x in units.values():
            counts[x.name] = counts.get(x.name, 0) + 1
        _NAME_COUNTS.clear()
        cached = _NAME_COUNTS[key] = (units, counts)
    return cached[1]


_NAME_COUNTS: dict[int, tuple[dict, dict[str, int]]] = {}


# --- SQL pieces ---------------------------------------------------------------------------------

class local_week(ColumnElement):
    """The Monday (local date, as text YYYY-MM-DD) of the city-calendar week of a UTC timestamp."""
    type = String()
    inherit_cache = True

    def __init__(self, expr):
        self.expr = expr


@compiles(local_week, "sqlite")
def _week_sqlite(element, compiler, **kw):
    return f"date({compiler.process(element.expr, **kw)}, '+8 hours', '-6 days', 'weekday 1')"


@compiles(local_week)
def _week_default(element, compiler, **kw):
    return (f"to_char(date_trunc('week', {compiler.process(element.expr, **kw)} AT TIME ZONE 'Asia/Shanghai'), "
            f"'YYYY-MM-DD')")


def course_choices(session: Session) -> dict[str, str]:
    """Active courses for the filter: id -> title, in catalogue order."""
    return dict(session.exec(select(Course.id, Course.title).where(Course.active)
                             .order_by(Course.position, Course.id)).all())


def _learner_ids():
    """The ids of every active learner in a unit (a subquery)."""
    return select(User.id).where(*learners_in(None))


def _course_ids(session: Session, f: Filters) -> list[str]:
    q = select(Course.id).where(Course.active)
    if f.course_id:
        q = q.where(Course.id == f.course_id)
    if f.required is not None:
        q = q.where(Course.required == f.required)
    return list(session.exec(q.order_by(Course.position, Course.id)).all())


def _ledger_where(f: Filters, course_ids: Sequence[str] | None):
    f = f.resolved()
    if f.is_range:
        lo, hi = f.bounds()
        conds = [LedgerEntry.created_at >= lo, LedgerEntry.created_at < hi,
                 col(LedgerEntry.year).in_(sorted({lo.year, (hi - timedelta(seconds=1)).year}))]
    else:
        conds = [LedgerEntry.year == f.year]
    if course_ids is not None:
        conds.append(col(LedgerEntry.course_id).in_(course_ids))
    return conds


def _courses_filtered(f: Filters) -> bool:
    return bool(f.course_id) or f.required is not None


def _uses_rollup(f: Filters) -> bool:
    return not f.is_range and not _courses_filtered(f)


def person_totals(session: Session, f: Filters):
    """Subquery: user_id, total 学时 in the period (course filters applied). A whole year without
    course filters reads the per-person roll-up (one row per person); anything else sums the ledger."""
    f = f.resolved()
    if _uses_rollup(f):
        return (select(LedgerYearTotal.user_id, LedgerYearTotal.hours.label("total"))
                .where(LedgerYearTotal.year == f.year).subquery())
    course_ids = _course_ids(session, f) if _courses_filtered(f) else None
    return (select(LedgerEntry.user_id, func.sum(LedgerEntry.hours).label("total"))
            .where(*_ledger_where(f, course_ids)).group_by(LedgerEntry.user_id).subquery())


def _upsert(session: Session, model, rows: list[dict], keys: list[str]) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    table = model.__table__
    for i in range(0, len(rows), 5000):
        stmt = dialect_insert(table).values(rows[i:i + 5000])
        session.execute(stmt.on_conflict_do_update(index_elements=keys, set_={
            "hours": table.c.hours + stmt.excluded.hours, "entries": table.c.entries + stmt.excluded.entries}))


def refresh_rollups(session: Session) -> int:
    """Carry the roll-ups forward to the newest ledger row (append-only: each row is added once).
    The watermark moves first with a conditional UPDATE, so two viewers never add the same rows twice
    (the second finds the watermark moved and adds nothing). Flushes; returns the rows added."""
    newest = session.exec(select(func.max(LedgerEntry.id))).one() or 0
    state = session.get(AnalyticsState, "ledger")
    if state is None:
        session.add(AnalyticsState(key="ledger", last_id=0))
        session.flush()
        state = session.get(AnalyticsState, "ledger")
    old = state.last_id
    if newest <= old:
        return 0
    moved = session.execute(update(AnalyticsState).where(AnalyticsState.key == "ledger", AnalyticsState.last_id == old)
                            .values(last_id=newest).execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        return 0
    in_range = (LedgerEntry.id > old, LedgerEntry.id <= newest)
    per_person = session.exec(select(LedgerEntry.user_id, LedgerEntry.year, func.sum(LedgerEntry.hours), func.count())
                              .where(*in_range).group_by(LedgerEntry.user_id, LedgerEntry.year)).all()
    _upsert(session, LedgerYearTotal, [{"user_id": u, "year": y, "hours": float(h or 0), "entries": n}
                                        for u, y, h, n in per_person], ["user_id", "year"])
    week = local_week(LedgerEntry.created_at)
    per_week = session.exec(select(User.unit_id, LedgerEntry.year, week, func.sum(LedgerEntry.hours), func.count())
                            .join(User, User.id == LedgerEntry.user_id)
                            .where(*in_range, col(User.unit_id).is_not(None))
                            .group_by(User.unit_id, LedgerEntry.year, week)).all()
    _upsert(session, LedgerWeekTotal, [{"unit_id": u, "year": y, "week": w, "hours": float(h or 0), "entries": n}
                                        for u, y, w, h, n in per_week], ["unit_id", "year", "week"])
    session.flush()
    session.expire(state)
    return sum(n for *_, n in per_person)


# --- the per-unit query and the roll-up ---------------------------------------------------------

LEAF_COLUMNS = ["people", "active", "hours", "reached", "target_sum", "done", "exam_people", "exam_attempts",
                "exam_passed", "exam_score_sum"]


def _exam_of_course(course_id: str):
    """An exam attempt belongs to a course: a course's own exam attempt (course_id), or an attempt of an
    exam of the exam module set for that course (those attempts leave course_id NULL)."""
    from models import Exam
    return or_(Attempt.course_id == course_id,
               col(Attempt.exam_id).in_(select(Exam.id).where(Exam.course_id == course_id)))


def _leaf_figures(session: Session, unit_ids: list[int], periods: list[Filters], course_ids: list[str],
                  whole: bool = False, heat_courses: Sequence[str] = ()):
    """Per unit (members' own unit only, not yet rolled up), for each period: LEAF_COLUMNS, the 学时
    distribution per bin (first period only), completions per (unit, course) of heat_courses (first
    period only). One statement walks the learners once for every period: each person's 学时 (roll-up
    or ledger), exams and completions are summed per person in subqueries and joined by user id, then
    grouped by unit. whole: the scope is every unit (no unit filter needed)."""
    where = learners_in(unit_ids) if not whole else learners_in(None)
    rows_where = learners_in(unit_ids, rows_lead=True) if not whole else learners_in(None, rows_lead=True)
    # a small scope: the per-person subqueries start from its members (indexed user_id), not from everyone
    members = select(User.id).where(col(User.unit_id).in_(unit_ids))
    target = _target_expr(session, unit_ids)
    bounds = [f.bounds() for f in periods]
    totals = [person_totals(session, f) for f in periods]

    joins, pc = [], {}
    if use_person_rollup(session, periods):
        joins, pc = _person_year_figures(periods, course_ids, grouped=session.get_bind().dialect.name != "sqlite",
                                         members=None if whole else members)
    else:
        exams, done = _raw_person_figures(periods, course_ids, whole, members)
        joins = [(exams, exams.c.user_id == User.id)] + ([(done, done.c.user_id == User.id)] if done is not None else [])
        pc = {c.name: c for c in exams.c if c.name != "user_id"}
        if done is not None:
            pc.update({c.name: c for c in done.c if c.name != "user_id"})

    first = func.coalesce(totals[0].c.total, 0.0)
    bucket = case(*[(first < target * (i + 1) / 10.0, i) for i in range(10)], else_=10)
    cols = [User.unit_id, bucket.label("bin"), func.count(User.id), func.sum(target)]
    for k, tot in enumerate(totals):
        hours = func.coalesce(tot.c.total, 0.0)
        cols += [func.sum(case((tot.c.total.is_not(None), 1), else_=0)), func.sum(hours),
                 func.sum(case((hours >= target, 1), else_=0)),
                 func.sum(func.coalesce(pc[f"d{k}"], 0)) if f"d{k}" in pc else literal(0),
                 func.sum(case((pc[f"n{k}"] > 0, 1), else_=0)), func.sum(func.coalesce(pc[f"n{k}"], 0)),
                 func.sum(func.coalesce(pc[f"p{k}"], 0)), func.sum(func.coalesce(pc[f"s{k}"], 0.0))]
    q = select(*cols).select_from(User)
    for tot in totals:
        q = q.join(tot, tot.c.user_id == User.id, isouter=True)
    for target_, on in joins:
        q = q.join(target_, on, isouter=True)
    out = [({}, {}, {}) for _ in periods]
    names = ("active", "hours", "reached", "done", "exam_people", "exam_attempts", "exam_passed", "exam_score_sum")
    # one row per (unit, 学时 bin): ~3,000 for the city; summed per unit in numpy (a Python loop over the
    # rows' 20 columns was a tenth of the dashboard's time). Core rows: no ORM objects are wanted here.
    rows = session.connection().execute(q.where(*where).group_by(User.unit_id, bucket)).all()
    if rows:
        # tuples first: numpy probes a Row for attributes, at a cost like the rest of the dashboard together
        arr = np.array(list(map(tuple, rows)), dtype=float)      # NULL sums (nobody matched): nan, counted 0
        np.nan_to_num(arr, copy=False)
        unit_ids, inverse = np.unique(arr[:, 0].astype(np.int64), return_inverse=True)
        sums = np.zeros((len(unit_ids), arr.shape[1]))
        np.add.at(sums, inverse, arr)
        bins = np.zeros((len(unit_ids), 11), dtype=np.int64)
        np.add.at(bins, (inverse, arr[:, 1].astype(np.int64)), arr[:, 2].astype(np.int64))
        for i, unit_id in enumerate(unit_ids.tolist()):
            row = sums[i].tolist()
            for k, (leaf, dist, _) in enumerate(out):
                d = leaf[unit_id] = dict.fromkeys(LEAF_COLUMNS, 0.0)
                d["people"], d["target_sum"] = row[2], row[3]
                d.update(zip(names, row[4 + 8 * k:12 + 8 * k]))
                if k == 0:
                    dist[unit_id] = bins[i].tolist()
    heat_ids = [c for c in course_ids if c in set(heat_courses)]
    if heat_ids:
        hi = bounds[0][1]
        done0 = out[0][2]
        for unit_id, course_id, n in session.exec(
                select(User.unit_id, CourseCompletion.course_id, func.count())
                .join(User, User.id == CourseCompletion.user_id)
                .where(col(CourseCompletion.course_id).in_(heat_ids), CourseCompletion.completed_at < hi, *rows_where,
                       *([] if whole else [col(CourseCompletion.user_id).in_(members)]))
                .group_by(User.unit_id, CourseCompletion.course_id)).all():
            done0[(unit_id, course_id)] = n
    return out


PERSON_ROLLUP = True      # False: always the raw path (the tests compare both)


def use_person_rollup(session: Session, periods: Sequence[Filters]) -> bool:
    """Whole city calendar years without course filters read the exact per-person-year totals
    (services.analytics.rollups), checked against the raw rows first (rebuilt when they differ)."""
    if not PERSON_ROLLUP or not all(_uses_rollup(f.resolved()) for f in periods):
        return False
    from services.analytics import rollups
    rollups.ensure_fresh(session)
    return True


def _person_year_figures(periods: Sequence[Filters], course_ids: list[str], *, grouped: bool = False,
                         members=None):
    """Per person, from PersonYearTotal, for the main query's joins: (exams, done) as lists of
    (alias, on-clause, columns) -- exams of year k are a primary-key look-up (user_id, year); completions
    by the end of year k are the sum over that person's rows of the years up to it: a correlated sum
    (SQLite: two index look-ups per person beat grouping) or, `grouped`, one GROUP BY over the table joined
    by user id (PostgreSQL: it runs a correlated sum as a subplan per person, 20,000 loops, 280 of a
    city dashboard's 540 ms; the grouped join is a hash join of ~30 ms). `members`: a part of the tree, whose
    people alone are grouped."""
    from sqlalchemy.orm import aliased

    from models.rollups import PersonYearTotal
    joins, cols = [], {}
    years = [f.resolved().year for f in periods]
    if course_ids and grouped:
        d = aliased(PersonYearTotal, name="pyd")
        done = (select(d.user_id, *[func.sum(case((d.year <= y, d.done), else_=0)).label(f"d{k}")
                                    for k, y in enumerate(years)])
                .where(d.year <= max(years), *([] if members is None else [col(d.user_id).in_(members)]))
                .group_by(d.user_id).subquery("pyd"))
        joins.append((done, done.c.user_id == User.id))
        cols.update({f"d{k}": done.c[f"d{k}"] for k in range(len(years))})
    for k, y in enumerate(years):
        t = aliased(PersonYearTotal, name=f"pyt{k}")
        joins.append((t, and_(t.user_id == User.id, t.year == y)))
        cols[f"n{k}"], cols[f"p{k}"], cols[f"s{k}"] = t.exam_attempts, t.exam_passed, t.exam_score_sum
        if course_ids and not grouped:
            d = aliased(PersonYearTotal, name=f"pyd{k}")
            cols[f"d{k}"] = (select(func.coalesce(func.sum(d.done), 0)).where(d.user_id == User.id, d.year <= y)
                             .correlate(User).scalar_subquery())
    return joins, cols


def _raw_person_figures(periods: Sequence[Filters], course_ids: list[str], whole: bool, members):
    """Per person, from the raw attempts and completions: (exams n{k} p{k} s{k}, completions d{k})."""
    bounds = [f.bounds() for f in periods]
    lo_all, hi_all = min(lo for lo, _ in bounds), max(hi for _, hi in bounds)
    pct = case((Attempt.max_score > 0, cast(Attempt.score, Float) * 100.0 / Attempt.max_score), else_=0.0)
    ecols = []
    for k, (lo, hi) in enumerate(bounds):
        inside = and_(Attempt.submitted_at >= lo, Attempt.submitted_at < hi)
        ecols += [func.sum(case((inside, 1), else_=0)).label(f"n{k}"),
                  func.sum(case((and_(inside, Attempt.passed), 1), else_=0)).label(f"p{k}"),
                  func.sum(case((inside, pct), else_=0.0)).label(f"s{k}")]
    exam_q = (select(Attempt.user_id, *ecols)
              .where(Attempt.kind == "exam", Attempt.status == "submitted", Attempt.submitted_at >= lo_all,
                     Attempt.submitted_at < hi_all, *([] if whole else [col(Attempt.user_id).in_(members)])))
    if periods[0].course_id:
        exam_q = exam_q.where(_exam_of_course(periods[0].course_id))
    exams = exam_q.group_by(Attempt.user_id).subquery()
    done = None
    if course_ids:
        dcols = [func.sum(case((CourseCompletion.completed_at < hi, 1), else_=0)).label(f"d{k}")
                 for k, (_, hi) in enumerate(bounds)]
        done = (select(CourseCompletion.user_id, *dcols)
                .where(col(CourseCompletion.course_id).in_(course_ids), CourseCompletion.completed_at < hi_all,
                       *([] if whole else [col(CourseCompletion.user_id).in_(members)]))
                .group_by(CourseCompletion.user_id).subquery())
    return exams, done


def _roll_up(scope: Scope, leaf: dict[int, dict]) -> dict[int, dict[str, float]]:
    """Each unit's figures plus those of its whole subtree (within the visible ids)."""
    visible = set(scope.ids)
    out = {i: dict.fromkeys(LEAF_COLUMNS, 0.0) for i in visible}
    for unit_id, d in leaf.items():
        u = scope.units.get(unit_id)
        if u is None:
            continue
        pairs = list(d.items())
        for x in u.path.strip("/").split("/"):
            acc = out.get(int(x))
            if acc is not None:
                for k, v in pairs:
                    acc[k] += v
    return out


# --- results ------------------------------------------------------------------------------------

KPI_NAMES = ("learners", "active", "avg_hours", "target_share", "completion", "exam_participation",
             "exam_pass_rate", "exam_avg_score")


@dataclass
class Kpi:
    value: float | None          # None: nothing to measure (no exams: shown as "—")
    previous: float | None

    @property
    def delta(self) -> float | None:
        return None if self.value is None or self.previous is None else self.value - self.previous


def _kpis(d: dict[str, float], n_courses: int) -> dict[str, float | None]:
    people = d["people"]
    return {
        "learners": people,
        "active": d["active"],
        "avg_hours": d["hours"] / people if people else None,
        "target_share": d["reached"] / people if people else None,
        "completion": d["done"] / (people * n_courses) if people and n_courses else None,
        "exam_participation": d["exam_people"] / people if people and d["exam_attempts"] else None,
        "exam_pass_rate": d["exam_passed"] / d["exam_attempts"] if d["exam_attempts"] else None,
        "exam_avg_score": d["exam_score_sum"] / d["exam_attempts"] if d["exam_attempts"] else None,
    }


EXAM_COLUMNS = ["exam_id", "course_id", "exam", "attempts", "people", "passed", "pass_rate", "avg_score"]

UNIT_COLUMNS = ["unit_id", "unit", "label", "path", "own", "has_children", "people", "active", "avg_hours",
                "target", "reached", "target_share", "completion", "exam_pass_rate", "rank"]


@dataclass
class Dashboard:
    filters: Filters
    kpis: dict[str, Kpi]
    units: pd.DataFrame          # UNIT_COLUMNS: the root's children (and the root's own members), most behind first
    distribution: pd.DataFrame   # bin (DIST_BINS), people
    heatmap: pd.DataFrame        # unit_id, label, course_id, course, done, people, rate (required courses)
    trend: pd.DataFrame          # week (Monday, local), hours, entries
    exams: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EXAM_COLUMNS))  # pass rate by exam
    courses: list[str] = field(default_factory=list)
    root_label: str = ""


def _rows_for(scope: Scope) -> list[tuple[int, bool]]:
    """(unit id, own-members-only) rows of the unit table: the root's visible children, or the scope's
    tops; plus the root itself for its own direct members."""
    visible = set(scope.ids)
    root = scope.root
    if root is None:
        tops = [i for i in scope.tops if i in visible]
        if len(tops) != 1:
            return [(i, False) for i in tops]
        root = scope.units[tops[0]]      # one top (a city, a district): open it, its units are what HR compares
    kids = [u.id for u in scope.units.values() if u.parent_id == root.id and u.id in visible]
    return [(i, False) for i in sorted(kids, key=lambda i: scope.units[i].code)] + [(root.id, True)]


def _figures(session: Session, scope: Scope, periods: list[Filters], course_ids: list[str],
             heat_courses: Sequence[str] = ()):
    if not scope.ids:
        return [({}, {}, {}, {}) for _ in periods]
    whole = len(scope.ids) == len(scope.units)
    return [(leaf, dist, done, _roll_up(scope, leaf))
            for leaf, dist, done in _leaf_figures(session, scope.ids, periods, course_ids, whole, heat_courses)]


def _total(scope: Scope, leaf: dict, rolled: dict) -> dict[str, float]:
    if scope.root is not None:
        return rolled.get(scope.root.id, dict.fromkeys(LEAF_COLUMNS, 0.0))
    acc = dict.fromkeys(LEAF_COLUMNS, 0.0)
    for d in leaf.values():
        for k in LEAF_COLUMNS:
            acc[k] += d[k]
    return acc


def dashboard(session: Session, actor: Actor, filters: Filters) -> Dashboard:
    """Everything the HR dashboard shows for the filters, within the actor's scope."""
    f = filters.resolved()
    scope = resolve_scope(session, actor, f.unit_id)
    refresh_rollups(session)
    course_ids = _course_ids(session, f)
    required = set(session.exec(select(Course.id).where(col(Course.id).in_(course_ids), Course.required)).all())
    (leaf, dist, done, rolled), (p_leaf, _, _, p_rolled) = _figures(session, scope, [f, f.previous()], course_ids,
                                                                    sorted(required))
    now_k = _kpis(_total(scope, leaf, rolled), len(course_ids))
    prev_k = _kpis(_total(scope, p_leaf, p_rolled), len(course_ids))
    kpis = {k: Kpi(now_k[k], prev_k[k]) for k in KPI_NAMES}

    # the unit table: ranks among siblings by the share meeting the target (1 = best)
    parents = {u.parent_id for u in scope.units.values()}
    rows = []
    for unit_id, own in _rows_for(scope):
        d = leaf.get(unit_id, dict.fromkeys(LEAF_COLUMNS, 0.0)) if own else rolled[unit_id]
        if own and not d["people"]:
            continue
        k = _kpis(d, len(course_ids))
        u = scope.units[unit_id]
        rows.append({"unit_id": unit_id, "unit": u.name, "label": unit_label(scope.units, unit_id),
                     "path": unit_path_label(scope.units, unit_id), "own": own,
                     "has_children": (not own) and unit_id in parents,
                     "people": int(d["people"]), "active": int(d["active"]),
                     "avg_hours": round(k["avg_hours"], 2) if k["avg_hours"] is not None else None,
                     "target": round(d["target_sum"] / d["people"], 2) if d["people"] else None,
                     "reached": int(d["reached"]), "target_share": k["target_share"], "completion": k["completion"],
                     "exam_pass_rate": k["exam_pass_rate"]})
    units = pd.DataFrame(rows, columns=[c for c in UNIT_COLUMNS if c != "rank"])
    if not units.empty:
        units["rank"] = units["target_share"].rank(ascending=False, method="min").astype("Int64")
        units = units.sort_values(["target_share", "avg_hours", "label"], na_position="first", kind="stable")
    else:
        units["rank"] = pd.Series(dtype="Int64")
    units = units[UNIT_COLUMNS].reset_index(drop=True)

    counts = [0] * 11
    for bins in dist.values():
        for i, n in enumerate(bins):
            counts[i] += n
    distribution = pd.DataFrame({"bin": DIST_BINS, "people": counts})

    titles = dict(session.exec(select(Course.id, Course.title).where(col(Course.id).in_(course_ids))).all())
    heat = []
    done_rolled: dict[tuple[int, str], int] = {}
    visible = set(scope.ids)
    for (u, cid), n in done.items():
        if cid in required and u in scope.units:
            for x in scope.units[u].path.strip("/").split("/"):
                if int(x) in visible:
                    done_rolled[(int(x), cid)] = done_rolled.get((int(x), cid), 0) + n
    for unit_id, own in _rows_for(scope):
        if own:
            continue
        people = rolled[unit_id]["people"]
        for c in course_ids:
            if c in required:
                n = done_rolled.get((unit_id, c), 0)
                heat.append({"unit_id": unit_id, "label": unit_label(scope.units, unit_id), "course_id": c,
                             "course": titles.get(c, c), "done": n, "people": int(people),
                             "rate": n / people if people else None})
    heatmap = pd.DataFrame(heat, columns=["unit_id", "label", "course_id", "course", "done", "people", "rate"])
    return Dashboard(filters=f, kpis=kpis, units=units, distribution=distribution, heatmap=heatmap,
                     trend=weekly_trend(session, scope, f), exams=exam_pass_rates(session, scope, f),
                     courses=course_ids,
                     root_label=unit_path_label(scope.units, scope.root.id) if scope.root else "")


def weekly_trend(session: Session, scope: Scope, f: Filters) -> pd.DataFrame:
    """Per local week (Monday, YYYY-MM-DD): 学时 credited and the number of credits, in the period and
    scope, counted like every other figure: a person's hours go with them to their current unit. The
    whole tree for a year without course filters reads the per-unit week roll-up (where someone sits
    does not matter there); a part of the tree sums its current members' ledger rows."""
    if not scope.ids:
        return pd.DataFrame(columns=["week", "hours", "entries"])
    f = f.resolved()
    if _uses_rollup(f) and len(scope.ids) == len(scope.units):
        q = (select(LedgerWeekTotal.week, func.sum(LedgerWeekTotal.hours), func.sum(LedgerWeekTotal.entries))
             .where(LedgerWeekTotal.year == f.year)
             .group_by(LedgerWeekTotal.week).order_by(LedgerWeekTotal.week))
    else:
        course_ids = _course_ids(session, f) if _courses_filtered(f) else None
        week = local_week(LedgerEntry.created_at)
        q = (select(week, func.sum(LedgerEntry.hours), func.count())
             .join(User, User.id == LedgerEntry.user_id)
             .where(*_ledger_where(f, course_ids), *learners_in(scope.ids),
                    col(LedgerEntry.user_id).in_(select(User.id).where(col(User.unit_id).in_(scope.ids))))
             .group_by(week).order_by(week))
    df = pd.DataFrame(list(map(tuple, session.exec(q).all())), columns=["week", "hours", "entries"])
    df["hours"] = df["hours"].astype(float).round(2)
    df["entries"] = df["entries"].astype(int)
    return df


def exam_pass_rates(session: Session, scope: Scope, f: Filters) -> pd.DataFrame:
    """Per exam (an exam of the exam module, or a course's exam attempts without one): submitted
    attempts of the scope's learners in the period, people, passed, pass rate, average score (%),
    lowest pass rate first. The course filter applies; required/elective does not (exams are not)."""
    from models import Exam
    if not scope.ids:
        return pd.DataFrame(columns=EXAM_COLUMNS)
    f = f.resolved()
    lo, hi = f.bounds()
    whole = len(scope.ids) == len(scope.units)
    pct = case((Attempt.max_score > 0, cast(Attempt.score, Float) * 100.0 / Attempt.max_score), else_=0.0)
    q = (select(Attempt.exam_id, Attempt.course_id, func.count(), func.count(Attempt.user_id.distinct()),
                func.sum(case((Attempt.passed, 1), else_=0)), func.avg(pct))
         .where(Attempt.kind == "exam", Attempt.status == "submitted", Attempt.submitted_at >= lo,
                Attempt.submitted_at < hi)
         .group_by(Attempt.exam_id, Attempt.course_id))
    if whole:
        # the period's attempts from ix_attempt_kind_submitted alone, each person checked against the
        # learners read once; `+ 0` keeps SQLite from walking the attempts person by person instead
        # (190 -> 85 ms for the city at 20,000 learners)
        q = q.where((Attempt.user_id + 0).in_(_learner_ids()))
    else:              # a part of the tree: its members' attempts (ix_attempt_user_exam), not everyone's
        q = (q.join(User, User.id == Attempt.user_id).where(*learners_in(scope.ids))
             .where(col(Attempt.user_id).in_(select(User.id).where(col(User.unit_id).in_(scope.ids)))))
    if f.course_id:
        q = q.where(_exam_of_course(f.course_id))
    rows = session.exec(q).all()
    exam_titles = dict(session.exec(select(Exam.id, Exam.title).where(
        col(Exam.id).in_({r[0] for r in rows if r[0] is not None}))).all()) if rows else {}
    course_titles = dict(session.exec(select(Course.id, Course.title)).all()) if rows else {}
    out = [{"exam_id": e, "course_id": c,
            "exam": exam_titles.get(e, f"#{e}") if e is not None else course_titles.get(c, c or "—"),
            "attempts": int(n), "people": int(people), "passed": int(passed or 0),
            "pass_rate": (passed or 0) / n if n else None, "avg_score": round(float(avg or 0), 1)}
           for e, c, n, people, passed, avg in rows]
    df = pd.DataFrame(out, columns=EXAM_COLUMNS)
    return df.sort_values(["pass_rate", "exam"], kind="stable").reset_index(drop=True) if not df.empty else df


# --- one person ---------------------------------------------------------------------------------

@dataclass
class PersonRecord:
    user_id: int
    username: str
    name: str
    unit_id: int
    path: str
    year: int
    target: float
    total: float
    by_source: pd.DataFrame      # source_type, hours
    courses: pd.DataFrame        # course_id, course, required, completed_at (None = not done), hours
    ledger: pd.DataFrame         # created_at, hours, source_type, reason
    exams: pd.DataFrame          # submitted_at, course_id, score, max_score, passed


def person_record(session: Session, actor: Actor, *, user_id: int, year: int | None = None) -> PersonRecord:
    """One learner's year within the HR scope: hours by source, courses, ledger rows, exams."""
    from services.settings import target_for_unit
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(what="user", id=user_id)
    unit = session.get(OrgUnit, user.unit_id) if user.unit_id else None
    if unit is None or not actor.covers("hr", unit.path) or not (actor.has("hr") or actor.has("admin")):
        raise PermissionDenied("error.out_of_scope")
    year = year or local_year()
    units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    ledger = pd.DataFrame(session.exec(
        select(LedgerEntry.created_at, LedgerEntry.hours, LedgerEntry.source_type, LedgerEntry.course_id,
               LedgerEntry.reason)
        .where(LedgerEntry.user_id == user_id, LedgerEntry.year == year).order_by(LedgerEntry.created_at)).all(),
        columns=["created_at", "hours", "source_type", "course_id", "reason"])
    by_source = (ledger.groupby("source_type", as_index=False)["hours"].sum() if not ledger.empty
                 else pd.DataFrame(columns=["source_type", "hours"]))
    done = dict(session.exec(select(CourseCompletion.course_id, CourseCompletion.completed_at)
                             .where(CourseCompletion.user_id == user_id)).all())
    per_course = ledger.groupby("course_id")["hours"].sum().to_dict() if not ledger.empty else {}
    courses = pd.DataFrame([
        {"course_id": c.id, "course": c.title, "required": c.required, "completed_at": done.get(c.id),
         "hours": float(per_course.get(c.id, 0.0))}
        for c in session.exec(select(Course).where(Course.active).order_by(Course.position)).all()
        if c.required or c.id in done or c.id in per_course],
        columns=["course_id", "course", "required", "completed_at", "hours"])
    exams = pd.DataFrame(session.exec(
        select(Attempt.submitted_at, Attempt.course_id, Attempt.score, Attempt.max_score, Attempt.passed)
        .where(Attempt.user_id == user_id, Attempt.kind == "exam", Attempt.status == "submitted")
        .order_by(Attempt.submitted_at)).all(), columns=["submitted_at", "course_id", "score", "max_score", "passed"])
    return PersonRecord(user_id=user.id, username=user.username, name=user.name, unit_id=unit.id,
                        path=unit_path_label(units, unit.id), year=year, target=target_for_unit(session, unit.id),
                        total=float(ledger["hours"].sum()) if not ledger.empty else 0.0, by_source=by_source,
                        courses=courses, ledger=ledger.drop(columns=["course_id"]), exams=exams)


def data_version(session: Session) -> tuple:
    """A cheap fingerprint of what the dashboard reads (the page's cache key): new ledger rows,
    completions, attempts or people, a submission, a role change, and every audited admin action
    (org tree edits, moves between units, targets) change it. Each part is one index look-up."""
    from models import AuditLog
    parts = [select(func.max(m.id)).scalar_subquery()
             for m in (LedgerEntry, CourseCompletion, Attempt, User, AuditLog, OrgUnit, RoleGrant)]
    parts.append(select(func.max(Attempt.submitted_at)).where(Attempt.kind == "exam").scalar_subquery())
    # one statement, one round trip (eight on a network database add up to more than the look-ups)
    return tuple(str(p) for p in session.execute(select(*parts)).one())


# --- exports ------------------------------------------------------------------------------------

def exams_table(board: Dashboard, headers: dict[str, str]):
    """The pass-rate-by-exam table as (columns, rows) for the safe writer; rates in percent."""
    from services import spreadsheets
    fmt = {"exam": (30, None), "pass_rate": (10, "0.0"), "avg_score": (10, "0.0")}
    cols = [spreadsheets.Column(h, *fmt.get(c, (10, "0"))) for c, h in headers.items()]
    rows = [tuple((None if r[c] is None or pd.isna(r[c]) else round(100 * r[c], 1)) if c == "pass_rate" else r[c]
                  for c in headers) for _, r in board.exams.iterrows()]
    return cols, rows


def dashboard_xlsx(board: Dashboard, people_df: pd.DataFrame, *, filter_rows, unit_headers: dict[str, str],
                   people_headers: dict[str, str], exam_headers: dict[str, str], sheet_names: dict[str, str],
                   title: str) -> bytes:
    """The whole dashboard as one workbook (services.spreadsheets, the safe writer): the filters on the
    first sheet, then one formatted sheet per table — units, people, required-course heat map, 学时
    distribution, weekly trend, pass rate by exam."""
    from services import reports, spreadsheets
    tables = reports.dashboard_tables(board, people_df, unit_headers=unit_headers, people_headers=people_headers)
    tables["exams"] = exams_table(board, exam_headers)
    sheets = [spreadsheets.Sheet(sheet_names["filters"], [spreadsheets.Column("", 18), spreadsheets.Column("", 60)],
                                 [tuple(r) for r in filter_rows], title_rows=[title], freeze_header=False)]
    for key in ("units", "people", "heat", "dist", "trend", "exams"):
        cols, rows = tables[key]
        sheets.append(spreadsheets.Sheet(sheet_names[key], cols, rows, title_rows=[title], auto_filter=True))
    return spreadsheets.workbook_xlsx(*sheets)
