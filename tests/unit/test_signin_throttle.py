"""Sign-in answers and throttling (issue 6 §2 "account enumeration and lock-out of others", §3 usernames):
one answer for every refusal, failures counted per (username, client) and per client, the same Argon2
cost whether the account exists, is new (light initial hash) or is normal; usernames in any case."""
import ipaddress
import statistics
import time
import uuid

import pytest
from alembic import command
from sqlalchemy import delete, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from config import ROOT, get_settings
from models import SignInThrottle, User
from models.db import get_engine, session_scope
from models.migrate import alembic_config
from services import auth, users
from services.errors import ValidationFailed
from services.permissions import system_actor
from tests.conftest import uid
from tests.dbutil import fresh_database_url
from ui.i18n import t
from ui.session import forwarded_client

REFUSED = auth.SignIn(error="error.bad_credentials")


def new_client() -> str:
    """An address no other test uses (10.0.0.0/8)."""
    return str(ipaddress.IPv4Address(0x0A000000 + uuid.uuid4().int % 2**24))


def sign_in(username: str, password: str, client: str) -> auth.SignIn:
    """As the sign-in page does it: one unit of work, committed whatever the answer."""
    with session_scope() as s:
        return auth.authenticate(s, username=username, password=password, client=client)


def counters(client: str) -> dict[tuple[str, str], int]:
    with session_scope() as s:
        return {(r.scope, r.username): r.failures
                for r in s.exec(select(SignInThrottle).where(SignInThrottle.client == client))}


def test_every_refusal_is_the_same_answer_for_known_and_unknown_names(make_user):
    actor = make_user("learner", password="Right123x")
    unknown = "nobody-" + uid()
    client = new_client()
    answers = []
    for _ in range(7):       # past the threshold of 5: the lock is no different for a real name
        answers.append(sign_in(actor.username, "wrong-1", client))
        answers.append(sign_in(unknown, "wrong-1", client))
    answers.append(sign_in(actor.username, "Right123x", client))    # locked for this client now
    assert answers == [REFUSED] * 15
    assert counters(client) == {("account", actor.username.lower()): 8, ("account", unknown): 7, ("client", ""): 15}


@pytest.fixture
def loopback_counter():
    """AppTest has no browser address: its sign-ins count against 127.0.0.1. Leave that counter as found."""
    yield "127.0.0.1"
    with session_scope() as s:
        s.execute(delete(SignInThrottle).where(SignInThrottle.scope == "client", SignInThrottle.client == "127.0.0.1"))


def test_sign_in_page_shows_one_message_for_every_failure(make_user, loopback_counter, monkeypatch):
    monkeypatch.setattr(get_settings(), "max_failed_logins_per_client", 1000)
    actor = make_user("learner", password="Right123x")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    shown = []
    for username, password in [(actor.username, "wrong")] * 6 + [("nobody-" + uid(), "wrong")] * 6 \
            + [(actor.username, "Right123x")]:      # the last one: the right password, locked from here
        at.text_input(key="login_username").input(username)
        at.text_input(key="login_password").input(password)
        at.button[0].click()
        at.run()
        assert not at.exception
        shown.append([e.value for e in at.error])
    assert "user_id" not in at.session_state
    assert shown == [[t("error.bad_credentials")]] * 13
    assert "请稍后再试" in shown[0][0]
    with session_scope() as s:       # the page's unit of work kept every failure although sign-in failed
        row = s.exec(select(SignInThrottle).where(SignInThrottle.username == actor.username.lower(),
                                                  SignInThrottle.client == loopback_counter)).one()
        assert row.failures == 7 and row.locked_until is not None


def test_a_lock_is_per_name_and_client_and_names_count_in_any_case(make_user):
    actor = make_user("learner", password="Right123x")
    attacker, person = new_client(), new_client()
    for spelling in (actor.username.upper(), actor.username, actor.username.lower(), actor.username.title(),
                     " " + actor.username + " "):
        assert sign_in(spelling, "guess", attacker) == REFUSED
    assert counters(attacker)[("account", actor.username.lower())] == 5
    assert sign_in(actor.username, "Right123x", attacker) == REFUSED
    assert sign_in(actor.username, "Right123x", person).user_id == actor.id      # not locked out elsewhere
    assert sign_in(actor.username, "Right123x", attacker) == REFUSED              # still locked there
    with session_scope() as s:
        assert auth.locked_usernames(s, usernames=[actor.username]) == {actor.username.lower()}
        rows, _ = users.search_users(s, system_actor(), text=actor.username)
        assert [r.locked for r in rows] == [True]         # the admin sees it


def test_a_client_is_limited_across_usernames(make_user, monkeypatch):
    monkeypatch.setattr(get_settings(), "max_failed_logins_per_client", 8)
    actor, other = make_user("learner", password="Right123x"), make_user("learner", password="Right123x")
    client, elsewhere = new_client(), new_client()
    for _ in range(7):       # seven names, one guess each: no single name reaches its own limit
        assert sign_in("guess-" + uid(), "x", client) == REFUSED
    # a success from the client does not wipe its count (one known account cannot reset the limit)
    assert sign_in(actor.username, "Right123x", client).user_id == actor.id
    assert counters(client)[("client", "")] == 7
    assert sign_in("guess-" + uid(), "x", client) == REFUSED       # the 8th failure
    assert counters(client)[("client", "")] == 8
    assert sign_in(actor.username, "Right123x", client) == REFUSED
    assert sign_in(other.username, "Right123x", client) == REFUSED
    assert sign_in(other.username, "Right123x", elsewhere).user_id == other.id


def test_verification_time_does_not_tell_unknown_new_and_normal_accounts_apart(make_user):
    """Each path costs one full Argon2id verification; the rest (a 1 ms light verification, the same
    counter writes) is small. Median of 7 interleaved rounds, each round from a fresh client (so no
    lock path is measured). Tolerance ±25 % of the normal path: wide for noise on a shared machine,
    and far from what the test must catch (a light hash alone answers in under 1 % of the time)."""
    normal = make_user("learner", password="Right123x")
    new = make_user("learner", password="Right123x", must_change=True)
    with session_scope() as s:      # what a bulk import stores for a generated initial password
        s.execute(update(User).where(User.id == new.id).values(password_hash=auth.hash_initial_password("Initial-7x")))
        assert auth._is_light(s.get(User, new.id).password_hash)
        assert not auth._is_light(s.get(User, normal.id).password_hash)
    cases = {"normal": normal.username, "new": new.username, "unknown": "nobody-" + uid()}
    timings: dict[str, list[float]] = {k: [] for k in cases}
    sign_in(normal.username, "warm-up", new_client())
    for round_ in range(7):
        client = new_client()
        order = list(cases)[round_ % 3:] + list(cases)[:round_ % 3]
        for case in order:
            start = time.process_time()   # CPU time: another busy process on the machine does not count
            assert sign_in(cases[case], "wrong-password", client) == REFUSED
            timings[case].append(time.process_time() - start)
    median = {k: statistics.median(v) for k, v in timings.items()}
    for case in ("new", "unknown"):
        assert 0.75 < median[case] / median["normal"] < 1.25, median


def test_usernames_are_case_insensitive_at_sign_in_and_unique_by_index(session, tree):
    name = "Li.Ming" + uid()
    user, password = users.create_user(session, system_actor(), user_in=users.UserCreate(
        username=name, name="李明", unit_id=tree["town"]))
    session.commit()
    assert user.username == name                  # kept as typed
    for spelling in (name.lower(), name.upper(), name):
        assert sign_in(spelling, password, new_client()).user_id == user.id
    with pytest.raises(ValidationFailed) as exc:
        users.create_user(session, system_actor(), user_in=users.UserCreate(username=name.lower(), name="李明二"))
    assert exc.value.code == "error.username_taken"
    # the database itself refuses a second spelling, whatever wrote it
    with Session(get_engine()) as raw:
        raw.add(User(username=name.upper(), name="x", password_hash="x"))
        with pytest.raises(IntegrityError):
            raw.flush()
        raw.rollback()


def test_migration_0003_stops_on_usernames_that_differ_only_in_case():
    url = fresh_database_url("casedup")
    insert_user = text("INSERT INTO app_user (username, name, password_hash, must_change_password, locale, active, "
                       "failed_logins, created_at) VALUES (:u, 'x', 'x', :f, 'zh-CN', :t, 0, CURRENT_TIMESTAMP)")
    command.upgrade(alembic_config(url), "0002")
    with get_engine(url).begin() as c:
        for name in ("Wang.Fang", "wang.fang", "zhao"):
            c.execute(insert_user, {"u": name, "f": False, "t": True})
    with pytest.raises(RuntimeError, match=r"wang\.fang \(2×\)"):
        command.upgrade(alembic_config(url), "head")
    with get_engine(url).begin() as c:
        c.execute(text("UPDATE app_user SET username = 'wang.fang2' WHERE username = 'wang.fang'"))
    command.upgrade(alembic_config(url), "head")           # once renamed, the upgrade goes through
    with pytest.raises(IntegrityError), get_engine(url).begin() as c:
        c.execute(insert_user, {"u": "ZHAO", "f": False, "t": True})
    get_engine(url).dispose()


def test_the_client_address_believes_forwarding_only_from_trusted_proxies():
    xff = "203.0.113.7, 10.1.1.1"
    assert forwarded_client("198.51.100.9", xff, []) == "198.51.100.9"          # nobody trusted: header ignored
    assert forwarded_client("198.51.100.9", xff, ["10.0.0.0/8"]) == "198.51.100.9"   # peer not a trusted proxy
    assert forwarded_client("10.1.1.2", xff, ["10.1.1.2"]) == "10.1.1.1"       # the hop our proxy saw
    assert forwarded_client("10.1.1.2", xff, ["10.0.0.0/8"]) == "203.0.113.7"  # past a chain of trusted proxies
    assert forwarded_client(None, "203.0.113.7", ["127.0.0.1"]) == "203.0.113.7"   # None = loopback peer
    assert forwarded_client(None, None, []) == "127.0.0.1"
    assert forwarded_client("10.1.1.2", "not-an-ip, 203.0.113.7", ["10.1.1.2"]) == "203.0.113.7"
    assert forwarded_client("10.1.1.2", "203.0.113.7, junk", ["10.1.1.2"]) == "10.1.1.2"   # stops at junk
    assert forwarded_client("::ffff:198.51.100.9", None, []) == "198.51.100.9"


def test_ipv6_clients_are_counted_by_their_64():
    assert auth._client_key("2001:db8:1:2:aaaa::1") == auth._client_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert auth._client_key("2001:db8:1:3::1") != auth._client_key("2001:db8:1:2::1")
    assert auth._client_key(None) == auth._client_key("garbage\x00") == "-"


def test_a_name_that_cannot_exist_is_counted_without_reaching_the_database_as_typed(make_user):
    client = new_client()
    for odd in ("x\x00y", "名字", "a" * 5000):
        assert sign_in(odd, "pw", client) == REFUSED
    keys = {name for scope, name in counters(client) if scope == "account"}
    assert len(keys) == 3 and all(k.startswith("#") and len(k) == 41 for k in keys)


@pytest.mark.parametrize("field", ["username", "name", "employee_no", "phone", "email"])
def test_control_characters_in_a_new_account_are_refused_and_nothing_is_written(tree, field):
    values = {"username": uid("nul"), "name": "张三", "employee_no": "E1", "phone": "13912345678",
              "email": "a@example.com"}
    values[field] = values[field][:2] + "\x00" + values[field][2:]
    with pytest.raises(ValidationFailed) as exc, session_scope() as s:
        users.create_user(s, system_actor(), user_in=users.UserCreate(unit_id=tree["town"], **values))
    assert exc.value.code == "error.control_chars" and exc.value.params["field"] == field
    with session_scope() as s:      # (PostgreSQL refuses NUL even in a query: look for the clean name)
        assert s.exec(select(User).where(User.username == values["username"].replace("\x00", ""))).all() == []


@pytest.mark.parametrize("field", ["name", "employee_no", "phone", "email"])
def test_control_characters_in_an_update_are_refused_and_nothing_is_written(make_user, field):
    person = make_user("learner")
    values = {"name": "李四", "employee_no": "E2", "phone": "13900000000", "email": "b@example.com"}
    values[field] = values[field][:1] + "\x07" + values[field][1:]
    with pytest.raises(ValidationFailed) as exc, session_scope() as s:
        users.update_user(s, system_actor(), user_id=person.id, unit_id=person.unit_id, **values)
    assert exc.value.code == "error.control_chars" and exc.value.params["field"] == field
    with session_scope() as s:
        stored = s.get(User, person.id)
        assert (stored.name, stored.employee_no, stored.phone, stored.email) == ("测试用户", None, None, None)
