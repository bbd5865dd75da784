"""Who may do what, where. Trainer and HR grants are scoped to an org subtree."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, select

from models import OrgUnit, RoleGrant, User
from services.errors import PermissionDenied

ALL = "/"   # the scope path of a grant without a unit: the whole organisation


@dataclass(frozen=True)
class Actor:
    """The signed-in user as services see it: id, roles and the subtree paths each role covers."""
    id: int | None          # None only for the system actor (CLI, first-run set-up)
    username: str
    name: str
    unit_id: int | None
    locale: str = "zh-CN"
    scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)   # role -> unit paths

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(r for r in ("learner", "trainer", "hr", "admin") if r in self.scopes)

    def has(self, role: str) -> bool:
        return role in self.scopes

    def covers(self, role: str, unit_path: str | None) -> bool:
        """True when a grant of `role` reaches a unit with this path (admins reach everything)."""
        if "admin" in self.scopes:
            return True
        paths = self.scopes.get(role, ())
        if ALL in paths:
            return True
        return unit_path is not None and any(unit_path.startswith(p) for p in paths)


def system_actor() -> Actor:
    """The local operator running cli.py: acts as an unscoped admin, audited with no user id."""
    return Actor(id=None, username="system", name="system", unit_id=None, scopes={"admin": (ALL,)})


def load_actor(session: Session, user_id: int) -> Actor:
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise PermissionDenied("error.account_inactive")
    rows = session.exec(
        select(RoleGrant.role, OrgUnit.path)
        .join(OrgUnit, OrgUnit.id == RoleGrant.scope_unit_id, isouter=True)
        .where(RoleGrant.user_id == user_id)
    ).all()
    scopes: dict[str, list[str]] = {}
    for role, path in rows:
        scopes.setdefault(role, []).append(path or ALL)
    return Actor(id=user.id, username=user.username, name=user.name, unit_id=user.unit_id,
                 locale=user.locale, scopes={r: tuple(p) for r, p in scopes.items()})


def require_role(actor: Actor, *roles: str) -> None:
    if not any(actor.has(r) for r in roles) and not actor.has("admin"):
        raise PermissionDenied(roles="/".join(roles))


def require_admin(actor: Actor) -> None:
    if not actor.has("admin"):
        raise PermissionDenied(roles="admin")


def require_scope(actor: Actor, role: str, unit_path: str | None) -> None:
    require_role(actor, role)
    if not actor.covers(role, unit_path):
        raise PermissionDenied("error.out_of_scope")


def scope_paths(actor: Actor, role: str) -> tuple[str, ...]:
    """Subtree paths an actor may see for a role; (ALL,) for admins and unscoped grants."""
    if actor.has("admin"):
        return (ALL,)
    require_role(actor, role)
    return actor.scopes[role]
