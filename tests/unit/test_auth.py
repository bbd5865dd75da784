from datetime import timedelta

import pytest
from sqlmodel import select

from models import AuthSession, User
from models.db import utcnow
from services import auth, users
from services.errors import AuthFailed, ValidationFailed
from services.permissions import system_actor
from tests.conftest import uid


def test_passwords_are_argon2id_hashes(session, make_user):
    actor = make_user("learner", password="Secret123abc")
    user = session.get(User, actor.id)
    assert user.password_hash.startswith("$argon2id$")
    assert "Secret123abc" not in user.password_hash
    assert auth.verify_password(user.password_hash, "Secret123abc")
    assert not auth.verify_password(user.password_hash, "Secret123abd")


def test_sign_in_and_wrong_password_counts_down(session, make_user):
    actor = make_user("learner", password="Right123x")
    assert auth.authenticate(session, username=actor.username, password="Right123x").user_id == actor.id
    with pytest.raises(AuthFailed) as wrong_password:
        auth.authenticate(session, username=actor.username, password="wrong")
    with pytest.raises(AuthFailed) as unknown_user:
        auth.authenticate(session, username="nobody-" + uid(), password="x")
    # the same answer either way: the sign-in form does not tell which usernames exist
    assert wrong_password.value.code == unknown_user.value.code == "error.bad_credentials"
    assert wrong_password.value.params == unknown_user.value.params == {}


def test_five_failures_lock_for_fifteen_minutes(session, make_user):
    actor = make_user("learner", password="Right123x")
    for _ in range(4):
        with pytest.raises(AuthFailed):
            auth.authenticate(session, username=actor.username, password="bad")
    before = utcnow()
    with pytest.raises(AuthFailed) as exc:
        auth.authenticate(session, username=actor.username, password="bad")
    assert exc.value.code == "error.account_locked"
    until = exc.value.params["until"]
    assert timedelta(minutes=14, seconds=55) < until - before <= timedelta(minutes=15, seconds=5)
    # even the right password is refused while locked, and the message names the time
    with pytest.raises(AuthFailed) as exc:
        auth.authenticate(session, username=actor.username, password="Right123x")
    assert exc.value.code == "error.account_locked" and exc.value.params["until"] == until
    # once the lock has passed, the right password works again
    user = session.get(User, actor.id)
    user.locked_until = utcnow() - timedelta(seconds=1)
    session.add(user)
    session.commit()
    assert auth.authenticate(session, username=actor.username, password="Right123x").user_id == actor.id


def test_admin_created_accounts_must_change_password(session, tree):
    u, initial = users.create_user(session, system_actor(), user_in=users.UserCreate(
        username=uid(), name="新同事", unit_id=tree["town"]))
    result = auth.authenticate(session, username=u.username, password=initial)
    assert result.must_change_password
    actor = __import__("services.permissions", fromlist=["load_actor"]).load_actor(session, u.id)
    with pytest.raises(ValidationFailed) as exc:
        auth.change_password(session, actor, current=initial, new="short1")
    assert exc.value.code == "error.password_too_short"
    with pytest.raises(ValidationFailed) as exc:
        auth.change_password(session, actor, current=initial, new="onlyletters")
    assert exc.value.code == "error.password_too_simple"
    with pytest.raises(ValidationFailed):
        auth.change_password(session, actor, current="wrong", new="Good1234pass")
    auth.change_password(session, actor, current=initial, new="Good1234pass")
    session.refresh(session.get(User, u.id))
    assert not session.get(User, u.id).must_change_password
    assert auth.authenticate(session, username=u.username, password="Good1234pass")


def test_parallel_wrong_guesses_all_count(make_user):
    """The failure counter is incremented in SQL: concurrent guesses cannot overwrite each other."""
    import threading
    from models.db import session_scope
    actor = make_user("learner", password="Right123x")
    barrier = threading.Barrier(8)
    codes = []

    def guess():
        with session_scope() as s:
            barrier.wait()
            try:
                auth.authenticate(s, username=actor.username, password="bad-guess")
            except AuthFailed as exc:
                codes.append(exc.code)
            except Exception as exc:   # SQLite busy under contention would show here
                codes.append(repr(exc))
    threads = [threading.Thread(target=guess) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert "error.account_locked" in codes, codes
    with session_scope() as s:
        with pytest.raises(AuthFailed) as exc:
            auth.authenticate(s, username=actor.username, password="Right123x")
        assert exc.value.code == "error.account_locked"


def test_changing_the_password_signs_out_other_browsers(session, make_user):
    actor = make_user("learner", password="Right123x")
    here, _ = auth.exchange_ticket(session, ticket=auth.issue_login_ticket(session, user_id=actor.id))
    elsewhere, _ = auth.exchange_ticket(session, ticket=auth.issue_login_ticket(session, user_id=actor.id))
    auth.change_password(session, actor, current="Right123x", new="Newer456pw", keep_token=here)
    assert auth.resolve_session(session, token=here) == actor.id
    assert auth.resolve_session(session, token=elsewhere) is None


def test_reset_password_forces_change_and_ends_sessions(session, make_user):
    learner = make_user("learner")
    admin = make_user("admin")
    ticket = auth.issue_login_ticket(session, user_id=learner.id)
    token, _ = auth.exchange_ticket(session, ticket=ticket)
    assert auth.resolve_session(session, token=token) == learner.id
    new_pw = users.reset_password(session, admin, user_id=learner.id)
    assert auth.resolve_session(session, token=token) is None
    assert auth.authenticate(session, username=learner.username, password=new_pw).must_change_password


def test_tickets_are_one_time_and_expire(session, make_user):
    actor = make_user("learner")
    ticket = auth.issue_login_ticket(session, user_id=actor.id)
    token, expires = auth.exchange_ticket(session, ticket=ticket)
    assert expires > utcnow() + timedelta(hours=11)
    assert auth.exchange_ticket(session, ticket=ticket) is None          # spent
    assert auth.resolve_session(session, token=ticket) is None            # a ticket is not a session
    stale = auth.issue_login_ticket(session, user_id=actor.id)
    row = session.exec(select(AuthSession).where(AuthSession.user_id == actor.id, AuthSession.kind == "ticket",
                                                 AuthSession.revoked_at.is_(None))).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.add(row)
    session.commit()
    assert auth.exchange_ticket(session, ticket=stale) is None
    # only the hash is stored
    assert session.exec(select(AuthSession).where(AuthSession.token_hash == token)).first() is None
    auth.revoke_session(session, token=token)
    assert auth.resolve_session(session, token=token) is None


def test_deactivated_user_cannot_sign_in_or_keep_session(session, make_user):
    learner = make_user("learner", password="Right123x")
    admin = make_user("admin")
    token, _ = auth.exchange_ticket(session, ticket=auth.issue_login_ticket(session, user_id=learner.id))
    users.set_active(session, admin, user_id=learner.id, active=False)
    assert auth.resolve_session(session, token=token) is None
    with pytest.raises(AuthFailed) as exc:
        auth.authenticate(session, username=learner.username, password="Right123x")
    assert exc.value.code == "error.account_inactive"


def test_first_admin_only_while_no_account_exists(session, make_user):
    make_user("learner")
    with pytest.raises(Exception) as exc:
        users.create_first_admin(session, username="root2", name="x", password="Passw0rd!x")
    assert getattr(exc.value, "code", "") == "error.setup_done"
