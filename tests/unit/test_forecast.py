"""Early warning on hand-computed data: the pace projection (hours ÷ elapsed share of the city year),
the minimum history, required courses not done, units by share at risk, and scope."""
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from models import Course, CourseCompletion, RoleGrant
from models.db import LOCAL_TZ, session_scope
from services import org, settings
from services.analytics import forecast
from services.errors import PermissionDenied
from services.permissions import load_actor, system_actor
from tests.conftest import uid
from tests.unit.test_dashboard import _hours, _people

Y = 2024          # a leap year: 366 days
MID = datetime(Y, 7, 2, tzinfo=LOCAL_TZ)     # 183 of 366 days gone: exactly half


@pytest.fixture(scope="module")
def world(tree, make_user_module):
    """District W (target 40), towns A and B. A: p 25 h (projected 50: on track), q 15 h (projected 30:
    at risk). B: r 20 h (projected 40: on track, exactly), s 0 h. p has every required course done."""
    sysa = system_actor()
    hr = make_user_module("learner", unit="district")
    with session_scope() as s:
        w = org.create_unit(s, sysa, code=uid("W"), name="预警区", kind="district", parent_id=tree["city"])
        a = org.create_unit(s, sysa, code=uid("A"), name="甲镇", kind="town", parent_id=w.id)
        b = org.create_unit(s, sysa, code=uid("B"), name="乙镇", kind="town", parent_id=w.id)
        settings.set_unit_target(s, sysa, unit_id=w.id, hours=40)
        p, q = _people(s, a.id, 2, "fa")
        r, s_ = _people(s, b.id, 2, "fb")
        for who, h in ((p, 25), (q, 15), (r, 20)):
            _hours(s, who, h, Y, when=datetime(Y, 3, 1, tzinfo=UTC))
        required = s.exec(select(Course.id).where(Course.required, Course.active)).all()
        for c in required:
            s.add(CourseCompletion(user_id=p, course_id=c, completed_at=datetime(Y, 2, 1, tzinfo=UTC)))
        s.add(CourseCompletion(user_id=r, course_id=required[0], completed_at=datetime(Y, 2, 1, tzinfo=UTC)))
        s.add(RoleGrant(user_id=hr.id, role="hr", scope_unit_id=w.id))
        s.flush()
        actor = load_actor(s, hr.id)
        ids = {"w": w.id, "a": a.id, "b": b.id}
    return {"ids": ids, "p": p, "q": q, "r": r, "s": s_, "hr": actor, "n_required": len(required)}


def test_elapsed_share_and_minimum_history():
    assert forecast.elapsed_share(Y, MID) == pytest.approx(0.5)
    assert forecast.elapsed_share(Y, datetime(Y - 1, 12, 31, 16, 0, tzinfo=UTC)) == 0   # local midnight: 0
    assert forecast.elapsed_share(Y, datetime(Y + 2, 1, 1, tzinfo=UTC)) == 1
    assert not forecast.enough_history(Y, datetime(Y, 1, 20, tzinfo=LOCAL_TZ))
    assert forecast.enough_history(Y, datetime(Y, 2, 1, tzinfo=LOCAL_TZ))


def test_people_at_risk_and_required_missing(world, session):
    w = forecast.early_warning(session, world["hr"], unit_id=world["ids"]["w"], year=Y, now=MID)
    people = w.people.set_index("user_id")
    n = world["n_required"]
    assert w.forecast and w.share == pytest.approx(0.5)
    assert world["p"] not in people.index                       # on track, everything done
    q = people.loc[world["q"]]
    assert (q.hours, q.projected, q.shortfall, q.required_missing, q.at_risk) == (15, 30, 10, n, True)
    r = people.loc[world["r"]]
    assert (r.projected, r.at_risk, r.required_missing) == (40, False, n - 1)   # listed for its open courses
    s_ = people.loc[world["s"]]
    assert (s_.projected, s_.shortfall, s_.at_risk) == (0, 40, True)
    assert list(w.people["user_id"])[:2] == [world["s"], world["q"]] and w.total == 3
    units = w.units.set_index("unit_id")
    assert units.loc[world["ids"]["a"]].at_risk == 1 and units.loc[world["ids"]["b"]].share_at_risk == 0.5
    assert units.loc[world["ids"]["a"]].projected_avg == 40
    assert sorted(forecast.warning_user_ids(session, world["hr"], unit_id=world["ids"]["w"], year=Y, now=MID)) == \
        sorted([world["q"], world["r"], world["s"]])


def test_too_early_lists_only_required_courses(world, session):
    w = forecast.early_warning(session, world["hr"], unit_id=world["ids"]["w"], year=Y,
                               now=datetime(Y, 1, 10, tzinfo=LOCAL_TZ))
    assert not w.forecast and not w.people["at_risk"].any()
    assert set(w.people["user_id"]) == {world["q"], world["r"], world["s"]}   # all with required courses open


def test_a_closed_year_uses_the_final_total(world, session):
    w = forecast.early_warning(session, world["hr"], unit_id=world["ids"]["w"], year=Y, now=datetime(Y + 1, 3, 1, tzinfo=UTC))
    people = w.people.set_index("user_id")
    assert people.loc[world["r"]].at_risk and people.loc[world["r"]].projected == 20


def test_scope(world, session, tree):
    with pytest.raises(PermissionDenied):
        forecast.early_warning(session, world["hr"], unit_id=tree["district2"], year=Y, now=MID)
    whole = forecast.early_warning(session, world["hr"], year=Y, now=MID, limit=None)
    assert set(whole.people["user_id"]) == {world["q"], world["r"], world["s"]}
