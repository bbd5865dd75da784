"""Sign-in, lockout, password changes and browser sessions.

The browser never holds anything but an opaque random token; the database keeps its SHA-256.
A successful sign-in on the Streamlit page creates a one-time *ticket*; the browser exchanges
it at /auth/session (server.py) for an HttpOnly session cookie, so a refresh keeps the user
signed in without page JavaScript ever seeing the token."""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import update
from sqlmodel import Session, select

from config import get_settings
from models import AuthSession, User
from models.db import utcnow
from services import audit
from services.errors import AuthFailed, ValidationFailed
from services.permissions import Actor

_hasher = PasswordHasher()   # argon2id, library defaults (RFC 9106 low-memory profile)
# Random one-time initial passwords of bulk imports (~57 bits, must be changed at first sign-in) use
# light Argon2id parameters so 20,000 rows hash in seconds; check_needs_rehash upgrades them on sign-in.
_initial_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
# Verifying against this keeps unknown usernames as slow as wrong passwords.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def hash_initial_password(password: str) -> str:
    return _initial_hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_password_policy(password: str, *, username: str = "") -> None:
    """At least 8 characters with letters and digits, not the username."""
    if len(password) < 8:
        raise ValidationFailed("error.password_too_short", min=8)
    if not (re.search(r"[A-Za-z]", password) and re.search(r"\d", password)):
        raise ValidationFailed("error.password_too_simple")
    if username and password.lower() == username.lower():
        raise ValidationFailed("error.password_is_username")


def generate_password() -> str:
    """A readable random initial password that meets the policy (shown once, must be changed)."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ"
    digits = "23456789"
    core = "".join(secrets.choice(alphabet) for _ in range(7)) + "".join(secrets.choice(digits) for _ in range(3))
    return core[:4] + "-" + core[4:]


@dataclass
class SignIn:
    user_id: int
    must_change_password: bool


def authenticate(session: Session, *, username: str, password: str) -> SignIn:
    """Check a username/password. 5 failures in a row lock the account for 15 minutes.
    Wrong usernames and wrong passwords get the same answer; only a lock names its end time."""
    settings = get_settings()
    now = utcnow()
    user = session.exec(select(User).where(User.username == username.strip())).first()
    if user is None:
        verify_password(_DUMMY_HASH, password)
        raise AuthFailed("error.bad_credentials")
    if user.locked_until and user.locked_until > now:
        raise AuthFailed("error.account_locked", until=user.locked_until)
    if not verify_password(user.password_hash, password):
        # count in SQL, not in Python: parallel guesses must not overwrite each other's increments
        failures = session.execute(update(User).where(User.id == user.id)
                                   .values(failed_logins=User.failed_logins + 1)
                                   .returning(User.failed_logins)).scalar_one()
        if failures >= settings.max_failed_logins:
            until = now + timedelta(minutes=settings.lockout_minutes)
            session.execute(update(User).where(User.id == user.id).values(locked_until=until, failed_logins=0))
            audit.record(session, user.id, "auth.locked", until=until.isoformat())
            session.commit()
            raise AuthFailed("error.account_locked", until=until)
        session.commit()
        raise AuthFailed("error.bad_credentials")
    if not user.active:
        raise AuthFailed("error.account_inactive")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.add(user)
    audit.record(session, user.id, "auth.login")
    session.commit()
    return SignIn(user_id=user.id, must_change_password=user.must_change_password)


def change_password(session: Session, actor: Actor, *, current: str, new: str, keep_token: str | None = None) -> None:
    """Change one's own password; every other signed-in browser of this user is signed out."""
    user = session.get(User, actor.id)
    if user is None or not verify_password(user.password_hash, current):
        raise ValidationFailed("error.current_password_wrong")
    if current == new:
        raise ValidationFailed("error.password_unchanged")
    check_password_policy(new, username=user.username)
    user.password_hash = hash_password(new)
    user.must_change_password = False
    session.add(user)
    revoke_all_sessions(session, user_id=user.id, keep=keep_token)   # a stolen cookie dies with the old password
    audit.record(session, actor.id, "auth.password_changed")
    session.commit()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _issue(session: Session, user_id: int, kind: str, lifetime: timedelta) -> str:
    token = secrets.token_urlsafe(32)
    session.add(AuthSession(token_hash=_digest(token), kind=kind, user_id=user_id,
                            expires_at=utcnow() + lifetime))
    session.commit()
    return token


def issue_login_ticket(session: Session, *, user_id: int) -> str:
    return _issue(session, user_id, "ticket", timedelta(seconds=get_settings().login_ticket_seconds))


def exchange_ticket(session: Session, *, ticket: str) -> tuple[str, datetime] | None:
    """Spend a one-time ticket; return a new session token and its expiry, or None."""
    row = session.exec(select(AuthSession).where(AuthSession.token_hash == _digest(ticket),
                                                 AuthSession.kind == "ticket")).first()
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    row.revoked_at = now          # one use only
    session.add(row)
    lifetime = timedelta(hours=get_settings().session_hours)
    token = _issue(session, row.user_id, "session", lifetime)
    return token, now + lifetime


def resolve_session(session: Session, *, token: str | None) -> int | None:
    """The user id a session cookie belongs to, if it is valid, unexpired and the user active."""
    if not token:
        return None
    row = session.exec(select(AuthSession).where(AuthSession.token_hash == _digest(token),
                                                 AuthSession.kind == "session")).first()
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    user = session.get(User, row.user_id)
    return user.id if user and user.active else None


def revoke_session(session: Session, *, token: str | None) -> None:
    if not token:
        return
    row = session.exec(select(AuthSession).where(AuthSession.token_hash == _digest(token))).first()
    if row and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.commit()


def revoke_all_sessions(session: Session, *, user_id: int, keep: str | None = None) -> None:
    keep_hash = _digest(keep) if keep else None
    for row in session.exec(select(AuthSession).where(AuthSession.user_id == user_id,
                                                      AuthSession.revoked_at.is_(None))):
        if row.token_hash != keep_hash:
            row.revoked_at = utcnow()
            session.add(row)
