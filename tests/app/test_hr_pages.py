"""The HR pages with data: the dashboard (KPIs, unit table, drill-down, each filter, a person's record),
people paged with the true total, the exports built only when clicked (filters on the first sheet,
one sheet per table, CSV), scope, the early-warning page and its reminder reaching the learner's home."""
import os
import io
from datetime import datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert
from sqlmodel import select
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from config import ROOT
from models import Course, CourseCompletion, RoleGrant, User
from models.db import LOCAL_TZ, local_year, session_scope, utcnow
from services import ledger, org
from services.analytics import dashboard as dash
from services.permissions import system_actor
from tests.conftest import uid

N_PEOPLE = 130          # more than one screen (100 a page)

# Old data from before the input checks may hold a NUL (SQLite stored it); PostgreSQL never could.
NUL_NAME = "张三（旧）" if os.environ.get("TEST_DATABASE_URL") else "张\x00三"


@pytest.fixture(scope="module")
def hr_world(make_user_module, tree):
    """A district of its own: two units, 130 learners with hours, one with two required courses
    done, names that look like formulas and one with a NUL (old data, from before the input checks),
    and an HR officer scoped to that district only."""
    with session_scope() as s:
        sysa = system_actor()
        district = org.create_unit(s, sysa, code=uid("HD"), name="统计区", kind="district", parent_id=tree["city"])
        office = org.create_unit(s, sysa, code=uid("HO"), name="统计办公室", parent_id=district.id)
        station = org.create_unit(s, sysa, code=uid("HS"), name="=HYPERLINK(\"x\",\"站\")", kind="station",
                                  parent_id=district.id)
        ids = {"district": district.id, "office": office.id, "station": station.id}
    tag = uid("p")
    now = utcnow()
    with session_scope() as s:
        rows = [{"username": f"{tag}{i:03d}", "name": {20: "=1+1", 21: NUL_NAME}.get(i, f"学员{i:03d}"),
                 "unit_id": ids["office"] if i % 2 else ids["station"], "password_hash": "x",
                 "must_change_password": False, "locale": "zh-CN", "active": True, "failed_logins": 0,
                 "created_at": now} for i in range(N_PEOPLE)]
        people = [r[0] for r in s.execute(insert(User).returning(User.id), rows)]
        s.execute(insert(RoleGrant), [{"user_id": i, "role": "learner", "scope_unit_id": None} for i in people])
        for k, user_id in enumerate(people[:10]):
            ledger.credit(s, user_id=user_id, hours=60 if k < 3 else 5 * k, source_type="import",
                          source_id=f"hr-{user_id}", reason="导入")
        required = s.exec(select(Course.id).where(Course.required, Course.active).order_by(Course.id)).all()[:2]
        last_year = datetime(local_year() - 1, 5, 1, tzinfo=LOCAL_TZ)
        s.add(CourseCompletion(user_id=people[5], course_id=required[0], completed_at=last_year))
        s.add(CourseCompletion(user_id=people[5], course_id=required[1], completed_at=now))
    with session_scope() as s:
        g = RoleGrant(user_id=make_user_module("learner", unit="district").id, role="hr", scope_unit_id=ids["district"])
        s.add(g)
        s.flush()
        hr_id = g.user_id
    return {"ids": ids, "people": people, "tag": tag, "hr": hr_id}


@pytest.fixture
def downloads(monkeypatch):
    """What the page hands to Streamlit's media manager for download buttons: static bytes and the
    callables Streamlit runs when a deferred button is clicked (the real manager still runs)."""
    seen = {"static": [], "deferred": []}
    add, add_deferred = MediaFileManager.add, MediaFileManager.add_deferred

    def spy_add(self, path_or_data, mimetype, coordinates, file_name=None, is_for_static_download=False):
        if is_for_static_download:                 # a download button's bytes (not images and icons)
            seen["static"].append((file_name, path_or_data))
        return add(self, path_or_data, mimetype, coordinates, file_name, is_for_static_download)

    def spy_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kw):
        seen["deferred"].append((file_name, data_callable))
        return add_deferred(self, data_callable, mimetype, coordinates, file_name, **kw)
    monkeypatch.setattr(MediaFileManager, "add", spy_add)
    monkeypatch.setattr(MediaFileManager, "add_deferred", spy_deferred)
    return seen


def _hr_page(user_id: int) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["user_id"] = user_id
    at.run()
    at.switch_page("pages/hr/overview.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def _hr_page(user_id: int, page: str = "pages/hr/overview.py", **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["user_id"] = user_id
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def _captions(at):
    return " ".join(c.value for c in at.caption)


def _people_table(at):
    return next(d.value for d in at.dataframe if "用户名" in d.value.columns or "Username" in d.value.columns)


def test_dashboard_shows_kpis_units_and_people(hr_world, downloads, monkeypatch):
    built = []
    real = dash.dashboard_xlsx
    monkeypatch.setattr(dash, "dashboard_xlsx", lambda *a, **kw: built.append(1) or real(*a, **kw))
    at = _hr_page(hr_world["hr"])
    assert _metric(at, "学员人数") == str(N_PEOPLE)
    assert _metric(at, "达标率") == f"{100 * 3 / N_PEOPLE:.1f}%"
    assert _metric(at, "活跃学员") == "10"
    assert _metric(at, "考试通过率") == "—"                     # no exams yet
    learners = next(m for m in at.metric if m.label == "学员人数")     # the same people as last year: no change
    assert learners.delta == "±0" and learners.proto.color == learners.proto.GRAY and learners.proto.direction == learners.proto.NONE, learners.delta
    by_unit = at.dataframe[0].value
    # one district in scope: its units are what the table compares, straight away
    assert set(by_unit["单位"]) == {"统计办公室", "=HYPERLINK(\"x\",\"站\")"}   # unique names: no parent
    assert int(by_unit["学员人数"].sum()) == N_PEOPLE

    # people: below target only (default) -> 127, first page of 100, the true total in the caption
    assert "共 127 人" in _captions(at) and "第 1–100 人（第 1/2 页）" in _captions(at)
    people = _people_table(at)
    assert len(people) == 100 and set(people["学时合计"]) == {0} and set(people["距目标差"]) == {50}
    assert "=1+1" in set(people["姓名"]) and NUL_NAME in set(people["姓名"])   # shown as text

    # the exports are callables: nothing was built while drawing the page
    assert built == [] and downloads["static"] == []
    files = dict(downloads["deferred"])
    year = local_year()
    xlsx = files[f"学时统计-统计区-{year}.xlsx"]
    wb = load_workbook(io.BytesIO(xlsx()))
    assert built == [1]
    assert wb.sheetnames == ["筛选条件", "单位", "人员", "必修课完成", "学时分布", "每周趋势", "考试通过率"]
    filters = {r[0]: r[1] for r in wb["筛选条件"].iter_rows(min_row=3, values_only=True) if r[0]}
    assert filters["管理范围"] == "统计区" and filters["统计期间"] == str(year) and filters["人员明细"] == "只看未达标"
    ws = wb["人员"]
    assert [c.value for c in ws[3]][:3] == ["用户名", "姓名", "单位"]
    body = list(ws.iter_rows(min_row=4, values_only=True))
    assert len(body) == 127 and {"=1+1", NUL_NAME.replace("\x00", "\ufffd")} <= {r[1] for r in body}   # XML cannot hold a NUL
    row = next(r for r in body if r[1] == "学员005")
    assert (row[3], row[6]) == (25, 2)          # 25 学时; a required course done last year still counts
    assert all(c.data_type != "f" for sheet in wb for row in sheet.iter_rows() for c in row)
    units_csv = files[f"学时统计-单位-统计区-{year}.csv"]().decode("utf-8-sig")
    assert "统计办公室" in units_csv and units_csv.count("\r\n") == 3
    people_csv = files[f"学时统计-人员-统计区-{year}.csv"]().decode("utf-8-sig")
    assert people_csv.count("\r\n") == 128 and "'=1+1" in people_csv
    # every other table as CSV too: the heat map, the distribution, the trend, exams (header only: none yet)
    dist_csv = files[f"学时统计-学时分布-统计区-{year}.csv"]().decode("utf-8-sig").splitlines()
    assert dist_csv[0] == "已完成年度目标的比例,学员人数" and len(dist_csv) == 12 and dist_csv[-1] == "≥100%,3"
    heat_csv = files[f"学时统计-必修课完成-统计区-{year}.csv"]().decode("utf-8-sig").splitlines()
    assert heat_csv[0].startswith("单位,课程,") and len(heat_csv) > 1
    assert files[f"学时统计-每周趋势-统计区-{year}.csv"]().decode("utf-8-sig").startswith("周,")
    assert len(files[f"学时统计-考试通过率-统计区-{year}.csv"]().decode("utf-8-sig").splitlines()) == 1


def test_drill_down_to_a_unit_and_back_up(hr_world, downloads):
    at = _hr_page(hr_world["hr"])
    at.selectbox(key="hr_unit").select(hr_world["ids"]["district"])
    at.run()
    assert not at.exception
    units = at.dataframe[0].value
    assert set(units["单位"]) == {"统计办公室", "=HYPERLINK(\"x\",\"站\")"}
    assert set(units["同级排名"]) == {1, 2} and int(units["学员人数"].sum()) == N_PEOPLE
    # the path is shown: the district's button (current, disabled) and the way back up
    crumbs = {b.label: b for b in at.button if b.key and b.key.startswith("hr_crumb_")}
    assert crumbs["统计区"].disabled and not crumbs["管理范围内全部单位"].disabled
    assert "测试市" not in crumbs                                   # above the HR scope: not offered
    at.selectbox(key="hr_unit").select(hr_world["ids"]["office"])
    at.run()
    assert _metric(at, "学员人数") == str(N_PEOPLE // 2)
    assert list(at.dataframe[0].value["单位"]) == ["统计办公室（本级）"]       # its own people, no sub-units
    assert "统计区 / 统计办公室" in " ".join(s.value for s in at.subheader)
    at.button(key=f"hr_crumb_{hr_world['ids']['district']}").click()
    at.run()
    assert at.selectbox(key="hr_unit").value == hr_world["ids"]["district"]
    at.button(key="hr_crumb_top").click()
    at.run()
    assert at.selectbox(key="hr_unit").value is None and _metric(at, "学员人数") == str(N_PEOPLE)


def test_every_filter(hr_world):
    at = _hr_page(hr_world["hr"])
    at.selectbox(key="hr_year").select(local_year() - 1)
    at.run()
    assert _metric(at, "人均学时") == "0.0" and _metric(at, "活跃学员") == "0"
    at.selectbox(key="hr_year").select(local_year())
    at.selectbox(key="hr_kind").select("required")
    at.run()
    assert not at.exception and _metric(at, "活跃学员") == "0"        # imported hours have no course
    at.selectbox(key="hr_kind").select("all")
    with session_scope() as s:
        course = next(iter(dash.course_choices(s)))
    at.selectbox(key="hr_course").select(course)
    at.run()
    assert not at.exception and _metric(at, "人均学时") == "0.0"
    at.selectbox(key="hr_course").select(None)
    at.radio(key="hr_mode").set_value("range")
    at.run()
    today = datetime.now(LOCAL_TZ).date()
    at.date_input(key="hr_range").set_value((today.replace(month=1, day=1), today))
    at.run()
    assert not at.exception and _metric(at, "活跃学员") == "10"
    assert f"{today.year - 1}-" in _captions(at)                     # compared with the range just before


def test_paging_and_the_unit_in_the_file_name(hr_world, downloads):
    at = _hr_page(hr_world["hr"])
    at.checkbox(key="hr_people_below").uncheck()
    at.run()
    assert "共 130 人" in _captions(at)
    year = local_year()
    page = at.number_input(key=f"hr_people_page_{year}_None_False")
    assert page.max == 2
    page.set_value(2)
    at.run()
    assert not at.exception
    assert len(_people_table(at)) == N_PEOPLE - 100
    assert "第 101–130 人（第 2/2 页）" in _captions(at)
    at.selectbox(key="hr_unit").select(hr_world["ids"]["office"])
    at.run()
    assert len(_people_table(at)) == N_PEOPLE // 2            # a new filter starts again at page 1
    files = dict(downloads["deferred"])
    wb = load_workbook(io.BytesIO(files[f"学时统计-统计区_统计办公室-{year}.xlsx"]()))
    assert wb["人员"]["A1"].value == f"学时达标人员明细 · 统计区 / 统计办公室 · {year} 年"
    assert sum(1 for _ in wb["人员"].iter_rows(min_row=4)) == N_PEOPLE // 2


def test_a_person_record_and_scope(hr_world, make_user_module, downloads):
    person = hr_world["people"][5]
    at = _hr_page(hr_world["hr"], hr_person=person)
    assert "培训档案：学员005" in " ".join(s.value for s in at.subheader)
    assert _metric(at, "已完成必修课") == "2"
    # the person's training record as PDF and Excel, built when clicked (services.record)
    files = dict(downloads["deferred"])
    pdf = files[f"培训档案-学员005-{local_year()}.pdf"]()
    assert pdf.startswith(b"%PDF")
    wb = load_workbook(io.BytesIO(files[f"培训档案-学员005-{local_year()}.xlsx"]()))
    assert any("学员005" in str(c.value) for row in wb.worksheets[0].iter_rows() for c in row if c.value)
    outsider = make_user_module("learner", unit="district2")
    at = _hr_page(hr_world["hr"], hr_person=outsider.id)
    assert "该对象不在您的管理范围内。" in " ".join(e.value for e in at.error)
    # another district's HR sees none of these people, in the page and in the exports
    with session_scope() as s:
        other = make_user_module("learner", unit="district2")
        s.add(RoleGrant(user_id=other.id, role="hr", scope_unit_id=_tree_id(s, "district2")))
    at = _hr_page(other.id)
    opts = at.selectbox(key="hr_unit").options
    assert not any("统计" in o for o in opts)
    assert int(_metric(at, "学员人数")) < N_PEOPLE


def _tree_id(s, key):
    from models import OrgUnit
    return s.exec(select(OrgUnit.id).where(OrgUnit.name == "另一区")).first()


def test_in_english(hr_world):
    at = _hr_page(hr_world["hr"], locale="en")
    assert at.title[0].value == "Study-hour compliance"
    assert "127 people" in _captions(at)


def test_survives_fewer_pages_than_the_one_chosen(hr_world):
    """Page 2 of those below target; then 30 of them reach it (one page left): the page shows page 1."""
    at = _hr_page(hr_world["hr"])
    at.number_input(key=f"hr_people_page_{local_year()}_None_True").set_value(2)
    at.run()
    assert "第 101–127 人（第 2/2 页）" in _captions(at)
    with session_scope() as s:
        for user_id in hr_world["people"][40:70]:
            ledger.credit(s, user_id=user_id, hours=60, source_type="import", source_id=f"hr-more-{user_id}",
                          reason="导入")
    at.run()
    assert not at.exception
    assert "共 97 人" in _captions(at) and len(_people_table(at)) == 97
    assert _metric(at, "达标率") == f"{100 * 33 / N_PEOPLE:.1f}%"   # the cache saw the new results


def test_warning_page_reminds_and_the_learner_sees_it(hr_world, downloads):
    at = _hr_page(hr_world["hr"], "pages/hr/warning.py")
    on_list = int(_metric(at, "预警人数"))
    assert on_list >= 90
    people = at.dataframe[1].value
    assert "预计年底学时" in people.columns and len(people) == min(on_list, 200)
    files = dict(downloads["deferred"])
    ws = load_workbook(io.BytesIO(files[f"学时预警-管理范围内全部单位-{local_year()}.xlsx"]()))["预警人员"]
    assert sum(1 for _ in ws.iter_rows(min_row=4)) == on_list
    at.text_area(key="warn_text").input("请尽快完成学时。=1+1")
    at.button[[b.label for b in at.button].index(f"提醒名单上的全部 {on_list} 人")].click()
    at.run()
    assert not at.exception
    assert f"已向 {on_list} 人发送提醒" in " ".join(s.value for s in at.success)
    learner = hr_world["people"][100]               # 0 hours: on the list
    home = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    home.session_state["user_id"] = learner
    home.run()
    assert not home.exception
    assert any("请尽快完成学时。=1+1" == x.value for x in home.text)
    assert any(c.value.startswith("来自 ") and "的通知" in c.value for c in home.caption)
    read = [b for b in home.button if b.key and b.key.startswith("home_notice_read_")]
    read[0].click()
    home.run()
    assert not any("请尽快完成学时。=1+1" == x.value for x in home.text)
    # someone outside the HR scope got nothing
    from services import notices
    from services.permissions import load_actor
    with session_scope() as s:
        outsider = s.exec(select(User.id).where(User.unit_id != hr_world["ids"]["office"],
                                                User.unit_id != hr_world["ids"]["station"])).first()
        assert all("请尽快完成学时" not in n.text for n in notices.my_notices(s, load_actor(s, outsider)))


def test_warning_page_filters(hr_world):
    """Each filter of the early-warning page: the unit narrows the list to its people, a past year is
    closed (the final totals), the page number pages through."""
    at = _hr_page(hr_world["hr"], "pages/hr/warning.py")
    everyone = int(_metric(at, "预警人数"))
    at.selectbox(key="warn_unit").select(hr_world["ids"]["office"])
    at.run()
    assert not at.exception
    office = int(_metric(at, "预警人数"))
    assert 0 < office < everyone and office <= N_PEOPLE // 2
    assert set(at.dataframe[-1].value["单位"]) == {"统计区 / 统计办公室"}
    at.selectbox(key="warn_year").select(local_year() - 1)
    at.run()
    assert not at.exception and _metric(at, "本年已过") == "100%"          # a closed year
    assert int(_metric(at, "预警人数")) == N_PEOPLE // 2                  # nobody had hours then


def test_open_a_person_from_the_picker_and_close_the_record(hr_world):
    at = _hr_page(hr_world["hr"])
    person = hr_world["people"][11]            # 0 h: on the first page of those below target
    at.selectbox(key=f"hr_person_pick_{local_year()}_None_True_1").select(person)
    at.run()
    assert not at.exception
    assert any(s.value.startswith("培训档案：学员011") for s in at.subheader)
    at.button(key="hr_person_close").click()
    at.run()
    at.run()                                   # and it stays closed on the next rerun
    assert not any(s.value.startswith("培训档案：") for s in at.subheader)
