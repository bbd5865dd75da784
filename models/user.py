from datetime import datetime
from typing import Optional

from sqlalchemy import Index, UniqueConstraint, func
from sqlmodel import Field, SQLModel

from models.db import utcnow

ROLES = ("learner", "trainer", "hr", "admin")


class User(SQLModel, table=True):
    __tablename__ = "app_user"
    id: Optional[int] = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=64)
    unit_id: Optional[int] = Field(default=None, foreign_key="org_unit.id", index=True)
    employee_no: Optional[str] = Field(default=None, max_length=32)
    phone: Optional[str] = Field(default=None, max_length=32)
    email: Optional[str] = Field(default=None, max_length=128)
    password_hash: str = Field(max_length=256)
    must_change_password: bool = True
    locale: str = Field(default="zh-CN", max_length=8)
    active: bool = True
    # Unused since migration 0003 (failures are counted per username and client in sign_in_throttle);
    # kept because bulk imports still write failed_logins. Drop both in a later migration.
    failed_logins: int = 0
    locked_until: Optional[datetime] = None
    last_login_at: Optional[datetime] = None
    created_at: datetime = Field(default_factory=utcnow)


# Usernames are unique regardless of case (migration 0003); sign-in looks them up by lower(username).
Index("uq_app_user_username_lower", func.lower(User.__table__.c.username), unique=True)


class RoleGrant(SQLModel, table=True):
    """A role held by a user; trainer/hr grants carry an org scope (that unit and its subtree, None = all)."""
    __tablename__ = "role_grant"
    __table_args__ = (UniqueConstraint("user_id", "role", "scope_unit_id", name="uq_role_grant"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    role: str = Field(max_length=16)
    scope_unit_id: Optional[int] = Field(default=None, foreign_key="org_unit.id")


class AuthSession(SQLModel, table=True):
    """A signed-in browser: only the SHA-256 of the cookie token is stored."""
    __tablename__ = "auth_session"
    id: Optional[int] = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    kind: str = Field(default="session", max_length=16)   # "ticket" (one-time, short) or "session"
    user_id: int = Field(foreign_key="app_user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: Optional[datetime] = None


class SignInThrottle(SQLModel, table=True):
    """Failed sign-ins, counted in SQL. scope "account": one (lowered) username from one client, so a
    guesser elsewhere cannot lock the real person out; scope "client": every username from one client
    (username ""), a rate limit across names. Unknown usernames are counted exactly like real ones."""
    __tablename__ = "sign_in_throttle"
    __table_args__ = (UniqueConstraint("scope", "username", "client", name="uq_sign_in_throttle"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    scope: str = Field(max_length=8)                    # "account" | "client"
    username: str = Field(default="", max_length=64)    # lowered (or "#"+digest of an impossible name)
    client: str = Field(max_length=64)                  # IP address (IPv6: its /64)
    failures: int = 0                                   # within the window that began at window_start
    window_start: datetime
    last_failure_at: datetime = Field(index=True)
    locked_until: Optional[datetime] = None
