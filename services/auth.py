"""Sign-in, lockout, password changes and browser sessions.

The browser never holds anything but an opaque random token; the database keeps its SHA-256.
A successful sign-in on the Streamlit page creates a one-time *ticket*; the browser exchanges
it at /auth/session (server.py) for an HttpOnly session cookie, so a refresh keeps the user
signed in without page JavaScript ever seeing the token."""
from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import and_, case, delete, func, literal, null, or_
from sqlmodel import Session, select

from config import get_settings
from models import AuthSession, SignInThrottle, User
from models.db import utcnow
from services import audit
from services.errors import ValidationFailed
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


@dataclass(frozen=True)
class SignIn:
    """The answer to a sign-in attempt. A refusal is returned, not raised, so the caller's unit of
    work commits the failure count with everything else (a rollback would forget the guess).
    Truthy only on success."""
    user_id: int | None = None
    must_change_password: bool = False
    error: str | None = None       # message key of a refusal

    @property
    def ok(self) -> bool:
        return self.user_id is not None

    def __bool__(self) -> bool:
        return self.ok


# What every failed guess answers: the same for an unknown username, a wrong password and a lock
# (a lock message only existing names could get would tell which usernames exist).
REFUSED = "error.bad_credentials"
_SAFE_NAME = re.compile(r"^[a-z0-9._@-]{1,64}$")


def _name_key(username: str) -> str:
    """The lowered username the failure counter is kept under. Text that cannot be a username
    (control characters, too long, other scripts) is counted under a digest of itself."""
    name = username.strip().lower()
    if _SAFE_NAME.match(name):
        return name
    return "#" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def _client_key(client: str | None) -> str:
    """An IPv6 client is counted by its /64 (one household or host picks freely within it)."""
    try:
        ip = ipaddress.ip_address((client or "").strip())
    except ValueError:
        return (client or "-")[:64] if client and _SAFE_NAME.match(client.lower()) else "-"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _is_light(password_hash: str) -> bool:
    """A hash cheaper than the full parameters (an import's initial password) or no hash at all."""
    try:
        params = extract_parameters(password_hash)
    except InvalidHashError:
        return True
    return params.time_cost < _hasher.time_cost or params.memory_cost < _hasher.memory_cost


def _insert(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _count_failure(session: Session, *, scope: str, username: str, client: str, limit: int,
                   now: datetime, window: timedelta) -> tuple[int, datetime | None]:
    """One failed guess, counted atomically in one statement (parallel guesses all count). A window
    that has passed, or a lock that has ended, starts again at 1. Returns (failures, locked_until)."""
    t = SignInThrottle.__table__
    stamp = t.c.window_start.type
    until = literal(now + window, stamp)
    fresh = or_(and_(t.c.locked_until.is_(None), t.c.window_start <= now - window),
                and_(t.c.locked_until.is_not(None), t.c.locked_until <= now))
    failures = case((fresh, 1), else_=t.c.failures + 1)
    stmt = _insert(session)(t).values(scope=scope, username=username, client=client, failures=1,
                                      window_start=now, last_failure_at=now,
                                      locked_until=now + window if limit <= 1 else None)
    stmt = stmt.on_conflict_do_update(
        index_elements=["scope", "username", "client"],
        set_={"failures": failures,
              "window_start": case((fresh, literal(now, stamp)), else_=t.c.window_start),
              "last_failure_at": literal(now, stamp),
              "locked_until": case((and_(~fresh, t.c.locked_until.is_not(None)), t.c.locked_until),
                                   (failures >= limit, until), else_=null())},
    ).returning(t.c.failures, t.c.locked_until)
    row = session.execute(stmt).one()
    return row.failures, row.locked_until


def _locked(session: Session, *, username: str, client: str, now: datetime) -> bool:
    t = SignInThrottle.__table__
    q = select(t.c.id).where(t.c.client == client, t.c.locked_until > now,
                             or_(and_(t.c.scope == "account", t.c.username == username),
                                 and_(t.c.scope == "client", t.c.username == "")))
    return session.execute(q.limit(1)).first() is not None


def _refuse(session: Session, *, user: User | None, username: str, client: str, now: datetime) -> SignIn:
    settings = get_settings()
    window = timedelta(minutes=settings.lockout_minutes)
    for scope, name, limit in (("account", username, settings.max_failed_logins),
                               ("client", "", settings.max_failed_logins_per_client)):
        failures, until = _count_failure(session, scope=scope, username=name, client=client, limit=limit,
                                         now=now, window=window)
        if failures == limit:   # the lock begins now
            audit.record(session, user.id if user else None, "auth.locked", scope=scope, username=username,
                         client=client, until=until.isoformat() if until else None)
    # the counters' old rows go after a day (every unknown name a guesser tries leaves one)
    t = SignInThrottle.__table__
    session.execute(delete(t).where(t.c.last_failure_at < now - timedelta(days=1),
                                    or_(t.c.locked_until.is_(None), t.c.locked_until < now)))
    return SignIn(error=REFUSED)


def authenticate(session: Session, *, username: str, password: str, client: str | None = None) -> SignIn:
    """Check a username (any case) and password from `client` (the browser's address; None = unknown,
    e.g. the CLI). Failures are counted per (username, client) and per client: five in 15 minutes lock
    that name for that client, 30 lock the client (settings). Every refusal gives the same answer,
    whether the name exists or not, and costs one full Argon2 verification either way.
    The caller's unit of work must commit whatever the result (it holds the failure count)."""
    now = utcnow()
    key, client = _name_key(username), _client_key(client)
    if _locked(session, username=key, client=client, now=now):
        verify_password(_DUMMY_HASH, password)
        return _refuse(session, user=None, username=key, client=client, now=now)
    user = None if key.startswith("#") else session.exec(
        select(User).where(func.lower(User.username) == key)).first()
    if user is None:
        verify_password(_DUMMY_HASH, password)
        return _refuse(session, user=None, username=key, client=client, now=now)
    ok = verify_password(user.password_hash, password)
    if _is_light(user.password_hash):   # an import's initial hash answers in ~1 ms: spend the full cost
        verify_password(_DUMMY_HASH, password)
    if not ok:
        return _refuse(session, user=user, username=key, client=client, now=now)
    if not user.active:
        return SignIn(error="error.account_inactive")
    t = SignInThrottle.__table__
    session.execute(delete(t).where(t.c.scope == "account", t.c.username == key, t.c.client == client))
    user.last_login_at = now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.add(user)
    audit.record(session, user.id, "auth.login", client=client)
    session.flush()
    return SignIn(user_id=user.id, must_change_password=user.must_change_password)


def clear_failures(session: Session, *, username: str) -> None:
    """Forget the failed sign-ins of one username from every client (an admin's password reset)."""
    t = SignInThrottle.__table__
    session.execute(delete(t).where(t.c.scope == "account", t.c.username == _name_key(username)))


def locked_usernames(session: Session, *, usernames: list[str]) -> set[str]:
    """Which of these usernames (lowered) are locked for at least one client right now."""
    if not usernames:
        return set()
    t = SignInThrottle.__table__
    keys = {_name_key(u) for u in usernames}
    q = select(t.c.username).where(t.c.scope == "account", t.c.username.in_(keys), t.c.locked_until > utcnow())
    return set(session.execute(q.distinct()).scalars())


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
    session.flush()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _issue(session: Session, user_id: int, kind: str, lifetime: timedelta) -> str:
    token = secrets.token_urlsafe(32)
    session.add(AuthSession(token_hash=_digest(token), kind=kind, user_id=user_id,
                            expires_at=utcnow() + lifetime))
    session.flush()
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
        session.flush()


def revoke_all_sessions(session: Session, *, user_id: int, keep: str | None = None) -> None:
    keep_hash = _digest(keep) if keep else None
    for row in session.exec(select(AuthSession).where(AuthSession.user_id == user_id,
                                                      AuthSession.revoked_at.is_(None))):
        if row.token_hash != keep_hash:
            row.revoked_at = utcnow()
            session.add(row)
