from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

from config import get_settings
from models import AuthSession, SignInThrottle, User
from models.db import utcnow
from services import auth, users
from services.errors import PermissionDenied, ValidationFailed
from services.permissions import system_actor
from tests.conftest import uid


def test_passwords_are_argon2id_hashes(session, make_user):
    actor = make_user("learner", password="Secret123abc")
    user = session.get(User, actor.id)
    assert user.password_hash.startswith("$argon2id$")
    assert "Secret123abc" not in user.password_hash
    assert auth.verify_password(user.password_hash, "Secret123abc")
    assert not auth.verify_password(user.password_hash, "Secret123abd")


def test_sign_in_and_the_same_refusal_for_wrong_password_and_unknown_name(session, make_user):
    actor = make_user("learner", password="Right123x")
    ok = auth.authenticate(session, username=actor.username, password="Right123x", client="198.51.100.1")
    assert ok == auth.SignIn(user_id=actor.id, must_change_password=False) and ok.ok
    wrong_password = auth.authenticate(session, username=actor.username, password="wrong", client="198.51.100.1")
    unknown_user = auth.authenticate(session, username="nobody-" + uid(), password="x", client="198.51.100.1")
    # the same answer either way: the sign-in form does not tell which usernames exist
    assert wrong_password == unknown_user == auth.SignIn(error="error.bad_credentials")
    assert not wrong_password and not wrong_password.ok and wrong_password.user_id is None


def test_five_failures_lock_that_name_for_that_client_for_fifteen_minutes(session, make_user):
    actor = make_user("learner", password="Right123x")
    here, there = "198.51.100.2", "203.0.113.2"
    for _ in range(5):
        assert auth.authenticate(session, username=actor.username, password="bad", client=here).error \
            == "error.bad_credentials"
    row = session.exec(select(SignInThrottle).where(SignInThrottle.scope == "account",
                                                    SignInThrottle.username == actor.username.lower(),
                                                    SignInThrottle.client == here)).one()
    assert row.failures == 5
    assert timedelta(minutes=14, seconds=55) < row.locked_until - utcnow() <= timedelta(minutes=15)
    # even the right password is refused from there, with the very same answer as any wrong guess
    assert auth.authenticate(session, username=actor.username, password="Right123x", client=here) \
        == auth.SignIn(error="error.bad_credentials")
    # ... while the person, elsewhere, signs in
    assert auth.authenticate(session, username=actor.username, password="Right123x", client=there).user_id \
        == actor.id
    # once the lock has passed, the right password works from there again
    session.execute(update(SignInThrottle).where(SignInThrottle.id == row.id)
                    .values(locked_until=utcnow() - timedelta(seconds=1)))
    assert auth.authenticate(session, username=actor.username, password="Right123x", client=here).user_id \
        == actor.id


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
    assert auth.authenticate(session, username=u.username, password="Good1234pass").user_id == u.id


def test_parallel_wrong_guesses_all_count(make_user):
    """The failure counters are incremented in SQL: 12 simultaneous guesses (threshold 5) from one
    client are all counted, each in its own unit of work, and none of them fails with an error."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from models.db import session_scope
    actor = make_user("learner", password="Right123x")
    client, guesses = "198.51.100.12", 12
    assert guesses > get_settings().max_failed_logins
    barrier = Barrier(guesses)

    def guess(i: int) -> auth.SignIn:
        with session_scope() as s:
            barrier.wait(timeout=30)
            return auth.authenticate(s, username=actor.username, password=f"bad-guess-{i}", client=client)

    with ThreadPoolExecutor(guesses) as pool:
        results = list(pool.map(guess, range(guesses)))    # .map re-raises any error of a thread here
    assert results == [auth.SignIn(error="error.bad_credentials")] * guesses
    with session_scope() as s:
        counts = {r.scope: r.failures for r in s.exec(select(SignInThrottle).where(SignInThrottle.client == client))}
        assert counts == {"account": guesses, "client": guesses}
        assert auth.authenticate(s, username=actor.username, password="Right123x", client=client).error \
            == "error.bad_credentials"
        assert auth.authenticate(s, username=actor.username, password="Right123x",
                                 client="203.0.113.12").user_id == actor.id


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
    for _ in range(5):
        auth.authenticate(session, username=learner.username, password="bad", client="198.51.100.3")
    assert auth.locked_usernames(session, usernames=[learner.username]) == {learner.username.lower()}
    new_pw = users.reset_password(session, admin, user_id=learner.id)
    assert auth.resolve_session(session, token=token) is None
    assert auth.locked_usernames(session, usernames=[learner.username]) == set()   # the reset lifts locks
    assert auth.authenticate(session, username=learner.username, password=new_pw, client="198.51.100.3") \
        == auth.SignIn(user_id=learner.id, must_change_password=True)


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
    assert auth.authenticate(session, username=learner.username, password="Right123x") \
        == auth.SignIn(error="error.account_inactive")


def test_first_admin_only_while_no_account_exists(session, make_user):
    make_user("learner")
    with pytest.raises(PermissionDenied) as exc:
        users.create_first_admin(session, username="root2", name="x", password="Passw0rd!x")
    assert exc.value.code == "error.setup_done"


def test_account_services_leave_the_commit_to_the_caller(make_user, tree):
    """Units of work: no sign-in or account service commits; the caller's rollback undoes all of it."""
    from sqlalchemy import event
    from sqlmodel import Session

    from models.db import get_engine, session_scope
    learner = make_user("learner", password="Right123x")
    admin = make_user("admin")
    client, newcomer = "198.51.100.77", uid()
    commits = []
    with Session(get_engine(), expire_on_commit=False) as s:
        event.listen(s, "before_commit", lambda _s: commits.append("commit"))
        assert auth.authenticate(s, username=learner.username, password="bad", client=client) \
            == auth.SignIn(error="error.bad_credentials")
        assert auth.authenticate(s, username=learner.username, password="Right123x", client=client).user_id \
            == learner.id
        token, _ = auth.exchange_ticket(s, ticket=auth.issue_login_ticket(s, user_id=learner.id))
        auth.change_password(s, learner, current="Right123x", new="Newer456pw", keep_token=token)
        auth.revoke_session(s, token=token)
        users.create_user(s, admin, user_in=users.UserCreate(username=newcomer, name="新人", unit_id=tree["town"]))
        users.update_user(s, admin, user_id=learner.id, name="改名", unit_id=tree["town"])
        users.set_grants(s, admin, user_id=learner.id, grants=[users.Grant(role="learner"), users.Grant(role="hr")])
        users.reset_password(s, admin, user_id=learner.id)
        users.set_active(s, admin, user_id=learner.id, active=False)
        users.set_locale(s, learner, locale="en")
        s.rollback()
    assert commits == []
    with session_scope() as s:
        assert s.exec(select(User).where(User.username == newcomer)).first() is None
        stored = s.get(User, learner.id)
        assert (stored.name, stored.active, stored.locale, stored.must_change_password) == ("测试用户", True, "zh-CN", False)
        assert auth.verify_password(stored.password_hash, "Right123x")
        assert s.exec(select(AuthSession).where(AuthSession.user_id == learner.id)).all() == []
        assert s.exec(select(SignInThrottle).where(SignInThrottle.client == client)).all() == []
