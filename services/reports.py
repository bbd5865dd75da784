"""HR: 学时 compliance by department within the HR user's scope, and the drill-down to people.

Everything is aggregated in SQL: the ledger is summed per person, the per-unit annual target is a
CASE over unit ids (most units share the default), so gaps, "reached", sorting and paging happen in
the database; pandas only shapes the rows a page or an export asks for."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Float, case, cast, literal
from sqlmodel import Session, col, func, select

from models import Course, CourseCompletion, LedgerEntry, OrgUnit, RoleGrant, User
from models.db import LOCAL_TZ, local_year
from services import spreadsheets
from services.errors import PermissionDenied
from services.org import subtree_ids
from services.permissions import ALL, Actor, scope_paths
from services.settings import default_target, target_resolver

PEOPLE_COLUMNS = ["user_id", "username", "name", "unit_id", "unit", "hours", "target", "gap", "reached", "required_done"]


def _year_end_utc(year: int) -> datetime:
    """The first instant of the next city-calendar year (UTC+8)."""
    return datetime(year + 1, 1, 1, tzinfo=LOCAL_TZ)


def _target_expr(session: Session, unit_ids: Sequence[int]):
    """SQL expression: the annual target of User.unit_id (nearest ancestor-or-self with a target, else
    the default). Units are grouped by target, so the CASE has one branch per distinct override."""
    resolve, default = target_resolver(session), default_target(session)
    paths = dict(session.exec(select(OrgUnit.id, OrgUnit.path).where(col(OrgUnit.id).in_(unit_ids))).all())
    by_target: dict[float, list[int]] = {}
    for uid, path in paths.items():
        target = resolve(path)
        if target != default:
            by_target.setdefault(target, []).append(uid)
    default_lit = cast(literal(float(default)), Float)
    if not by_target:
        return default_lit
    return case(*[(col(User.unit_id).in_(ids), cast(literal(float(t)), Float)) for t, ids in by_target.items()],
                else_=default_lit)


FEW_UNITS = 60


def learners_in(unit_ids: Sequence[int] | None, *, rows_lead: bool = False):
    """Conditions on User: active learners in these units (None: in any unit). A few units: each member's
    grants are looked up (EXISTS, indexed user_id); many: the learner grants are read once (IN).
    rows_lead: the query walks other rows (completions) and joins their person; `User.id + 0` keeps
    SQLite from starting at the learner grants and looking the rows up person by person (twice as slow
    for the city's completions); PostgreSQL plans it the same either way."""
    unit = col(User.unit_id).in_(unit_ids) if unit_ids is not None else col(User.unit_id).is_not(None)
    if unit_ids is not None and len(unit_ids) <= FEW_UNITS:
        learner = (select(RoleGrant.id).where(RoleGrant.user_id == User.id, RoleGrant.role == "learner")
                   .correlate(User).exists())
    else:
        learner = ((User.id + 0) if rows_lead else col(User.id)).in_(
            select(RoleGrant.user_id).where(RoleGrant.role == "learner"))
    return (User.active, unit, learner)


def _year_totals(year: int, session: Session | None = None):
    """Subquery user_id, total: 学时 per person in a year, from the per-person roll-up (carried forward
    to the newest ledger row first when a session is given), or summed from the ledger."""
    if session is not None:
        from models import LedgerYearTotal
        from services.analytics.dashboard import refresh_rollups
        refresh_rollups(session)
        return (select(LedgerYearTotal.user_id, LedgerYearTotal.hours.label("total"))
                .where(LedgerYearTotal.year == year).subquery())
    return (select(LedgerEntry.user_id, func.sum(LedgerEntry.hours).label("total"))
            .where(LedgerEntry.year == year).group_by(LedgerEntry.user_id).subquery())


def hours_by_unit(session: Session, actor: Actor, *, year: int | None = None) -> pd.DataFrame:
    """One row per unit in scope that has learners. Columns: unit_id, unit (name), label (name, with
    the parent's name when two units share it), parent, people, hours (sum), avg_hours, target,
    reached (people at or above the target), rate (reached / people), least rate first."""
    year = year or local_year()
    unit_ids = subtree_ids(session, scope_paths(actor, "hr"))
    columns = ["unit_id", "unit", "label", "parent", "people", "hours", "avg_hours", "target", "reached", "rate"]
    if not unit_ids:
        return pd.DataFrame(columns=columns)
    totals = _year_totals(year, session)
    hours = func.coalesce(totals.c.total, 0.0)
    target = _target_expr(session, unit_ids)
    rows = session.exec(
        select(User.unit_id, func.count(User.id), func.sum(hours), func.max(target),
               func.sum(case((hours >= target, 1), else_=0)))
        .join(totals, totals.c.user_id == User.id, isouter=True)
        .where(*learners_in(unit_ids)).group_by(User.unit_id)).all()
    if not rows:
        return pd.DataFrame(columns=columns)
    g = pd.DataFrame(rows, columns=["unit_id", "people", "hours", "target", "reached"])
    all_units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    g["unit"] = g["unit_id"].map(lambda i: all_units[i].name)
    g["parent"] = g["unit_id"].map(lambda i: all_units[all_units[i].parent_id].name
                                   if all_units[i].parent_id in all_units else "")
    # district offices share names (区政府办公室 in every district): label those with their parent
    dup = g["unit"].duplicated(keep=False)
    g["label"] = g["unit"].where(~dup, g["parent"] + " · " + g["unit"])
    g["reached"] = g["reached"].astype(int)
    g["avg_hours"] = (g["hours"] / g["people"]).round(2)
    g["rate"] = (g["reached"] / g["people"]).round(4)
    g["hours"] = g["hours"].round(2)
    return g[columns].sort_values("rate")


@dataclass
class PeoplePage:
    """A page of the drill-down and the number of people matching it (all pages together)."""
    rows: pd.DataFrame
    total: int


def _people_units(session: Session, actor: Actor, unit_id: int | None) -> list[int]:
    """The units of the drill-down: the HR scope, or the subtree of unit_id within it."""
    allowed = set(subtree_ids(session, scope_paths(actor, "hr")))
    if unit_id is not None:
        unit = session.get(OrgUnit, unit_id)
        if unit is None or unit_id not in allowed:
            raise PermissionDenied("error.out_of_scope")
        allowed &= set(subtree_ids(session, (unit.path,)))
    return sorted(allowed)


def _people_select(session: Session, actor: Actor, *, year: int, unit_id: int | None, below_target_only: bool):
    unit_ids = _people_units(session, actor, unit_id)
    totals = _year_totals(year, session)
    # required courses done at any time up to the end of the year viewed (a course done last year is done)
    required = (select(CourseCompletion.user_id, func.count(CourseCompletion.course_id.distinct()).label("n"))
                .join(Course, Course.id == CourseCompletion.course_id)
                .where(Course.required, CourseCompletion.completed_at < _year_end_utc(year),
                       col(CourseCompletion.user_id).in_(select(User.id).where(col(User.unit_id).in_(unit_ids))))
                .group_by(CourseCompletion.user_id).subquery())      # the people shown only, not the city
    hours = func.coalesce(totals.c.total, 0.0)
    target = _target_expr(session, unit_ids) if unit_ids else cast(literal(0.0), Float)
    gap = case((target - hours > 0, target - hours), else_=0.0)
    q = (select(User.id.label("user_id"), User.username, User.name, User.unit_id, hours.label("hours"),
                target.label("target"), gap.label("gap"), func.coalesce(required.c.n, 0).label("required_done"))
         .join(totals, totals.c.user_id == User.id, isouter=True)
         .join(required, required.c.user_id == User.id, isouter=True)
         .where(*learners_in(unit_ids)))
    if below_target_only:
        q = q.where(hours < target)
    return q, gap


def people(session: Session, actor: Actor, *, year: int | None = None, unit_id: int | None = None,
           below_target_only: bool = False, limit: int | None = None, offset: int = 0) -> pd.DataFrame:
    """Drill-down: the learners of a unit subtree (within the HR scope), largest gap first, then by
    username (a total order, so pages never overlap). limit=None: everyone (the export).
    Columns: PEOPLE_COLUMNS — unit is the unit's path of names below the city, hours this year,
    target, gap (target − hours, at least 0), reached (bool), required_done (required courses
    completed by the end of that year)."""
    year = year or local_year()
    q, gap = _people_select(session, actor, year=year, unit_id=unit_id, below_target_only=below_target_only)
    q = q.order_by(gap.desc(), col(User.username))
    if limit is not None:
        q = q.limit(limit).offset(offset)
    df = pd.DataFrame(list(map(tuple, session.exec(q).all())),   # tuples: pandas probes a Row for attributes
                      columns=["user_id", "username", "name", "unit_id", "hours", "target", "gap", "required_done"])
    if df.empty:
        return pd.DataFrame(columns=PEOPLE_COLUMNS)
    # names and paths only (rows have .name and .path like OrgUnit): no ORM objects for every unit
    all_units = {u.id: u for u in session.exec(select(OrgUnit.id, OrgUnit.name, OrgUnit.path)).all()}
    df["unit"] = df["unit_id"].map(lambda i: unit_path_label(all_units, i))
    df["hours"] = df["hours"].astype(float).round(2)
    df["target"] = df["target"].astype(float)
    df["gap"] = df["gap"].astype(float).round(2)
    df["reached"] = df["hours"] >= df["target"]
    df["required_done"] = df["required_done"].astype(int)
    return df[PEOPLE_COLUMNS]


def people_count(session: Session, actor: Actor, *, year: int | None = None, unit_id: int | None = None,
                 below_target_only: bool = False) -> int:
    """How many people the drill-down holds (counted in SQL)."""
    year = year or local_year()
    if not below_target_only:       # everyone: the learners themselves, without the hours and courses joined
        unit_ids = _people_units(session, actor, unit_id)
        return session.exec(select(func.count()).select_from(User).where(*learners_in(unit_ids))).one()
    q, _ = _people_select(session, actor, year=year, unit_id=unit_id, below_target_only=below_target_only)
    return session.exec(select(func.count()).select_from(q.subquery())).one()


def people_page(session: Session, actor: Actor, *, year: int | None = None, unit_id: int | None = None,
                below_target_only: bool = False, page: int = 1, page_size: int = 100) -> PeoplePage:
    """One screen of the drill-down (page 1 = the largest gaps) and the true total."""
    total = people_count(session, actor, year=year, unit_id=unit_id, below_target_only=below_target_only)
    rows = people(session, actor, year=year, unit_id=unit_id, below_target_only=below_target_only,
                  limit=page_size, offset=max(0, page - 1) * page_size)
    return PeoplePage(rows=rows, total=total)


def unit_path_label(units: dict[int, OrgUnit], unit_id: int) -> str:
    """The unit's path of names below the city, e.g. 海勃湾区 / 新华街道."""
    unit = units[unit_id]
    names = [units[int(x)].name for x in unit.path.strip("/").split("/")[1:] if x and int(x) in units]
    return " / ".join(names) or unit.name


def scope_names(session: Session, actor: Actor) -> list[str] | None:
    """Names of the units the actor's HR scope covers; None = the whole organisation."""
    paths = scope_paths(actor, "hr")
    if ALL in paths:
        return None
    ids = [int(p.strip("/").split("/")[-1]) for p in paths if p.strip("/")]
    units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    return [unit_path_label(units, i) if units[i].parent_id else units[i].name for i in ids if i in units]


# the drill-down columns of the export: key -> (width, number format)
EXPORT_FORMATS: dict[str, tuple[float | None, str | None]] = {
    "username": (16, None), "name": (12, None), "unit": (34, None), "hours": (10, "0.00"),
    "target": (10, "0.00"), "gap": (10, "0.00"), "required_done": (12, "0"), "reached": (8, None),
}


def people_xlsx(df: pd.DataFrame, headers: dict[str, str], *, title_rows: Sequence[str] = (),
                sheet: str = "学时") -> bytes:
    """The drill-down as an Excel sheet through the one safe writer: optional title rows, a formatted
    header (headers: column -> heading in the user's language), widths and number formats."""
    cols = list(headers)
    columns = [spreadsheets.Column(headers[c], *EXPORT_FORMATS.get(c, (None, None))) for c in cols]
    return spreadsheets.table_xlsx(columns=columns, rows=df[cols].itertuples(index=False, name=None),
                                   sheet=sheet, title_rows=title_rows)


# --- the dashboard's exports: every table, one sheet each, the filters first ----------------------

def _percent(v):
    return None if v is None or (isinstance(v, float) and v != v) else round(100 * float(v), 1)


def dashboard_tables(board, people_df: pd.DataFrame, *, unit_headers: dict[str, str],
                     people_headers: dict[str, str]) -> dict[str, tuple[list[spreadsheets.Column], list[tuple]]]:
    """The tables of a dashboard (services.analytics.dashboard.Dashboard) as (columns, rows): units,
    people, the required-course heat map, the 学时 distribution and the weekly trend. Shares are in
    percent (0–100)."""
    pct_cols = {"target_share", "completion", "exam_pass_rate"}
    units = board.units
    ucols = [spreadsheets.Column(h, 30 if c in ("label", "path") else 12,
                                 "0.0" if c in pct_cols or c in ("avg_hours", "target") else None)
             for c, h in unit_headers.items()]
    urows = [tuple(_percent(r[c]) if c in pct_cols else (None if pd.isna(r[c]) else r[c]) for c in unit_headers)
             for _, r in units.iterrows()]
    pcols = [spreadsheets.Column(people_headers[c], *EXPORT_FORMATS.get(c, (None, None))) for c in people_headers]
    prows = list(people_df[list(people_headers)].itertuples(index=False, name=None)) if not people_df.empty else []
    heat = board.heatmap
    hcols = [spreadsheets.Column(x, w, f) for x, w, f in
             (("单位 Unit", 30, None), ("课程 Course", 30, None), ("完成 Done", 10, "0"), ("人数 People", 10, "0"),
              ("完成率 % Rate", 10, "0.0"))]
    hrows = [(r.label, r.course, int(r.done), int(r.people), _percent(r.rate)) for r in heat.itertuples()]
    dcols = [spreadsheets.Column("达到目标的比例 Share of target", 16), spreadsheets.Column("人数 People", 10, "0")]
    drows = list(board.distribution.itertuples(index=False, name=None))
    tcols = [spreadsheets.Column("周 Week", 12), spreadsheets.Column("学时 Hours", 10, "0.00"),
             spreadsheets.Column("学时记录 Credits", 10, "0")]
    trows = list(board.trend.itertuples(index=False, name=None))
    return {"units": (ucols, urows), "people": (pcols, prows), "heat": (hcols, hrows), "dist": (dcols, drows),
            "trend": (tcols, trows)}


def dashboard_xlsx(board, people_df: pd.DataFrame, *, filter_rows: Sequence[tuple[str, str]],
                   unit_headers: dict[str, str], people_headers: dict[str, str], sheet_names: dict[str, str],
                   title: str) -> bytes:
    """The dashboard as one workbook through the safe writer: the filters on the first sheet, then one
    formatted sheet per table."""
    tables = dashboard_tables(board, people_df, unit_headers=unit_headers, people_headers=people_headers)
    sheets = [spreadsheets.Sheet(sheet_names["filters"], [spreadsheets.Column("", 18), spreadsheets.Column("", 60)],
                                 [tuple(r) for r in filter_rows], title_rows=[title], freeze_header=False)]
    for key in ("units", "people", "heat", "dist", "trend"):
        cols, rows = tables[key]
        sheets.append(spreadsheets.Sheet(sheet_names[key], cols, rows, title_rows=[title], auto_filter=True))
    return spreadsheets.workbook_xlsx(*sheets)


def table_csv(df: pd.DataFrame, headers: dict[str, str]) -> bytes:
    """One table as CSV (UTF-8 with BOM) through the safe writer: the columns of `headers`, in order."""
    cols = [c for c in headers if c in df.columns]
    return spreadsheets.table_csv(columns=[headers[c] for c in cols],
                                  rows=df[cols].itertuples(index=False, name=None) if not df.empty else [])
