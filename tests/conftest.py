"""One database per test session (SQLite, or PostgreSQL with TEST_DATABASE_URL), upgraded with
Alembic and loaded with the real curriculum. Tests create their own people with unique names."""
import os
import uuid

import pytest

from tests.dbutil import drop_created, fresh_database_url

os.environ["DATABASE_URL"] = fresh_database_url("unit")   # before config/settings are first read

from models.db import get_engine, session_scope  # noqa: E402
from models.migrate import upgrade_db  # noqa: E402
from services import org, settings, users  # noqa: E402
from services.content import load_bank  # noqa: E402
from services.permissions import load_actor, system_actor  # noqa: E402


def pytest_sessionfinish(session, exitstatus):
    get_engine.cache_clear()
    drop_created()


@pytest.fixture(scope="session", autouse=True)
def database():
    upgrade_db()
    with session_scope() as s:
        load_bank(s)
        # tests study at machine speed: no minimum study time unless a test asks for one
        settings.set_credit_rule(s, system_actor(), rule=settings.CreditRule(min_study_ratio=0))
    yield os.environ["DATABASE_URL"]
    get_engine().dispose()


@pytest.fixture
def session(database):
    with session_scope() as s:
        yield s


def uid(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def tree(database):
    """A small org tree: city → district → town → village, and a city department."""
    sysa = system_actor()
    with session_scope() as s:
        tag = uuid.uuid4().hex[:6]
        city = org.create_unit(s, sysa, code=f"C-{tag}", name="测试市", kind="city")
        dist = org.create_unit(s, sysa, code=f"D-{tag}", name="测试区", kind="district", parent_id=city.id)
        town = org.create_unit(s, sysa, code=f"T-{tag}", name="测试镇", kind="town", parent_id=dist.id)
        vill = org.create_unit(s, sysa, code=f"V-{tag}", name="测试村", kind="village", parent_id=town.id)
        dept = org.create_unit(s, sysa, code=f"P-{tag}", name="测试局", kind="department", parent_id=city.id)
        dist2 = org.create_unit(s, sysa, code=f"D2-{tag}", name="另一区", kind="district", parent_id=city.id)
        return {k: u.id for k, u in dict(city=city, district=dist, town=town, village=vill, dept=dept, district2=dist2).items()} | {
            "codes": {k: u.code for k, u in dict(city=city, district=dist, town=town, village=vill, dept=dept, district2=dist2).items()}}


@pytest.fixture
def make_user(database, tree):
    """make_user("learner", ("hr", "district")) -> Actor; scoped roles name a key of `tree`."""
    return _make_user_factory(tree)


@pytest.fixture(scope="module")
def make_user_module(database, tree):
    return _make_user_factory(tree)


def _make_user_factory(tree):
    def _make(*roles, unit: str = "village", password: str = "Passw0rd!x", must_change: bool = False):
        grants = []
        for r in roles or ("learner",):
            role, scope = (r if isinstance(r, tuple) else (r, None))
            grants.append(users.Grant(role=role, scope_unit_id=tree[scope] if scope else None))
        with session_scope() as s:
            u, _ = users.create_user(s, system_actor(), user_in=users.UserCreate(
                username=uid(), name="测试用户", unit_id=tree[unit], grants=grants, password=password))
            u.must_change_password = must_change
            s.add(u)
            s.commit()
            return load_actor(s, u.id)
    return _make
