"""The HR page with data: people, hours, required courses done; paging with the true total; the
Excel export built only when clicked, holding everyone with its title rows."""
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
from services import ledger, org, reports
from services.permissions import system_actor
from tests.conftest import uid

N_PEOPLE = 130          # more than one screen (100 a page)


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
        rows = [{"username": f"{tag}{i:03d}", "name": {20: "=1+1", 21: "张\x00三"}.get(i, f"学员{i:03d}"),
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


def test_hr_page_shows_the_people_hours_and_required_courses(hr_world, downloads, monkeypatch):
    built = []
    real = reports.people_xlsx
    monkeypatch.setattr(reports, "people_xlsx", lambda *a, **kw: built.append(1) or real(*a, **kw))
    at = _hr_page(hr_world["hr"])
    assert _metric(at, "学员人数") == str(N_PEOPLE)
    assert _metric(at, "达标人数") == "3"
    assert _metric(at, "达标率") == f"{100 * 3 / N_PEOPLE:.1f}%"
    by_unit = at.dataframe[0].value
    assert set(by_unit["单位"]) == {"统计办公室", "=HYPERLINK(\"x\",\"站\")"}
    assert int(by_unit["学员人数"].sum()) == N_PEOPLE

    # people: below target only (default) -> 127, first page of 100, the true total in the caption
    captions = " ".join(c.value for c in at.caption)
    assert "共 127 人" in captions and "第 1–100 人（第 1/2 页）" in captions
    people = at.dataframe[1].value
    assert len(people) == 100 and set(people["学时合计"]) == {0} and set(people["距目标差"]) == {50}
    assert "=1+1" in set(people["姓名"])                        # shown as text
    assert "张\x00三" in set(people["姓名"])                    # old data with a NUL no longer breaks the page

    # the export is registered as a callable: nothing was built while drawing the page
    assert built == [] and downloads["static"] == []
    (file_name, make), = downloads["deferred"]
    assert file_name == f"学时统计-统计区-{local_year()}.xlsx"
    assert at.get("download_button")[0].proto.deferred_file_id

    # clicking runs the callable: every person of the filter (not only this page), title rows first
    ws = load_workbook(io.BytesIO(make())).active
    assert built == [1]
    assert ws["A1"].value == f"学时达标人员明细 · 管理范围内全部单位 · {local_year()} 年"
    assert "管理范围：统计区" in ws["A2"].value and "共 127 人" in ws["A2"].value and "导出时间：" in ws["A2"].value
    assert [c.value for c in ws[4]][:3] == ["用户名", "姓名", "单位"]
    body = list(ws.iter_rows(min_row=5, values_only=True))
    assert len(body) == 127 and {"=1+1", "张\ufffd三"} <= {r[1] for r in body}
    row = next(r for r in body if r[1] == "学员005")
    assert (row[3], row[6]) == (25, 2)          # 25 学时; a required course done last year still counts
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)


def test_hr_page_pages_through_everyone_and_names_the_unit_in_the_file(hr_world, downloads):
    at = _hr_page(hr_world["hr"])
    at.checkbox(key="hr_people_below").uncheck()
    at.run()
    assert "共 130 人" in " ".join(c.value for c in at.caption)
    year = local_year()
    page = at.number_input(key=f"hr_people_page_{year}_None_False")
    assert page.max == 2
    page.set_value(2)
    at.run()
    assert not at.exception
    assert len(at.dataframe[1].value) == N_PEOPLE - 100
    assert "第 101–130 人（第 2/2 页）" in " ".join(c.value for c in at.caption)

    at.selectbox(key="hr_people_unit").select(hr_world["ids"]["office"])
    at.run()
    assert len(at.dataframe[1].value) == N_PEOPLE // 2            # a new filter starts again at page 1
    file_name, make = downloads["deferred"][-1]
    assert file_name == f"学时统计-统计办公室-{year}.xlsx"
    ws = load_workbook(io.BytesIO(make())).active
    assert ws["A1"].value == f"学时达标人员明细 · 统计办公室 · {year} 年"
    assert sum(1 for _ in ws.iter_rows(min_row=5)) == N_PEOPLE // 2


def test_hr_page_in_english(hr_world, downloads):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["user_id"] = hr_world["hr"]
    at.session_state["locale"] = "en"
    at.run()
    at.switch_page("pages/hr/overview.py")
    at.run()
    assert not at.exception
    assert at.title[0].value == "Study-hour compliance"
    assert "127 people" in " ".join(c.value for c in at.caption)


def test_hr_page_survives_fewer_pages_than_the_one_chosen(hr_world):
    """Page 2 of those below target; then 30 of them reach it (one page left): the page shows page 1."""
    at = _hr_page(hr_world["hr"])
    at.number_input(key=f"hr_people_page_{local_year()}_None_True").set_value(2)
    at.run()
    assert "第 101–127 人（第 2/2 页）" in " ".join(c.value for c in at.caption)
    with session_scope() as s:
        for user_id in hr_world["people"][40:70]:
            ledger.credit(s, user_id=user_id, hours=60, source_type="import", source_id=f"hr-more-{user_id}",
                          reason="导入")
    at.run()
    assert not at.exception
    assert "共 97 人" in " ".join(c.value for c in at.caption) and len(at.dataframe[1].value) == 97
