"""Admin-editable settings: the 学时 crediting rule and the annual targets (design.md §2)."""
from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field, model_validator
from sqlmodel import Session, select

from models import OrgUnit, Setting, UnitTarget
from models.db import utcnow
from services import audit
from services.errors import ValidationFailed
from services.permissions import Actor, require_admin


class CreditRule(BaseModel):
    """学时 per lesson (课件) by its minutes of study material (design.md §2: each lesson is credited on
    its own when it is done); a bonus for passing the course quiz."""
    long_minutes: int = Field(30, ge=1)       # at least this many minutes ...
    long_hours: float = Field(1.0, ge=0)      # ... earn this
    mid_minutes: int = Field(15, ge=1)        # at least this many (and under long_minutes) ...
    mid_hours: float = Field(0.5, ge=0)
    short_hours: float = Field(0.25, ge=0)    # anything shorter
    quiz_bonus: float = Field(0.5, ge=0)
    # a lesson can be marked done after this share of its estimated minutes has been spent on it
    min_study_ratio: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self):
        if self.mid_minutes >= self.long_minutes:
            raise ValueError("mid_minutes must be below long_minutes")
        return self

    def lesson_hours(self, minutes: int) -> float:
        """The tier a lesson of `minutes` earns."""
        if minutes >= self.long_minutes:
            return self.long_hours
        if minutes >= self.mid_minutes:
            return self.mid_hours
        return self.short_hours


DEFAULT_ANNUAL_TARGET = 50.0   # 全国干部教育培训规划（2023—2027年）: 50 学时 online a year


def _get(session: Session, key: str, default):
    row = session.get(Setting, key)
    return row.value if row else default


def _put(session: Session, actor: Actor, key: str, value) -> None:
    row = session.get(Setting, key) or Setting(key=key, value=value)
    row.value, row.updated_at, row.updated_by = value, utcnow(), actor.id
    session.add(row)


def credit_rule(session: Session) -> CreditRule:
    return CreditRule(**_get(session, "credit_rule", {}))


def set_credit_rule(session: Session, actor: Actor, *, rule: CreditRule) -> None:
    require_admin(actor)
    _put(session, actor, "credit_rule", rule.model_dump())
    audit.record(session, actor.id, "settings.credit_rule", **rule.model_dump())
    session.flush()


def default_target(session: Session) -> float:
    return float(_get(session, "annual_target", DEFAULT_ANNUAL_TARGET))


def set_default_target(session: Session, actor: Actor, *, hours: float) -> None:
    require_admin(actor)
    if not 0 < hours <= 500:
        raise ValidationFailed("error.target_range")
    _put(session, actor, "annual_target", hours)
    audit.record(session, actor.id, "settings.annual_target", hours=hours)
    session.flush()


def set_unit_target(session: Session, actor: Actor, *, unit_id: int, hours: float | None) -> None:
    """A unit-specific target applies to the unit and its subtree; None removes it."""
    require_admin(actor)
    row = session.get(UnitTarget, unit_id)
    if hours is None:
        if row:
            session.delete(row)
    else:
        if not 0 < hours <= 500:
            raise ValidationFailed("error.target_range")
        row = row or UnitTarget(unit_id=unit_id, hours=hours)
        row.hours = hours
        session.add(row)
    audit.record(session, actor.id, "settings.unit_target", unit_id=unit_id, hours=hours)
    session.flush()


def unit_targets(session: Session) -> dict[int, float]:
    return {r.unit_id: r.hours for r in session.exec(select(UnitTarget)).all()}


def target_resolver(session: Session) -> Callable[[str], float]:
    """unit path -> annual target: the nearest ancestor-or-self with a target, else the default.
    Reads the settings once, for reports over many units."""
    targets, default = unit_targets(session), default_target(session)

    def resolve(path: str) -> float:
        for uid in reversed([int(x) for x in path.strip("/").split("/") if x]):
            if uid in targets:
                return targets[uid]
        return default
    return resolve


def target_for_unit(session: Session, unit_id: int | None) -> float:
    unit = session.get(OrgUnit, unit_id) if unit_id is not None else None
    return target_resolver(session)(unit.path if unit else "/")


DEFAULT_NOTEBOOK_LEAVE_DAYS = 21   # 错题本: a question leaves after a correct recall at an interval of this many days


def notebook_leave_days(session: Session) -> int:
    return int(_get(session, "notebook_leave_days", DEFAULT_NOTEBOOK_LEAVE_DAYS))


def set_notebook_leave_days(session: Session, actor: Actor, *, days: int) -> None:
    require_admin(actor)
    if not 1 <= int(days) <= 3650:
        raise ValidationFailed("error.notebook_days_range")
    _put(session, actor, "notebook_leave_days", int(days))
    audit.record(session, actor.id, "settings.notebook_leave_days", days=int(days))
    session.flush()
