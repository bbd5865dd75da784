"""The org tree: units with a materialised path so a subtree is one indexed prefix query.
Writes flush into the caller's unit of work (page helper, CLI, test), which commits once."""
from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, func, select

from models import OrgUnit, User
from models.db import utcnow
from models.org import UNIT_KINDS
from services import audit
from services.errors import NotFound, ValidationFailed
from services.permissions import Actor, require_admin
from services.text import clean_text

CODE_MAX = OrgUnit.__table__.c.code.type.length
NAME_MAX = OrgUnit.__table__.c.name.type.length


def _clean_code(code: str | None) -> str:
    return clean_text((code or "").strip(), field="编码", max_length=CODE_MAX) or ""


def _clean_name(name: str | None) -> str:
    return clean_text((name or "").strip(), field="名称", max_length=NAME_MAX) or ""


@dataclass
class UnitRow:
    id: int
    code: str
    name: str
    kind: str
    parent_id: int | None
    path: str
    depth: int
    active: bool
    members: int = 0


def _row(u: OrgUnit, members: int = 0) -> UnitRow:
    return UnitRow(u.id, u.code, u.name, u.kind, u.parent_id, u.path, u.depth, u.active, members)


def list_units(session: Session, *, include_retired: bool = False, with_counts: bool = False) -> list[UnitRow]:
    """All units in tree order (parents before children, siblings by name). Unit names are not secret."""
    q = select(OrgUnit)
    if not include_retired:
        q = q.where(OrgUnit.active)
    units = session.exec(q).all()
    counts: dict[int, int] = {}
    if with_counts:
        counts = dict(session.exec(select(User.unit_id, func.count()).where(User.active).group_by(User.unit_id)).all())
    by_parent: dict[int | None, list[OrgUnit]] = {}
    for u in units:
        by_parent.setdefault(u.parent_id, []).append(u)
    ids = {u.id for u in units}
    out: list[UnitRow] = []

    def walk(parent: int | None) -> None:
        for u in sorted(by_parent.get(parent, []), key=lambda x: (x.kind != "department", x.code)):
            out.append(_row(u, counts.get(u.id, 0)))
            walk(u.id)
    walk(None)
    # units whose parent is retired (only when listing active ones) still show, at the end
    for u in units:
        if u.parent_id is not None and u.parent_id not in ids:
            out.append(_row(u, counts.get(u.id, 0)))
            walk(u.id)
    return out


def get_unit(session: Session, unit_id: int) -> OrgUnit:
    unit = session.get(OrgUnit, unit_id)
    if unit is None:
        raise NotFound(what="unit", id=unit_id)
    return unit


def unit_by_code_or_name(session: Session, ref: str) -> OrgUnit | None:
    ref = ref.strip()
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == ref)).first()
    if unit is None:
        matches = session.exec(select(OrgUnit).where(OrgUnit.name == ref, OrgUnit.active)).all()
        unit = matches[0] if len(matches) == 1 else None
    return unit


def subtree_ids(session: Session, paths: tuple[str, ...]) -> list[int]:
    if "/" in paths:
        return list(session.exec(select(OrgUnit.id)).all())
    ids: list[int] = []
    for p in paths:
        ids.extend(session.exec(select(OrgUnit.id).where(OrgUnit.path.startswith(p))).all())
    return ids


def create_unit(session: Session, actor: Actor, *, code: str, name: str, kind: str = "unit",
                parent_id: int | None = None) -> OrgUnit:
    require_admin(actor)
    code, name = _clean_code(code), _clean_name(name)
    if not code or not name:
        raise ValidationFailed("error.unit_fields_required")
    if kind not in UNIT_KINDS:
        raise ValidationFailed("error.unit_kind_unknown", kind=kind)
    if session.exec(select(OrgUnit).where(OrgUnit.code == code)).first():
        raise ValidationFailed("error.unit_code_taken", code=code)
    parent = get_unit(session, parent_id) if parent_id else None
    if parent is not None and not parent.active:
        raise ValidationFailed("error.unit_parent_retired")
    unit = OrgUnit(code=code, name=name, kind=kind, parent_id=parent_id, depth=(parent.depth + 1) if parent else 0)
    session.add(unit)
    session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    session.add(unit)
    audit.record(session, actor.id, "org.create", unit=code, name=name)
    session.flush()
    return unit


def rename_unit(session: Session, actor: Actor, *, unit_id: int, name: str) -> None:
    require_admin(actor)
    unit = get_unit(session, unit_id)
    name = _clean_name(name)
    if not name:
        raise ValidationFailed("error.unit_fields_required")
    audit.record(session, actor.id, "org.rename", unit=unit.code, old=unit.name, new=name)
    unit.name = name
    session.add(unit)
    session.flush()


def move_unit(session: Session, actor: Actor, *, unit_id: int, new_parent_id: int | None) -> None:
    require_admin(actor)
    unit = get_unit(session, unit_id)
    parent = get_unit(session, new_parent_id) if new_parent_id else None
    if parent is not None and parent.path.startswith(unit.path):
        raise ValidationFailed("error.unit_move_into_itself")
    if parent is not None and not parent.active:
        raise ValidationFailed("error.unit_parent_retired")
    old_path = unit.path
    new_path = f"{parent.path if parent else '/'}{unit.id}/"
    delta = (parent.depth + 1 if parent else 0) - unit.depth
    for u in session.exec(select(OrgUnit).where(OrgUnit.path.startswith(old_path))).all():
        u.path = new_path + u.path[len(old_path):]
        u.depth += delta
        session.add(u)
    unit.parent_id = new_parent_id
    session.add(unit)
    audit.record(session, actor.id, "org.move", unit=unit.code, parent=parent.code if parent else None)
    session.flush()


def retire_unit(session: Session, actor: Actor, *, unit_id: int) -> None:
    """Retire a unit (kept for history). Refused while it has active sub-units or active members."""
    require_admin(actor)
    unit = get_unit(session, unit_id)
    if session.exec(select(func.count()).select_from(OrgUnit).where(OrgUnit.parent_id == unit.id, OrgUnit.active)).one():
        raise ValidationFailed("error.unit_has_children", name=unit.name)
    members = session.exec(select(func.count()).select_from(User).where(User.unit_id == unit.id, User.active)).one()
    if members:
        raise ValidationFailed("error.unit_has_members", name=unit.name, count=members)
    unit.active = False
    unit.retired_at = utcnow()
    session.add(unit)
    audit.record(session, actor.id, "org.retire", unit=unit.code)
    session.flush()


def unit_labels(session: Session) -> dict[int, str]:
    """id -> "name (path of names)" for pickers."""
    units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    labels = {}
    for u in units.values():
        names = [units[int(i)].name for i in u.path.strip("/").split("/") if i and int(i) in units]
        labels[u.id] = " / ".join(names) if names else u.name
    return labels
