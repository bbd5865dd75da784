"""Early warning: who and which units will miss the annual 学时 target at their current pace, and who
has required courses not done — the list HR acts on.

The forecast (the page says the same): projected = 学时 so far this year ÷ elapsed share of the city
calendar year (UTC+8). Someone is at risk when the projection is below their annual target, i.e. when
学时 so far < target × elapsed share. Before MIN_DAYS of the year have passed there is too little
history to extrapolate: then only people with required courses not done are listed. A past year is
closed: the projection is the final total. Evaluated in SQL (a comparison per person), paged."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Float, case, cast, literal, or_
from sqlmodel import Session, col, func, select

from models import Course, CourseCompletion, User
from models.db import LOCAL_TZ, local_year, utcnow
from services.analytics.dashboard import (Filters, person_totals, refresh_rollups, resolve_scope,
                                          unit_label)
from services.reports import _target_expr, learners_in, unit_path_label

MIN_DAYS = 30

COLUMNS = ["user_id", "username", "name", "unit_id", "unit", "hours", "target", "projected", "shortfall",
           "required_missing", "at_risk"]


def elapsed_share(year: int, now: datetime | None = None) -> float:
    """Share of the city calendar year `year` gone by at `now` (0..1)."""
    now = now or utcnow()
    start, end = datetime(year, 1, 1, tzinfo=LOCAL_TZ), datetime(year + 1, 1, 1, tzinfo=LOCAL_TZ)
    return min(1.0, max(0.0, (now - start) / (end - start)))


def enough_history(year: int, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return (now - datetime(year, 1, 1, tzinfo=LOCAL_TZ)).days >= MIN_DAYS


@dataclass
class Warning:
    year: int
    share: float                 # elapsed share of the year used for the projection
    forecast: bool               # False: too early in the year, only required courses are checked
    people: pd.DataFrame         # COLUMNS, largest shortfall first (one page)
    total: int                   # everyone on the list (all pages)
    units: pd.DataFrame          # unit_id, label, path, people, at_risk, share_at_risk, projected_avg, target
    required_total: int          # required active courses


def _select(session: Session, unit_ids: list[int], year: int, share: float, forecast: bool):
    totals = person_totals(session, Filters(year=year))
    hours = func.coalesce(totals.c.total, 0.0)
    target = _target_expr(session, unit_ids)
    end = datetime(year + 1, 1, 1, tzinfo=LOCAL_TZ)
    required_ids = list(session.exec(select(Course.id).where(Course.active, Course.required)).all())
    done = (select(CourseCompletion.user_id, func.count(CourseCompletion.course_id.distinct()).label("n"))
            .where(col(CourseCompletion.course_id).in_(required_ids), CourseCompletion.completed_at < end)
            .group_by(CourseCompletion.user_id).subquery())
    missing = literal(len(required_ids)) - func.coalesce(done.c.n, 0)
    at_risk = (hours < target * cast(literal(share), Float)) if forecast else literal(False)
    projected = hours / cast(literal(max(share, 1e-9)), Float)
    shortfall = case((target - projected > 0, target - projected), else_=0.0)
    q = (select(User.id, User.username, User.name, User.unit_id, hours.label("hours"), target.label("target"),
                projected.label("projected"), shortfall.label("shortfall"), missing.label("missing"),
                case((at_risk, 1), else_=0).label("at_risk"))
         .join(totals, totals.c.user_id == User.id, isouter=True)
         .join(done, done.c.user_id == User.id, isouter=True)
         .where(*learners_in(unit_ids)))
    return q, or_(at_risk, missing > 0), shortfall, missing, at_risk, len(required_ids)


def early_warning(session: Session, actor, *, unit_id: int | None = None, year: int | None = None,
                  limit: int | None = 200, offset: int = 0, now: datetime | None = None) -> Warning:
    """People at risk of missing the target or with required courses open (within the HR scope),
    largest shortfall first, then most required courses missing; and units by their share at risk."""
    year = year or local_year(now)
    scope = resolve_scope(session, actor, unit_id)
    refresh_rollups(session)
    share = elapsed_share(year, now)
    forecast = enough_history(year, now)
    if not scope.ids:
        return Warning(year, share, forecast, pd.DataFrame(columns=COLUMNS), 0,
                       pd.DataFrame(columns=["unit_id", "label", "path", "people", "at_risk", "share_at_risk",
                                             "projected_avg", "target"]), 0)
    q, listed, shortfall, missing, at_risk, n_required = _select(session, scope.ids, year, share, forecast)
    sub = q.where(listed)
    page = sub.order_by(shortfall.desc(), missing.desc(), col(User.username))
    if limit is not None:
        page = page.limit(limit).offset(offset)
    df = pd.DataFrame(list(map(tuple, session.exec(page).all())), columns=["user_id", "username", "name", "unit_id", "hours", "target",
                                                          "projected", "shortfall", "required_missing", "at_risk"])
    df["unit"] = df["unit_id"].map(lambda i: unit_path_label(scope.units, i)) if not df.empty else []
    for c in ("hours", "target", "projected", "shortfall"):
        df[c] = df[c].astype(float).round(2)
    df["required_missing"] = df["required_missing"].astype(int)
    df["at_risk"] = df["at_risk"].astype(bool)

    # units: per own unit in SQL, rolled up the tree to the root's children; the same pass counts
    # everyone on the list (all pages), so the list is not evaluated a third time for its total
    inner = q.subquery()
    on_list = func.sum(case((or_(inner.c.at_risk == 1, inner.c.missing > 0), 1), else_=0))
    rows = session.exec(select(inner.c.unit_id, func.count(), func.sum(inner.c.at_risk), func.sum(inner.c.projected),
                               func.sum(inner.c.target), on_list).group_by(inner.c.unit_id)).all()
    leaf = {u: (n, r or 0, float(p or 0), float(t or 0)) for u, n, r, p, t, _ in rows}
    total = int(sum(x or 0 for *_, x in rows))
    visible = set(scope.ids)
    acc: dict[int, list[float]] = {}
    for u, vals in leaf.items():
        for x in scope.units[u].path.strip("/").split("/"):
            if int(x) in visible:
                a = acc.setdefault(int(x), [0, 0, 0.0, 0.0])
                for i in range(4):
                    a[i] += vals[i]
    root = scope.root if scope.root is not None else (scope.units[scope.tops[0]] if len(scope.tops) == 1 else None)
    if root is None:
        show = scope.tops
    else:
        show = [u.id for u in scope.units.values() if u.parent_id == root.id and u.id in visible]
    urows = []
    for uid in show:
        n, r, p, t = acc.get(uid, [0, 0, 0.0, 0.0])
        if not n:
            continue
        urows.append({"unit_id": uid, "label": unit_label(scope.units, uid), "path": unit_path_label(scope.units, uid),
                      "people": int(n), "at_risk": int(r), "share_at_risk": r / n, "projected_avg": round(p / n, 2),
                      "target": round(t / n, 2)})
    units = pd.DataFrame(urows, columns=["unit_id", "label", "path", "people", "at_risk", "share_at_risk",
                                         "projected_avg", "target"])
    if not units.empty:
        units = units.sort_values(["share_at_risk", "label"], ascending=[False, True]).reset_index(drop=True)
    return Warning(year=year, share=share, forecast=forecast, people=df[COLUMNS], total=total, units=units,
                   required_total=n_required)


def warning_user_ids(session: Session, actor, *, unit_id: int | None = None, year: int | None = None,
                     now: datetime | None = None) -> list[int]:
    """Everyone on the early-warning list (all pages): the recipients of a one-click reminder."""
    year = year or local_year(now)
    scope = resolve_scope(session, actor, unit_id)
    refresh_rollups(session)
    if not scope.ids:
        return []
    q, listed, *_ = _select(session, scope.ids, year, elapsed_share(year, now), enough_history(year, now))
    sub = q.where(listed).subquery()
    return list(session.exec(select(sub.c.id)).all())
