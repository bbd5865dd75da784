"""People: accounts, roles and scopes, unit membership over time."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import BaseModel, field_validator
from sqlmodel import Session, col, func, or_, select

from models import Membership, OrgUnit, RoleGrant, User
from models.db import utcnow
from models.user import ROLES
from services import audit, auth
from services.errors import NotFound, PermissionDenied, ValidationFailed
from services.org import get_unit, subtree_ids
from services.permissions import Actor, require_admin, scope_paths
from services.text import clean_text

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{2,63}$")
SCOPED_ROLES = ("trainer", "hr")
LOCALES = ("zh-CN", "en")


class Grant(BaseModel):
    role: str
    scope_unit_id: int | None = None

    @field_validator("role")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in ROLES:
            raise ValueError(v)
        return v


class UserCreate(BaseModel):
    username: str
    name: str
    unit_id: int | None = None
    employee_no: str | None = None
    phone: str | None = None
    email: str | None = None
    grants: list[Grant] = [Grant(role="learner")]
    password: str | None = None     # None: generate one, shown once


@dataclass
class UserRow:
    id: int
    username: str
    name: str
    unit_id: int | None
    unit_name: str | None
    roles: str
    active: bool
    must_change_password: bool
    locked: bool
    last_login_at: object = None
    grants: list[tuple[str, int | None]] = field(default_factory=list)


def needs_setup(session: Session) -> bool:
    """No account yet (first run). Asked on every script run: one row looked up, not all counted."""
    return session.exec(select(User.id).limit(1)).first() is None


def validate_username(username: str) -> str:
    username = clean_text(username, field="username", max_length=100).strip()
    if not USERNAME_RE.fullmatch(username):
        raise ValidationFailed("error.username_format", username=username)
    return username


def _username_taken(session: Session, username: str) -> bool:
    """Usernames are unique regardless of case (a unique index on lower(username) backs this)."""
    return session.exec(select(User.id).where(func.lower(User.username) == username.lower())).first() is not None


def _clean_person(name: str, employee_no: str | None, phone: str | None, email: str | None
                  ) -> tuple[str, str | None, str | None, str | None]:
    """Every free-text field of a person: no control characters, within its column; name required.
    Raises before anything is written, naming the field."""
    name = clean_text(name, field="name", max_length=64).strip()
    employee_no = clean_text(employee_no, field="employee_no", max_length=32)
    phone = clean_text(phone, field="phone", max_length=32)
    email = clean_text(email, field="email", max_length=128)
    if not name:
        raise ValidationFailed("error.name_required")
    return name, employee_no, phone, email


def _add_user(session: Session, user_in: UserCreate, password_hash: str, must_change: bool) -> User:
    user = User(username=user_in.username, name=user_in.name, unit_id=user_in.unit_id,
                employee_no=user_in.employee_no, phone=user_in.phone, email=user_in.email,
                password_hash=password_hash, must_change_password=must_change)
    session.add(user)
    session.flush()
    for g in user_in.grants:
        session.add(RoleGrant(user_id=user.id, role=g.role, scope_unit_id=g.scope_unit_id))
    if user.unit_id:
        session.add(Membership(user_id=user.id, unit_id=user.unit_id))
    return user


def create_first_admin(session: Session, *, username: str, name: str, password: str) -> User:
    """First-run set-up: only possible while there is no account at all."""
    if not needs_setup(session):
        raise PermissionDenied("error.setup_done")
    username = validate_username(username)
    name, *_ = _clean_person(name, None, None, None)
    auth.check_password_policy(password, username=username)
    user = _add_user(session, UserCreate(username=username, name=name,
                                         grants=[Grant(role="admin"), Grant(role="learner")]),
                     auth.hash_password(password), must_change=False)
    audit.record(session, user.id, "setup.admin_created", username=username)
    session.flush()
    return user


def _check_grants(session: Session, grants: list[Grant]) -> None:
    if not grants:
        raise ValidationFailed("error.roles_required")
    for g in grants:
        if g.scope_unit_id is not None:
            get_unit(session, g.scope_unit_id)
            if g.role not in SCOPED_ROLES:
                raise ValidationFailed("error.scope_only_for", role=g.role)


def create_user(session: Session, actor: Actor, *, user_in: UserCreate) -> tuple[User, str]:
    """Create an account; returns it and its initial password (to show once). Must change at first sign-in."""
    require_admin(actor)
    user_in.username = validate_username(user_in.username)
    user_in.name, user_in.employee_no, user_in.phone, user_in.email = _clean_person(
        user_in.name, user_in.employee_no, user_in.phone, user_in.email)
    if _username_taken(session, user_in.username):
        raise ValidationFailed("error.username_taken", username=user_in.username)
    if user_in.unit_id is not None:
        get_unit(session, user_in.unit_id)
    _check_grants(session, user_in.grants)
    password = user_in.password or auth.generate_password()
    auth.check_password_policy(password, username=user_in.username)
    user = _add_user(session, user_in, auth.hash_password(password), must_change=True)
    audit.record(session, actor.id, "user.create", username=user.username)
    session.flush()
    return user, password


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(what="user", id=user_id)
    return user


def get_user(session: Session, actor: Actor, *, user_id: int) -> User:
    """An account record: one's own, or anyone's for an admin."""
    if actor.id != user_id:
        require_admin(actor)
    return _user(session, user_id)


def update_user(session: Session, actor: Actor, *, user_id: int, name: str, unit_id: int | None,
                phone: str | None = None, email: str | None = None, employee_no: str | None = None) -> None:
    require_admin(actor)
    user = _user(session, user_id)
    name, employee_no, phone, email = _clean_person(name, employee_no, phone, email)
    if unit_id != user.unit_id:
        if unit_id is not None:
            get_unit(session, unit_id)
        now = utcnow()
        for m in session.exec(select(Membership).where(Membership.user_id == user.id, Membership.valid_to.is_(None))):
            m.valid_to = now
            session.add(m)
        if unit_id is not None:
            session.add(Membership(user_id=user.id, unit_id=unit_id, valid_from=now))
        audit.record(session, actor.id, "user.move", username=user.username, unit_id=unit_id)
    user.name, user.unit_id, user.phone, user.email, user.employee_no = name, unit_id, phone, email, employee_no
    session.add(user)
    audit.record(session, actor.id, "user.update", username=user.username)
    session.flush()


def set_grants(session: Session, actor: Actor, *, user_id: int, grants: list[Grant]) -> None:
    require_admin(actor)
    user = _user(session, user_id)
    _check_grants(session, grants)
    if user.id == actor.id and not any(g.role == "admin" for g in grants):
        raise ValidationFailed("error.cannot_drop_own_admin")
    for g in session.exec(select(RoleGrant).where(RoleGrant.user_id == user.id)).all():
        session.delete(g)
    session.flush()
    for g in {(g.role, g.scope_unit_id) for g in grants}:
        session.add(RoleGrant(user_id=user.id, role=g[0], scope_unit_id=g[1]))
    audit.record(session, actor.id, "user.roles", username=user.username,
                 grants=[[g.role, g.scope_unit_id] for g in grants])
    session.flush()


def reset_password(session: Session, actor: Actor, *, user_id: int) -> str:
    """New random password (shown once), forced change, locks cleared, signed-in sessions ended."""
    require_admin(actor)
    user = _user(session, user_id)
    password = auth.generate_password()
    user.password_hash = auth.hash_password(password)
    user.must_change_password = True
    session.add(user)
    auth.clear_failures(session, username=user.username)
    auth.revoke_all_sessions(session, user_id=user.id)
    audit.record(session, actor.id, "user.reset_password", username=user.username)
    session.flush()
    return password


def set_active(session: Session, actor: Actor, *, user_id: int, active: bool) -> None:
    require_admin(actor)
    user = _user(session, user_id)
    if user.id == actor.id and not active:
        raise ValidationFailed("error.cannot_deactivate_self")
    user.active = active
    session.add(user)
    if not active:
        auth.revoke_all_sessions(session, user_id=user.id)
    audit.record(session, actor.id, "user.activate" if active else "user.deactivate", username=user.username)
    session.flush()


def set_locale(session: Session, actor: Actor, *, locale: str) -> None:
    if locale not in LOCALES:
        raise ValidationFailed("error.locale_unknown", locale=locale)
    user = _user(session, actor.id)
    user.locale = locale
    session.add(user)
    session.flush()


def search_users(session: Session, actor: Actor, *, text: str = "", unit_id: int | None = None,
                 role: str | None = None, include_inactive: bool = True,
                 limit: int = 200, offset: int = 0) -> tuple[list[UserRow], int]:
    """Admins search everyone; HR searches within their scope. Returns (page, total)."""
    paths = scope_paths(actor, "hr")
    q = select(User, OrgUnit.name).join(OrgUnit, OrgUnit.id == User.unit_id, isouter=True)
    if "/" not in paths:
        q = q.where(col(User.unit_id).in_(subtree_ids(session, paths)))
    if unit_id is not None:
        unit = get_unit(session, unit_id)
        q = q.where(col(User.unit_id).in_(subtree_ids(session, (unit.path,))))
    text = clean_text(text, field="search", max_length=100)
    if text.strip():
        like = f"%{text.strip()}%"
        q = q.where(or_(col(User.username).ilike(like), col(User.name).ilike(like), col(User.employee_no).ilike(like)))
    if role:
        q = q.where(col(User.id).in_(select(RoleGrant.user_id).where(RoleGrant.role == role)))
    if not include_inactive:
        q = q.where(User.active)
    total = session.exec(select(func.count()).select_from(q.subquery())).one()
    rows = session.exec(q.order_by(User.username).offset(offset).limit(limit)).all()
    ids = [u.id for u, _ in rows]
    grants: dict[int, list[tuple[str, int | None]]] = {}
    if ids:
        for g in session.exec(select(RoleGrant).where(col(RoleGrant.user_id).in_(ids))).all():
            grants.setdefault(g.user_id, []).append((g.role, g.scope_unit_id))
    locked = auth.locked_usernames(session, usernames=[u.username for u, _ in rows])
    out = [UserRow(u.id, u.username, u.name, u.unit_id, unit_name,
                   ",".join(sorted({r for r, _ in grants.get(u.id, [])}, key=ROLES.index)),
                   u.active, u.must_change_password, u.username.lower() in locked,
                   u.last_login_at, grants.get(u.id, []))
           for u, unit_name in rows]
    return out, total
