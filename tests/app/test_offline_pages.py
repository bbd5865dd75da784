"""The offline-training page (HR, admin) through its states — no class yet, a new class, picking people,
an import refused for a bad row then accepted, a re-import that adds nothing, a removal — its scope, and
the learner's 我的学时 showing the offline hours apart and together, with the record downloads."""
import csv
import io

import pytest
from openpyxl import load_workbook
from sqlmodel import select
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from config import ROOT
from models import LedgerEntry, RoleGrant
from models.db import session_scope
from services import offline, org
from services.permissions import load_actor, system_actor
from tests.conftest import uid


@pytest.fixture(scope="module")
def place(make_user_module, tree):
    """A district of its own (so other tests' classes stay out of view), its HR, two learners, and the
    HR of another district."""
    with session_scope() as s:
        district = org.create_unit(s, system_actor(), code=uid("OD"), name="培训区", kind="district",
                                   parent_id=tree["city"])
        town = org.create_unit(s, system_actor(), code=uid("OT"), name="培训镇", kind="town", parent_id=district.id)
        ids = {"district": district.id, "town": town.id}
    hr = make_user_module("learner", unit="district2")
    with session_scope() as s:
        s.add(RoleGrant(user_id=hr.id, role="hr", scope_unit_id=ids["district"]))
    learners = [make_user_module("learner", unit="district2") for _ in range(2)]
    with session_scope() as s:          # move them into the new town
        from models import User
        for a in learners:
            u = s.get(User, a.id)
            u.unit_id = ids["town"]
            s.add(u)
    other_hr = make_user_module(("hr", "district2"), unit="district2")
    admin = make_user_module("admin", unit="dept")
    return {"ids": ids, "hr": hr, "learners": learners, "other_hr": other_hr, "admin": admin}


def _page(user_id: int, page: str = "pages/hr/offline.py") -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["user_id"] = user_id
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def _texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def _csv(rows, header=("用户名", "姓名")) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")


def _run(target) -> AppTest:
    """Run the app (or the app of a clicked or changed widget) and check it raised nothing."""
    at = target.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_hr_registers_a_class_and_its_attendance(place):
    hr, (a, b) = place["hr"], place["learners"]
    at = _page(hr.id)
    assert at.title[0].value == "线下培训"
    assert "该年度还没有登记线下培训班次" in _texts(at.info)
    # a new class (the form's defaults: today, 4 学时)
    at.text_input(key="hr_offline_new_name").input("=党校秋季班")
    at.text_input(key="hr_offline_new_organiser").input("区委党校")
    at.selectbox(key="hr_offline_new_unit").select(place["ids"]["district"])
    at.number_input(key="hr_offline_new_hours").set_value(6.0)
    _run(_button(at, "登记班次").click())
    assert "已登记班次“=党校秋季班”" in _texts(at.success).replace("\\", "")
    table = at.dataframe[0].value
    assert list(table["班次名称"]) == ["=党校秋季班"] and list(table["参加人数"]) == [0]
    with session_scope() as s:
        cls = offline.list_classes(s, load_actor(s, hr.id))[0]
    assert cls.name == "=党校秋季班" and cls.hours == 6

    # pick: search, choose, add
    at.text_input(key=f"hr_offline_search_{cls.id}").input(a.username)
    _run(at)
    assert at.multiselect(key=f"hr_offline_pick_{cls.id}").options == [f"测试用户（{a.username} · 培训镇）"]
    _run(at.multiselect(key=f"hr_offline_pick_{cls.id}").select(a.id))       # the button is enabled now
    _run(at.button(key=f"hr_offline_add_{cls.id}").click())
    assert "已登记 1 人；0 人原已在名单中" in _texts(at.success)
    assert list(at.dataframe[-1].value["用户名"]) == [a.username]

    # an import with a bad row: nothing written, the row named
    at.file_uploader(key=f"hr_offline_file_{cls.id}_0").set_value(
        ("list.csv", _csv([[b.username, "测试用户"], ["nobody" + uid(), ""]]), "text/csv"))
    _run(at)
    assert "文件中有 1 处错误（涉及 1 行）" in _texts(at.error)
    errors = next(d.value for d in at.dataframe if "问题" in d.value.columns)
    assert list(errors["行号"]) == [3] and list(errors["列"]) == ["用户名"]
    assert "找不到此人" in errors["问题"][0]
    # the corrected list: a to skip, b to add
    at.file_uploader(key=f"hr_offline_file_{cls.id}_0").set_value(
        ("list.csv", _csv([[b.username, "测试用户"], [a.username, ""]]), "text/csv"))
    _run(at)
    assert "新登记 1 人，1 人已在名单中" in _texts(at.success)
    _run(at.button(key=f"hr_offline_import_{cls.id}").click())
    assert "已登记 1 人；1 人原已在名单中" in _texts(at.success)
    assert set(at.dataframe[-1].value["用户名"]) == {a.username, b.username}
    with session_scope() as s:
        rows = s.exec(select(LedgerEntry).where(LedgerEntry.source_type == "offline",
                                                LedgerEntry.user_id.in_([a.id, b.id]))).all()
    assert sorted(r.hours for r in rows) == [6, 6] and all("=党校秋季班" in r.reason for r in rows)

    # the same list again, in the emptied uploader (a new one after each import): nothing new to add
    assert at.file_uploader(key=f"hr_offline_file_{cls.id}_1").value is None
    at.file_uploader(key=f"hr_offline_file_{cls.id}_1").set_value(
        ("list.csv", _csv([[b.username, ""], [a.username, ""]]), "text/csv"))
    _run(at)
    assert "名单中的人员都已登记" in _texts(at.info)

    # remove b: confirmed, a correcting row
    at.selectbox(key=f"hr_offline_remove_{cls.id}").select(b.id)
    _run(at.checkbox(key=f"hr_offline_remove_sure_{cls.id}").check())
    _run(at.button(key=f"hr_offline_remove_go_{cls.id}").click())
    assert "已移除" in _texts(at.success)
    assert list(at.dataframe[-1].value["用户名"]) == [a.username]
    with session_scope() as s:
        assert sum(r.hours for r in s.exec(select(LedgerEntry).where(LedgerEntry.source_type == "offline",
                                                                    LedgerEntry.user_id == b.id)).all()) == 0


def test_a_bad_class_is_refused_with_the_reason(place):
    at = _page(place["hr"].id)
    at.text_input(key="hr_offline_new_name").input("")
    at.text_input(key="hr_offline_new_organiser").input("党校")
    _run(_button(at, "登记班次").click())
    assert "请填写班次名称" in _texts(at.error)


def test_another_districts_hr_sees_none_of_it_and_admin_sees_it(place):
    with session_scope() as s:
        hr = load_actor(s, place["hr"].id)
        offline.create_class(s, hr, class_in=offline.ClassIn(
            name="区级专题班", organiser="组织部", start_date=offline.today(), end_date=offline.today(), hours=2,
            unit_id=place["ids"]["district"]))
    other = _page(place["other_hr"].id)
    assert "区级专题班" not in " ".join(_texts([d]) for d in other.dataframe)
    assert not any("区级专题班" in str(o) for s in other.selectbox for o in s.options)
    admin = _page(place["admin"].id)
    assert "区级专题班" in set(admin.dataframe[0].value["班次名称"])


@pytest.fixture
def downloads(monkeypatch):
    seen = []
    add_deferred = MediaFileManager.add_deferred

    def spy(self, data_callable, mimetype, coordinates, file_name=None, **kw):
        seen.append((file_name, data_callable))
        return add_deferred(self, data_callable, mimetype, coordinates, file_name, **kw)
    monkeypatch.setattr(MediaFileManager, "add_deferred", spy)
    return seen


def test_the_learner_sees_offline_hours_apart_and_together_and_downloads_the_record(place, downloads):
    a = place["learners"][0]
    with session_scope() as s:
        hr = load_actor(s, place["hr"].id)
        cls = offline.create_class(s, hr, class_in=offline.ClassIn(
            name="党校读书班", organiser="区委党校", start_date=offline.today(), end_date=offline.today(), hours=10,
            unit_id=place["ids"]["district"]))
        offline.add_attendees(s, hr, class_id=cls.id, user_ids=[a.id])
        me = load_actor(s, a.id)
        from services import record
        rec = record.training_record(s, me, user_id=a.id)
    at = _page(a.id, "pages/learner/hours.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["线下培训"] == f"{rec.hours['offline']:g}" and rec.hours["offline"] >= 10
    assert metrics[f"{rec.year} 年已获学时"] == f"{rec.hours['total']:g}"
    assert metrics["线上自学"] == f"{rec.hours['online']:g}"
    online_pct, total_pct = (f"{rec.percent(rec.hours[k]):.0f}" for k in ("online", "total"))
    assert [p.proto.text for p in at.get("progress")] == [f"线上自学已完成年度目标的 {online_pct}%",
                                                          f"已完成年度目标的 {total_pct}%"]
    classes = next(d.value for d in at.dataframe if "班次名称" in d.value.columns)
    assert "党校读书班" in set(classes["班次名称"])
    ledger_rows = next(d.value for d in at.dataframe if "说明" in d.value.columns)
    assert any("党校读书班" in r for r in ledger_rows["说明"])
    files = dict(downloads)
    pdf_name, xlsx_name = f"培训档案-测试用户-{rec.year}.pdf", f"培训档案-测试用户-{rec.year}.xlsx"
    assert files[pdf_name]().startswith(b"%PDF-")
    wb = load_workbook(io.BytesIO(files[xlsx_name]()))
    assert "党校读书班" in {r[0] for r in wb["线下培训"].iter_rows(min_row=4, values_only=True)}


def test_the_tables_export_when_clicked(place, downloads):
    with session_scope() as s:
        hr = load_actor(s, place["hr"].id)
        cls = offline.create_class(s, hr, class_in=offline.ClassIn(
            name="导出测试班", organiser="党校", start_date=offline.today(), end_date=offline.today(), hours=3,
            unit_id=place["ids"]["district"]))
        offline.add_attendees(s, hr, class_id=cls.id, user_ids=[place["learners"][1].id])
    at = _page(place["hr"].id)
    at.selectbox(key="hr_offline_class").select(cls.id)
    _run(at)
    files = dict(downloads)
    wb = load_workbook(io.BytesIO(files["线下培训-导出测试班-参加人员.xlsx"]()))
    assert [r[0] for r in wb["参加人员"].iter_rows(min_row=4, values_only=True)] == [place["learners"][1].username]
    assert "导出测试班" in files[f"线下培训班次-{cls.year}.csv"]().decode("utf-8-sig")
    assert wb.sheetnames == ["班次", "参加人员"] and f"线下培训班次-{cls.year}.xlsx" in files


def test_editing_a_class_corrects_the_attendees_hours(place):
    a = place["learners"][1]
    with session_scope() as s:
        hr = load_actor(s, place["hr"].id)
        cls = offline.create_class(s, hr, class_in=offline.ClassIn(
            name="改学时的班", organiser="党校", start_date=offline.today(), end_date=offline.today(), hours=2,
            unit_id=place["ids"]["district"]))
        offline.add_attendees(s, hr, class_id=cls.id, user_ids=[a.id])
    at = _page(place["hr"].id)
    _run(at.selectbox(key="hr_offline_class").select(cls.id))
    at.number_input(key=f"hr_offline_edit_{cls.id}_hours").set_value(3.5)
    _run(_button(at, "保存修改").click())
    assert "已保存" in _texts(at.success)
    assert {m.label: m.value for m in at.metric}["学时"] == "3.5"
    with session_scope() as s:
        rows = s.exec(select(LedgerEntry.hours).where(LedgerEntry.user_id == a.id,
                                                     LedgerEntry.source_id.startswith(f"offline-{cls.id}-"))).all()
    assert sorted(rows) == [1.5, 2]
