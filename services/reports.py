"""HR: 学时 compliance by department within the HR user's scope. Aggregated in SQL per person,
shaped per unit with pandas (never whole tables)."""
from __future__ import annotations

import pandas as pd
from sqlmodel import Session, col, func, select

from models import LedgerEntry, OrgUnit, RoleGrant, User
from models.db import local_year
from services.org import subtree_ids
from services.permissions import Actor, scope_paths
from services.settings import default_target, unit_targets


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
    targets, default = unit_targets(session), default_target(session)

    def target(uid: int) -> float:
        for a in reversed([int(x) for x in all_units[uid].path.strip("/").split("/") if x]):
            if a in targets:
                return targets[a]
        return default
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
