"""HR dashboard metrics on small hand-computed data: roll-up through the tree, an empty unit, a unit
with nobody active, a person who moved units (counted where they are now), the year boundary in
UTC+8, the course filters, exams ("—" without any), the previous period, and scope."""
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import insert
from sqlmodel import select

from models import Attempt, Course, CourseCompletion, LedgerEntry, Membership, RoleGrant, User
from models.db import session_scope
from services import org, settings
from services.analytics import dashboard as dash
from services.analytics.dashboard import Filters
from services.errors import PermissionDenied
from services.permissions import load_actor, system_actor
from tests.conftest import uid

Y = 2025


def _people(s, unit_id, n, tag):
    rows = [{"username": uid(tag), "name": f"{tag}{i}", "unit_id": unit_id, "password_hash": "x",
             "must_change_password": False, "locale": "zh-CN", "active": True, "failed_logins": 0,
             "created_at": datetime(2020, 1, 1, tzinfo=UTC)} for i in range(n)]
    ids = [r[0] for r in s.execute(insert(User).returning(User.id), rows)]
    s.execute(insert(RoleGrant), [{"user_id": i, "role": "learner", "scope_unit_id": None} for i in ids])
    return ids


def _hours(s, user_id, hours, year, when=None, course_id=None, tag=None):
    s.add(LedgerEntry(user_id=user_id, year=year, hours=hours, source_type="import", source_id=tag or uid("src"),
                      course_id=course_id, reason="测试", created_at=when or datetime(year, 6, 1, tzinfo=UTC)))


@pytest.fixture(scope="module")
def world(tree, make_user_module):
    """District D (target 40): town T1 (办公室, village V1), town T2 (办公室), empty unit E.
    V1: a 60 h (reached), b 20 h; T1 itself: c 0 h; T2: d 0 h, m 30 h (moved from V1 in the year);
    T2 · 办公室: nobody. Last year: a 10 h."""
    sysa = system_actor()
    with session_scope() as s:
        d = org.create_unit(s, sysa, code=uid("D"), name="看板区", kind="district", parent_id=tree["city"])
        t1 = org.create_unit(s, sysa, code=uid("T1"), name="一镇", kind="town", parent_id=d.id)
        t2 = org.create_unit(s, sysa, code=uid("T2"), name="二镇", kind="town", parent_id=d.id)
        e = org.create_unit(s, sysa, code=uid("E"), name="空单位", parent_id=d.id)
        v1 = org.create_unit(s, sysa, code=uid("V1"), name="一村", kind="village", parent_id=t1.id)
        o1 = org.create_unit(s, sysa, code=uid("O1"), name="办公室", parent_id=t1.id)
        o2 = org.create_unit(s, sysa, code=uid("O2"), name="办公室", parent_id=t2.id)
        other = org.create_unit(s, sysa, code=uid("X"), name="外区", kind="district", parent_id=tree["city"])
        settings.set_unit_target(s, sysa, unit_id=d.id, hours=40)
        u = {"d": d.id, "t1": t1.id, "t2": t2.id, "e": e.id, "v1": v1.id, "o1": o1.id, "o2": o2.id, "other": other.id}
        a, b = _people(s, v1.id, 2, "v")
        (c,) = _people(s, t1.id, 1, "t")
        dd, m = _people(s, t2.id, 2, "w")
        (x,) = _people(s, other.id, 1, "x")
        s.add(Membership(user_id=m, unit_id=v1.id, valid_from=datetime(2020, 1, 1, tzinfo=UTC),
                         valid_to=datetime(Y, 7, 1, tzinfo=UTC)))
        s.add(Membership(user_id=m, unit_id=t2.id, valid_from=datetime(Y, 7, 1, tzinfo=UTC)))
        req = s.exec(select(Course.id).where(Course.required, Course.active).order_by(Course.position)).all()
        ele = s.exec(select(Course.id).where(~Course.required, Course.active).order_by(Course.position)).all()
        _hours(s, a, 50, Y, course_id=req[0])
        _hours(s, a, 10, Y, course_id=ele[0])
        _hours(s, a, 10, Y - 1)
        _hours(s, b, 20, Y)
        _hours(s, m, 10, Y, when=datetime(Y, 3, 1, tzinfo=UTC))      # earned in V1
        _hours(s, m, 20, Y, when=datetime(Y, 9, 1, tzinfo=UTC))      # earned in T2
        _hours(s, x, 99, Y)
        s.add(CourseCompletion(user_id=a, course_id=req[0], completed_at=datetime(Y, 5, 1, tzinfo=UTC)))
        s.add(CourseCompletion(user_id=b, course_id=req[0], completed_at=datetime(Y - 1, 5, 1, tzinfo=UTC)))
        # 2026-01-01 00:30 in the city: not done by the end of 2025
        s.add(CourseCompletion(user_id=c, course_id=req[0], completed_at=datetime(Y, 12, 31, 16, 30, tzinfo=UTC)))
        people = {"a": a, "b": b, "c": c, "d": dd, "m": m, "x": x}
    with session_scope() as s:
        hr = make_user_module("learner", unit="district")
        s.add(RoleGrant(user_id=hr.id, role="hr", scope_unit_id=u["d"]))
        s.flush()
        hr_actor = load_actor(s, hr.id)
    return {"u": u, "p": people, "hr": hr_actor, "req": list(req), "ele": list(ele)}


def _board(s, world, **kw):
    board = dash.dashboard(s, world["hr"], Filters(year=Y, **kw))
    s.commit()          # the dashboard carries the roll-ups forward: end that unit of work
    return board


def test_kpis_roll_up_the_district(world, session):
    b = _board(session, world)
    k = b.kpis
    assert k["learners"].value == 5 and k["active"].value == 3             # a, b, m credited; c, d not
    assert k["avg_hours"].value == pytest.approx((60 + 20 + 30) / 5)
    assert k["target_share"].value == pytest.approx(1 / 5)                  # only a reaches 40
    n_courses = len(b.courses)
    assert k["completion"].value == pytest.approx(2 / (5 * n_courses))    # a this year, b last year; c too late
    assert k["exam_pass_rate"].value is None and k["exam_participation"].value is None
    # previous year: only a's 10 h
    assert k["learners"].previous == 5 and k["active"].previous == 1
    assert k["avg_hours"].previous == pytest.approx(2.0)
    assert k["avg_hours"].delta == pytest.approx(22 - 2)
    assert k["completion"].previous == pytest.approx(1 / (5 * n_courses))  # b's, done in Y-1


def test_unit_table_children_ranks_and_same_names(world, session):
    b = _board(session, world, unit_id=world["u"]["d"])
    rows = b.units.set_index("unit_id")
    u = world["u"]
    assert set(rows.index) == {u["t1"], u["t2"], u["e"]}                 # no own members in the district
    t1, t2, e = rows.loc[u["t1"]], rows.loc[u["t2"]], rows.loc[u["e"]]
    assert (t1.people, t1.active, t1.reached) == (3, 2, 1)               # a, b (village) + c (town itself)
    assert t1.avg_hours == pytest.approx(80 / 3, abs=0.005) and t1.target_share == pytest.approx(1 / 3)
    assert (t2.people, t2.active, t2.avg_hours) == (2, 1, 15)            # the mover counts here, all 30 h
    assert e.people == 0 and e.avg_hours is None or pd_isna(e.avg_hours)
    assert list(b.units["unit_id"])[0] == u["e"]                         # most behind (no figures) first
    assert t1["rank"] == 1 and t2["rank"] == 2
    assert t1.has_children and not e.has_children
    # drill into town 1: its units, with the same-named 办公室 labelled by its parent, and the town's own member
    b1 = _board(session, world, unit_id=u["t1"])
    r1 = b1.units.set_index("unit_id")
    assert r1.loc[u["o1"]].label == "一镇 · 办公室" and r1.loc[u["o1"]].people == 0
    assert r1.loc[u["v1"]].people == 2
    own = b1.units[b1.units["own"]]
    assert list(own["unit_id"]) == [u["t1"]] and int(own["people"].iloc[0]) == 1
    assert _board(session, world, unit_id=u["t2"]).units.set_index("unit_id").loc[u["o2"]].label == "二镇 · 办公室"


def pd_isna(v):
    import pandas as pd
    return pd.isna(v)


def test_unit_with_nobody_active_and_an_empty_unit(world, session):
    u = world["u"]
    t2 = dash.dashboard(session, world["hr"], Filters(year=Y - 1, unit_id=u["t2"]))
    assert t2.kpis["learners"].value == 2 and t2.kpis["active"].value == 0
    assert t2.kpis["avg_hours"].value == 0 and t2.kpis["target_share"].value == 0
    e = _board(session, world, unit_id=u["e"])
    assert e.kpis["learners"].value == 0 and e.kpis["avg_hours"].value is None and e.units.empty
    assert int(e.distribution["people"].sum()) == 0


def test_distribution_against_the_target(world, session):
    dist = _board(session, world, unit_id=world["u"]["d"]).distribution.set_index("bin")["people"]
    # target 40: c, d 0 % -> first bin; b 20 h = 50 %; m 30 h = 75 %; a 60 h >= 100 %
    assert dist["0–10%"] == 2 and dist["50–60%"] == 1 and dist["70–80%"] == 1 and dist["≥100%"] == 1
    assert int(dist.sum()) == 5


def test_course_filters(world, session):
    req_only = _board(session, world, required=True)
    assert req_only.kpis["avg_hours"].value == pytest.approx(50 / 5)     # only a's required-course 50 h
    assert req_only.kpis["active"].value == 1
    one = _board(session, world, course_id=world["ele"][0])
    assert one.kpis["avg_hours"].value == pytest.approx(10 / 5) and one.courses == [world["ele"][0]]
    assert one.kpis["completion"].value == 0
    heat = _board(session, world, unit_id=world["u"]["d"]).heatmap
    cell = heat[(heat.unit_id == world["u"]["t1"]) & (heat.course_id == world["req"][0])].iloc[0]
    assert (cell.done, cell.people) == (2, 3)
    assert set(heat.course_id) <= set(world["req"])


def test_year_boundary_in_the_city_clock(world, session):
    """A date range is in local dates: 2025-01-01 00:30 in the city (2024-12-31 16:30 UTC) is inside
    2025, 2026-01-01 00:10 local (2025-12-31 16:10 UTC) is not."""
    with session_scope() as s:
        (p,) = _people(s, world["u"]["e"], 1, "b")
        _hours(s, p, 3, Y, when=datetime(Y - 1, 12, 31, 16, 30, tzinfo=UTC))
        _hours(s, p, 5, Y + 1, when=datetime(Y, 12, 31, 16, 10, tzinfo=UTC))
    try:
        b = dash.dashboard(session, world["hr"], Filters(unit_id=world["u"]["e"], start=date(Y, 1, 1),
                                                         end=date(Y, 12, 31)))
        assert b.kpis["avg_hours"].value == 3
        jan = dash.dashboard(session, world["hr"], Filters(unit_id=world["u"]["e"], start=date(Y + 1, 1, 1),
                                                           end=date(Y + 1, 1, 31)))
        assert jan.kpis["avg_hours"].value == 5
        assert jan.filters.previous().start == date(Y, 12, 1) and jan.filters.previous().end == date(Y, 12, 31)
        assert jan.kpis["avg_hours"].previous == 0
        weeks = dash.dashboard(session, world["hr"], Filters(unit_id=world["u"]["e"], year=Y)).trend
        assert list(weeks["week"]) == ["2024-12-30"] and list(weeks["hours"]) == [3]   # Monday of 2025-01-01's week
        live = dash.dashboard(session, world["hr"], Filters(unit_id=world["u"]["e"], start=date(Y, 1, 1),
                                                            end=date(Y, 12, 31))).trend
        assert live.equals(weeks)                                           # the roll-up and the ledger agree
    finally:
        session.commit()
        # the ledger is append-only (the roll-ups rely on it): the person leaves instead
        with session_scope() as s:
            s.get(User, p).active = False


def test_exam_kpis_from_exam_attempts(world, session):
    p = world["p"]
    with session_scope() as s:
        for user, score, passed in ((p["a"], 90, True), (p["a"], 50, False), (p["b"], 70, True)):
            s.add(Attempt(user_id=user, kind="exam", status="submitted", score=score, max_score=100, passed=passed,
                          started_at=datetime(Y, 4, 1, tzinfo=UTC), submitted_at=datetime(Y, 4, 1, 1, tzinfo=UTC)))
        s.add(Attempt(user_id=p["c"], kind="quiz", status="submitted", score=10, max_score=100, passed=False,
                      started_at=datetime(Y, 4, 1, tzinfo=UTC), submitted_at=datetime(Y, 4, 1, 1, tzinfo=UTC)))
    board = _board(session, world)
    k = board.kpis
    assert k["exam_participation"].value == pytest.approx(2 / 5)
    assert k["exam_pass_rate"].value == pytest.approx(2 / 3)
    assert k["exam_avg_score"].value == pytest.approx(70)
    assert k["exam_pass_rate"].previous is None                          # no exams last year: "—"
    # pass rate by exam: the three exam attempts (no exam of the exam module: one row), not the quiz
    (row,) = board.exams.to_dict("records")
    assert (row["attempts"], row["people"], row["passed"]) == (3, 2, 2)
    assert row["pass_rate"] == pytest.approx(2 / 3) and row["avg_score"] == pytest.approx(70)
    # the year boundary in the city clock: submitted 2026-01-01 00:30 local (2025-12-31 16:30 UTC) is 2026's
    with session_scope() as s:
        s.add(Attempt(user_id=p["d"], kind="exam", status="submitted", score=100, max_score=100, passed=True,
                      started_at=datetime(Y, 12, 31, 16, tzinfo=UTC), submitted_at=datetime(Y, 12, 31, 16, 30, tzinfo=UTC)))
    board = _board(session, world)
    assert board.kpis["exam_pass_rate"].value == pytest.approx(2 / 3) and board.exams["attempts"].tolist() == [3]
    nxt = dash.dashboard(session, world["hr"], Filters(year=Y + 1))
    session.commit()
    assert nxt.kpis["exam_pass_rate"].value == 1 and nxt.kpis["exam_participation"].value == pytest.approx(1 / 5)
    assert nxt.kpis["exam_pass_rate"].previous == pytest.approx(2 / 3)    # the previous period is Y
    assert nxt.exams["attempts"].tolist() == [1]


def test_scope_other_district_and_person_record(world, session):
    u, p = world["u"], world["p"]
    with pytest.raises(PermissionDenied):
        dash.dashboard(session, world["hr"], Filters(year=Y, unit_id=u["other"]))
    with pytest.raises(PermissionDenied):
        dash.person_record(session, world["hr"], user_id=p["x"], year=Y)
    whole = _board(session, world)
    assert whole.kpis["learners"].value == 5                             # x (99 h, other district) not counted
    rec = dash.person_record(session, world["hr"], user_id=p["m"], year=Y)
    assert rec.total == 30 and rec.target == 40 and rec.path.endswith("看板区 / 二镇")
    assert dict(zip(rec.by_source.source_type, rec.by_source.hours)) == {"import": 30}
    crumbs = dash.breadcrumbs(dash.resolve_scope(session, world["hr"], u["v1"]), world["hr"])
    assert [n for _, n, _ in crumbs][-3:] == ["看板区", "一镇", "一村"]
    assert [ok for _, _, ok in crumbs][-3:] == [True, True, True] and crumbs[0][2] is False   # the city: not theirs


def test_rollups_add_each_ledger_row_once(world, session):
    with session_scope() as s:
        dash.refresh_rollups(s)
    with session_scope() as s:
        _hours(s, world["p"]["b"], 2.5, Y)
    with session_scope() as s:
        assert dash.refresh_rollups(s) == 1
        assert dash.refresh_rollups(s) == 0                                 # nothing twice
    b = _board(session, world, unit_id=world["u"]["v1"])
    live = dash.dashboard(session, world["hr"], Filters(unit_id=world["u"]["v1"], start=date(Y, 1, 1),
                                                        end=date(Y, 12, 31)))
    assert b.kpis["avg_hours"].value == live.kpis["avg_hours"].value == pytest.approx((60 + 22.5) / 2)


def test_data_version_changes_with_results(world, session):
    before = dash.data_version(session)
    session.commit()
    with session_scope() as s:
        _hours(s, world["p"]["d"], 1, Y - 5)
    with session_scope() as s:
        assert dash.data_version(s) != before


def test_weekly_trend_follows_a_person_who_moved(world, session):
    """The trend counts like the KPIs: hours go with the person to their current unit, also after
    the week roll-up has attributed them to the old one."""
    u = world["u"]
    with session_scope() as s:
        (p,) = _people(s, u["e"], 1, "mv")
        _hours(s, p, 4, Y, when=datetime(Y, 3, 5, 2, tzinfo=UTC))           # Wednesday; its Monday is 03-03
    with session_scope() as s:
        dash.refresh_rollups(s)                                             # the week roll-up: unit E
        s.get(User, p).unit_id = u["o2"]                                     # then the person moves
    try:
        old = dash.dashboard(session, world["hr"], Filters(year=Y, unit_id=u["e"]))
        new = dash.dashboard(session, world["hr"], Filters(year=Y, unit_id=u["o2"]))
        session.commit()
        assert old.trend.empty and old.kpis["learners"].value == 0
        assert list(new.trend["week"]) == [f"{Y}-03-03"] and list(new.trend["hours"]) == [4]
        assert new.kpis["avg_hours"].value == 4
    finally:
        with session_scope() as s:
            s.get(User, p).active = False


def test_exam_module_attempts_follow_their_exams_course(world, session):
    """An attempt of an exam of the exam module leaves course_id NULL: the course filter finds it through
    the exam's course, and pass rate by exam names the exam."""
    from models import Exam
    p, ele = world["p"], world["ele"]
    with session_scope() as s:
        exam = Exam(title="看板结业考试", course_id=ele[0], status="published")
        s.add(exam)
        s.flush()
        for user, score, passed in ((p["b"], 80, True), (p["m"], 40, False)):
            s.add(Attempt(user_id=user, kind="exam", exam_id=exam.id, status="submitted", score=score, max_score=100,
                          passed=passed, started_at=datetime(Y, 8, 1, tzinfo=UTC),
                          submitted_at=datetime(Y, 8, 1, 1, tzinfo=UTC)))
        exam_id = exam.id
    one = _board(session, world, course_id=ele[0])
    assert one.kpis["exam_pass_rate"].value == pytest.approx(1 / 2)
    assert one.kpis["exam_participation"].value == pytest.approx(2 / 5)
    (row,) = one.exams.to_dict("records")
    assert (row["exam_id"], row["exam"], row["attempts"], row["passed"]) == (exam_id, "看板结业考试", 2, 1)
    other = _board(session, world, course_id=world["req"][0])
    assert other.exams.empty and other.kpis["exam_pass_rate"].value is None
