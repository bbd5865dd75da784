"""HR numbers: every person counted (no silent cap), paged on screen and exported whole; required
courses done counted across years; targets per unit; the export's title and formats."""
import io
from datetime import datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert
from sqlmodel import select

from models import Course, CourseCompletion, RoleGrant, User
from models.db import LOCAL_TZ, local_year, session_scope, utcnow
from services import ledger, org, reports, settings
from services.errors import PermissionDenied
from services.permissions import system_actor
from tests.conftest import uid


def _bulk_learners(unit_id: int, n: int, tag: str) -> list[int]:
    """n learners in a unit, inserted in bulk (a password hash per person would take minutes)."""
    now = utcnow()
    with session_scope() as s:
        ids = [row[0] for row in s.execute(insert(User).returning(User.id), [
            {"username": f"{tag}{i:05d}", "name": f"学员{i}", "unit_id": unit_id, "password_hash": "x",
             "must_change_password": True, "locale": "zh-CN", "active": True, "failed_logins": 0, "created_at": now}
            for i in range(n)])]
        s.execute(insert(RoleGrant), [{"user_id": i, "role": "learner", "scope_unit_id": None} for i in ids])
    return ids


def _unit(parent_id: int, name: str = "统计单位") -> tuple[int, str]:
    with session_scope() as s:
        u = org.create_unit(s, system_actor(), code=uid("S"), name=name, parent_id=parent_id)
        return u.id, u.path


@pytest.fixture(scope="module")
def big_unit(tree):
    """5,100 learners under one new unit (more than the old silent 5,000 cap), some with hours."""
    unit_id, _ = _unit(tree["district"], "大单位")
    tag = uid("h")
    ids = _bulk_learners(unit_id, 5_100, tag)
    with session_scope() as s:
        for k, user_id in enumerate(ids[:300]):
            ledger.credit(s, user_id=user_id, hours=1 + (k % 40), source_type="import", source_id=f"bulk-{user_id}",
                          reason="导入")
    return {"unit_id": unit_id, "ids": ids, "tag": tag}


def test_the_drill_down_counts_and_returns_everyone(session, make_user, big_unit):
    hr = make_user(("hr", "district"), unit="district")
    unit_id = big_unit["unit_id"]
    assert reports.people_count(session, hr, unit_id=unit_id) == 5_100
    everyone = reports.people(session, hr, unit_id=unit_id)
    assert len(everyone) == 5_100 and set(everyone["user_id"]) == set(big_unit["ids"])
    assert list(everyone.columns) == reports.PEOPLE_COLUMNS
    # largest gap first, ties by username: a total order
    keys = list(zip(-everyone["gap"], everyone["username"]))
    assert keys == sorted(keys)
    by_unit = reports.hours_by_unit(session, hr)
    assert int(by_unit.loc[by_unit["unit_id"] == unit_id, "people"].iloc[0]) == 5_100


def test_pages_cover_everyone_once_with_the_true_total(session, make_user, big_unit):
    hr = make_user(("hr", "district"), unit="district")
    unit_id = big_unit["unit_id"]
    seen: list[str] = []
    page_no = 1
    while True:
        page = reports.people_page(session, hr, unit_id=unit_id, page=page_no, page_size=1_000)
        assert page.total == 5_100
        if page.rows.empty:
            break
        seen += list(page.rows["username"])
        page_no += 1
    assert page_no == 7 and len(seen) == len(set(seen)) == 5_100
    assert seen == list(reports.people(session, hr, unit_id=unit_id)["username"])


def test_the_export_holds_every_row_with_a_title_and_formats(session, make_user, big_unit):
    hr = make_user(("hr", "district"), unit="district")
    everyone = reports.people(session, hr, unit_id=big_unit["unit_id"])
    headers = {"username": "用户名", "name": "姓名", "unit": "单位", "hours": "学时合计", "target": "年度目标",
               "gap": "距目标差", "required_done": "已完成必修课"}
    data = reports.people_xlsx(everyone, headers, title_rows=["学时达标人员明细 · 大单位 · 2026 年", "导出时间：…"])
    ws = load_workbook(io.BytesIO(data)).active
    assert ws["A1"].value.startswith("学时达标人员明细") and ws["A1"].font.b
    assert [c.value for c in ws[4]] == list(headers.values()) and ws["A4"].font.b
    assert ws.freeze_panes == "A5"
    body = list(ws.iter_rows(min_row=5, values_only=True))
    assert len(body) == 5_100 and [r[0] for r in body] == list(everyone["username"])
    assert ws["D5"].number_format == "0.00" and ws.column_dimensions["C"].width >= 30


def test_required_courses_done_count_every_year_up_to_the_one_viewed(session, make_user, tree):
    hr = make_user(("hr", "district"), unit="district")
    learner = make_user("learner", unit="town")
    required = session.exec(select(Course.id).where(Course.required, Course.active).order_by(Course.id)).all()
    elective = session.exec(select(Course.id).where(~Course.required, Course.active)).first()
    assert len(required) >= 2 and elective
    year = local_year()
    last_year = datetime(year - 1, 6, 1, tzinfo=LOCAL_TZ)
    session.add(CourseCompletion(user_id=learner.id, course_id=required[0], completed_at=last_year))
    session.add(CourseCompletion(user_id=learner.id, course_id=required[1], completed_at=utcnow()))
    session.add(CourseCompletion(user_id=learner.id, course_id=elective, completed_at=utcnow()))
    session.commit()

    def done(y):
        df = reports.people(session, hr, year=y, unit_id=tree["town"])
        return int(df.loc[df["user_id"] == learner.id, "required_done"].iloc[0])
    assert done(year) == 2          # last year's course is still done this year
    assert done(year - 1) == 1      # looking at last year, this year's course was not done yet


def test_targets_per_unit_decide_gap_and_reached_in_sql(session, make_user, tree):
    admin = make_user("admin")
    low_id, _ = _unit(tree["district2"], "低目标单位")
    high_id, _ = _unit(tree["district2"], "默认目标单位")
    a, b = _bulk_learners(low_id, 1, uid("t"))[0], _bulk_learners(high_id, 1, uid("t"))[0]
    for user_id in (a, b):
        ledger.credit(session, user_id=user_id, hours=12, source_type="import", source_id=f"t-{user_id}", reason="导入")
    session.commit()
    settings.set_unit_target(session, admin, unit_id=low_id, hours=10)
    session.commit()
    df = reports.people(session, admin, unit_id=tree["district2"])
    row_a, row_b = (df[df["user_id"] == i].iloc[0] for i in (a, b))
    default = settings.default_target(session)
    assert (row_a["target"], row_a["gap"], bool(row_a["reached"])) == (10, 0, True)
    assert (row_b["target"], row_b["gap"], bool(row_b["reached"])) == (default, default - 12, False)
    below = reports.people(session, admin, unit_id=tree["district2"], below_target_only=True)
    assert b in set(below["user_id"]) and a not in set(below["user_id"])
    assert reports.people_count(session, admin, unit_id=tree["district2"], below_target_only=True) == len(below)
    units = reports.hours_by_unit(session, admin).set_index("unit_id")
    assert (units.loc[low_id, "reached"], units.loc[low_id, "target"]) == (1, 10)
    assert (units.loc[high_id, "reached"], units.loc[high_id, "target"]) == (0, default)


def test_only_this_years_hours_count(session, make_user, tree):
    hr = make_user(("hr", "district"), unit="district")
    learner = make_user("learner", unit="village")
    ledger.credit(session, user_id=learner.id, hours=7, source_type="import", source_id=uid("y"), reason="导入")
    session.commit()
    this = reports.people(session, hr, unit_id=tree["village"])
    last = reports.people(session, hr, year=local_year() - 1, unit_id=tree["village"])
    assert this.loc[this["user_id"] == learner.id, "hours"].iloc[0] == 7
    assert last.loc[last["user_id"] == learner.id, "hours"].iloc[0] == 0


def test_scope_names_and_refusals(session, make_user, tree):
    hr = make_user(("hr", "district"), unit="district")
    assert reports.scope_names(session, hr) == ["测试区"]
    assert reports.scope_names(session, make_user("admin")) is None
    with pytest.raises(PermissionDenied):
        reports.people_count(session, hr, unit_id=tree["district2"])
    with pytest.raises(PermissionDenied):
        reports.people_page(session, make_user("learner"))


def test_no_learners_in_scope_gives_empty_frames(session, make_user, tree):
    empty_id, _ = _unit(tree["district2"], "空单位")
    hr = make_user(("hr", "district2"), unit="district2")
    df = reports.people(session, hr, unit_id=empty_id)
    assert df.empty and list(df.columns) == reports.PEOPLE_COLUMNS
    assert reports.people_count(session, hr, unit_id=empty_id) == 0
