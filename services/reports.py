"""HR: 学时 compliance by department within the HR user's scope. Aggregated in SQL per person,
shaped per unit with pandas (never whole tables)."""
from __future__ import annotations

import io

import pandas as pd
from sqlmodel import Session, col, func, select

from models import Course, CourseCompletion, LedgerEntry, OrgUnit, RoleGrant, User
from models.db import local_year
from services.errors import PermissionDenied
from services.org import subtree_ids
from services.permissions import Actor, scope_paths
from services.settings import target_resolver


def hours_by_unit(session: Session, actor: Actor, *, year: int | None = None) -> pd.DataFrame:
    """One row per unit in scope that has learners: headcount, hours, average, how many reached their target."""
    year = year or local_year()
    paths = scope_paths(actor, "hr")
    unit_ids = subtree_ids(session, paths)
    totals = (select(LedgerEntry.user_id, func.sum(LedgerEntry.hours).label("total"))
              .where(LedgerEntry.year == year).group_by(LedgerEntry.user_id).subquery())
    rows = session.exec(
        select(User.id, User.unit_id, func.coalesce(totals.c.total, 0.0))
        .join(totals, totals.c.user_id == User.id, isouter=True)
        .where(User.active, col(User.unit_id).in_(unit_ids),
               col(User.id).in_(select(RoleGrant.user_id).where(RoleGrant.role == "learner")))).all()
    people = pd.DataFrame(rows, columns=["user_id", "unit_id", "hours"])
    units = {u.id: u for u in session.exec(select(OrgUnit).where(col(OrgUnit.id).in_(unit_ids))).all()}
    all_units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    target_of = target_resolver(session)

    def target(uid: int) -> float:
        return target_of(all_units[uid].path)
    if people.empty:
        return pd.DataFrame(columns=["unit_id", "unit", "label", "parent", "people", "hours", "avg_hours", "target",
                                     "reached", "rate"])
    people["target"] = people["unit_id"].map(target)
    people["reached"] = people["hours"] >= people["target"]
    g = people.groupby("unit_id").agg(people=("user_id", "count"), hours=("hours", "sum"),
                                      target=("target", "first"), reached=("reached", "sum")).reset_index()
    g["unit"] = g["unit_id"].map(lambda i: units[i].name)
    g["parent"] = g["unit_id"].map(lambda i: all_units[units[i].parent_id].name if units[i].parent_id in all_units else "")
    # district offices share names (区政府办公室 in every district): label those with their parent
    dup = g["unit"].duplicated(keep=False)
    g["label"] = g["unit"].where(~dup, g["parent"] + " · " + g["unit"])
    g["avg_hours"] = (g["hours"] / g["people"]).round(2)
    g["rate"] = (g["reached"] / g["people"]).round(4)
    g["hours"] = g["hours"].round(2)
    return g[["unit_id", "unit", "label", "parent", "people", "hours", "avg_hours", "target", "reached", "rate"]].sort_values("rate")


def people(session: Session, actor: Actor, *, year: int | None = None, unit_id: int | None = None,
           below_target_only: bool = False, limit: int = 5000) -> pd.DataFrame:
    """Drill-down: the learners of a unit subtree (within the HR scope) with their hours against their
    target, least progress first. Required-course completions are counted alongside."""
    year = year or local_year()
    paths = scope_paths(actor, "hr")
    allowed = set(subtree_ids(session, paths))
    if unit_id is not None:
        unit = session.get(OrgUnit, unit_id)
        if unit is None or unit_id not in allowed:
            raise PermissionDenied("error.out_of_scope")
        allowed &= set(subtree_ids(session, (unit.path,)))
    totals = (select(LedgerEntry.user_id, func.sum(LedgerEntry.hours).label("total"))
              .where(LedgerEntry.year == year).group_by(LedgerEntry.user_id).subquery())
    required = (select(CourseCompletion.user_id, func.count().label("n"))
                .join(Course, Course.id == CourseCompletion.course_id)
                .where(Course.required).group_by(CourseCompletion.user_id).subquery())
    rows = session.exec(
        select(User.id, User.username, User.name, User.unit_id, func.coalesce(totals.c.total, 0.0),
               func.coalesce(required.c.n, 0))
        .join(totals, totals.c.user_id == User.id, isouter=True)
        .join(required, required.c.user_id == User.id, isouter=True)
        .where(User.active, col(User.unit_id).in_(allowed),
               col(User.id).in_(select(RoleGrant.user_id).where(RoleGrant.role == "learner")))).all()
    df = pd.DataFrame(rows, columns=["user_id", "username", "name", "unit_id", "hours", "required_done"])
    if df.empty:
        return df.assign(unit=[], target=[], gap=[], reached=[])
    all_units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    target_of = target_resolver(session)

    def target(uid: int) -> float:
        return target_of(all_units[uid].path)
    df["unit"] = df["unit_id"].map(lambda i: " / ".join(   # the path below the city, e.g. 海勃湾区 / 新华街道
        all_units[int(x)].name for x in all_units[i].path.strip("/").split("/")[1:] if x) or all_units[i].name)
    df["target"] = df["unit_id"].map(target)
    df["hours"] = df["hours"].round(2)
    df["gap"] = (df["target"] - df["hours"]).clip(lower=0).round(2)
    df["reached"] = df["hours"] >= df["target"]
    if below_target_only:
        df = df[~df["reached"]]
    return df.sort_values(["gap", "username"], ascending=[False, True]).head(limit).reset_index(drop=True)


def people_xlsx(df: pd.DataFrame, headers: dict[str, str]) -> bytes:
    """The drill-down as an Excel sheet (headers: column -> heading in the user's language)."""
    from openpyxl import Workbook
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("学时")
    cols = list(headers)
    ws.append([headers[c] for c in cols])
    for rec in df[cols].itertuples(index=False):
        ws.append([bool(v) if isinstance(v, (bool,)) else v for v in rec])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
