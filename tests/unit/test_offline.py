"""Offline training: classes within the HR scope, attendance by picking and by importing a list (all or
nothing, errors naming row / column / why), one ledger credit per attendee naming the class, re-imports
that add nothing, removals and edits corrected by new ledger rows, audit rows."""
import csv
import io
from datetime import date, timedelta

import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import func, select

from models import AuditLog, LedgerEntry, User
from models.db import session_scope
from models.offline import OfflineAttendance
from services import offline
from services.errors import NotFound, PermissionDenied, ValidationFailed
from tests.conftest import uid


def csv_bytes(rows, header=("用户名", "姓名")) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")


def xlsx(rows, header=("工号", "姓名", "备注")) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(list(header))
    for r in rows:
        ws.append(list(r))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def offline_rows(session, user_id, class_id=None):
    """The person's offline ledger rows (of one class, when given: people are shared by this module's tests)."""
    q = select(LedgerEntry).where(LedgerEntry.user_id == user_id, LedgerEntry.source_type == "offline")
    if class_id is not None:
        q = q.where(LedgerEntry.source_id.startswith(f"offline-{class_id}-"))
    return session.exec(q.order_by(LedgerEntry.id)).all()


def offline_sum(session, user_id, class_id=None) -> float:
    return round(sum(e.hours for e in offline_rows(session, user_id, class_id)), 2)


def with_employee_no(session, actor, no: str | None = None) -> str:
    no = no or uid("E")
    u = session.get(User, actor.id)
    u.employee_no = no
    session.add(u)
    session.flush()
    return no


@pytest.fixture(scope="module")
def people(make_user_module):
    """Shared by the module's tests (creating accounts is slow); each test gets its own class."""
    return {"hr": make_user_module(("hr", "district"), unit="district"),
            "other_hr": make_user_module(("hr", "district2"), unit="district2"),
            "learners": [make_user_module("learner", unit="village"), make_user_module("learner", unit="town")],
            "outsider": make_user_module("learner", unit="district2")}


@pytest.fixture
def world(people, tree):
    hr = people["hr"]
    with session_scope() as s:
        cls = offline.create_class(s, hr, class_in=offline.ClassIn(
            name="党校春季班（信息化专题）", organiser="区委党校", start_date=offline.today() - timedelta(days=0),
            end_date=offline.today(), hours=4, unit_id=tree["district"]))
    return people | {"class": cls}


def test_create_class_and_list_it_within_scope(session, world, tree):
    hr, cls = world["hr"], world["class"]
    assert cls.attendees == 0 and cls.hours == 4 and cls.unit_name == "测试区"
    assert cls.id in {c.id for c in offline.list_classes(session, hr)}
    assert cls.id in {c.id for c in offline.list_classes(session, hr, year=cls.year)}
    assert cls.id not in {c.id for c in offline.list_classes(session, hr, year=cls.year - 1)}
    assert cls.id not in {c.id for c in offline.list_classes(session, world["other_hr"])}
    audit = session.exec(select(AuditLog).where(AuditLog.action == "offline.class_create")
                         .order_by(AuditLog.id.desc())).first()
    assert audit.detail["class_id"] == cls.id and audit.actor_id == hr.id


def test_another_districts_hr_is_refused_everywhere(session, world, tree):
    other, cls = world["other_hr"], world["class"]
    calls = [lambda: offline.get_class(session, other, class_id=cls.id),
             lambda: offline.attendees(session, other, class_id=cls.id),
             lambda: offline.candidates(session, other, class_id=cls.id),
             lambda: offline.add_attendees(session, other, class_id=cls.id, user_ids=[world["outsider"].id]),
             lambda: offline.plan_attendance_import(session, other, class_id=cls.id, filename="a.csv",
                                                    data=csv_bytes([[world["outsider"].username, ""]])),
             lambda: offline.remove_attendee(session, other, class_id=cls.id, user_id=world["learners"][0].id),
             lambda: offline.create_class(session, other, class_in=offline.ClassIn(
                 name="越权", organiser="x", start_date=offline.today(), end_date=offline.today(), hours=1,
                 unit_id=tree["district"]))]
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
    with pytest.raises(PermissionDenied):          # a learner is no HR
        offline.list_classes(session, world["learners"][0])


def test_pick_credits_each_attendee_once_naming_the_class(session, world):
    hr, cls = world["hr"], world["class"]
    a, b = world["learners"]
    assert {p.user_id for p in offline.candidates(session, hr, class_id=cls.id, search=a.username)} == {a.id}
    result = offline.add_attendees(session, hr, class_id=cls.id, user_ids=[a.id, b.id, a.id])
    assert (result.added, result.already) == (2, 0)
    rows = offline_rows(session, a.id, cls.id)
    assert len(rows) == 1 and rows[0].hours == 4 and rows[0].year == cls.end_date.year
    assert "党校春季班（信息化专题）" in rows[0].reason and rows[0].created_by == hr.id
    att = session.exec(select(OfflineAttendance).where(OfflineAttendance.user_id == a.id, OfflineAttendance.class_id == cls.id)).one()
    assert att.ledger_entry_id == rows[0].id
    # picking again adds nothing, and they are no longer offered
    again = offline.add_attendees(session, hr, class_id=cls.id, user_ids=[a.id])
    assert (again.added, again.already) == (0, 1) and len(offline_rows(session, a.id, cls.id)) == 1
    assert a.id not in {p.user_id for p in offline.candidates(session, hr, class_id=cls.id)}
    assert {x.user_id for x in offline.attendees(session, hr, class_id=cls.id)} == {a.id, b.id}
    assert offline.get_class(session, hr, class_id=cls.id).attendees == 2


def test_a_learner_of_another_district_is_refused_and_nothing_is_written(session, world):
    hr, cls, outsider = world["hr"], world["class"], world["outsider"]
    a = world["learners"][0]
    with pytest.raises(ValidationFailed) as exc:
        offline.add_attendees(session, hr, class_id=cls.id, user_ids=[a.id, outsider.id])
    assert exc.value.code == "error.offline_person_outside"
    assert exc.value.params["name"] == f"#{outsider.id}"          # not in scope: not even the name is told
    assert offline_rows(session, a.id, cls.id) == [] and offline_rows(session, outsider.id, cls.id) == []
    assert outsider.id not in {p.user_id for p in offline.candidates(session, hr, class_id=cls.id)}
    plan = offline.plan_attendance_import(session, hr, class_id=cls.id, filename="a.csv",
                                          data=csv_bytes([[outsider.username, ""]]))
    assert [(e.row, e.field, e.code) for e in plan.errors] == [(2, "用户名", "error.offline_person_unknown")]


def test_import_by_username_and_by_employee_no(session, world):
    hr, cls = world["hr"], world["class"]
    a, b = world["learners"]
    plan = offline.plan_attendance_import(session, hr, class_id=cls.id, filename="list.csv",
                                          data=csv_bytes([[a.username.upper(), "测试用户"]]))
    assert plan.ok and [r["user_id"] for r in plan.rows] == [a.id]            # usernames ignore case
    assert offline.apply_attendance_import(session, hr, plan=plan).added == 1
    no = with_employee_no(session, b)
    plan = offline.plan_attendance_import(session, hr, class_id=cls.id, filename="list.xlsx",
                                          data=xlsx([[no, "测试用户", "第一排"]]))
    assert plan.ok, plan.errors
    assert offline.apply_attendance_import(session, hr, plan=plan).added == 1
    assert offline_sum(session, a.id, cls.id) == 4 and offline_sum(session, b.id, cls.id) == 4
    audit = session.exec(select(AuditLog).where(AuditLog.action == "offline.attendance_add")
                         .order_by(AuditLog.id.desc())).first()
    assert audit.detail == {"class_id": cls.id, "via": "import", "added": 1, "already": 0, "user_ids": [b.id]}


def test_import_with_a_bad_row_writes_nothing_and_names_the_row(session, world):
    hr, cls = world["hr"], world["class"]
    a, b = world["learners"]
    data = csv_bytes([[a.username, "测试用户"], ["nobody-" + uid(), ""], [b.username, "王五"], ["", ""],
                      [a.username, ""], ["", "只有姓名"], ["bad\x07name", ""]])
    plan = offline.plan_attendance_import(session, hr, class_id=cls.id, filename="list.csv", data=data)
    got = [(e.row, e.field, e.code) for e in plan.errors]
    assert got == [(7, "用户名/工号", "error.offline_row_needs_person"), (8, "用户名", "error.control_chars"),
                   (3, "用户名", "error.offline_person_unknown"), (4, "姓名", "error.offline_name_mismatch"),
                   (6, "用户名", "error.offline_dup_in_file")]
    assert plan.errors[3].params == {"name": "测试用户"} and plan.errors[4].params == {"other": 2}
    assert not plan.ok
    with pytest.raises(ValidationFailed):
        offline.apply_attendance_import(session, hr, plan=plan)
    assert offline_rows(session, a.id, cls.id) == [] and offline.get_class(session, hr, class_id=cls.id).attendees == 0


def test_file_level_errors(session, world):
    hr, cls = world["hr"], world["class"]
    plan = offline.plan_attendance_import(session, hr, class_id=cls.id, filename="a.csv",
                                          data=csv_bytes([["x"]], header=("姓名",)))
    assert [(e.row, e.code) for e in plan.errors] == [(1, "error.offline_missing_column")]
    plan = offline.plan_attendance_import(session, hr, class_id=cls.id, filename="a.csv", data=csv_bytes([]))
    assert [(e.row, e.code) for e in plan.errors] == [(2, "error.import_no_rows")]
    with pytest.raises(ValidationFailed):
        offline.plan_attendance_import(session, hr, class_id=cls.id, filename="a.txt", data=b"x")
    no = uid("DUP")
    for learner in world["learners"]:
        with_employee_no(session, learner, no)
    plan = offline.plan_attendance_import(session, hr, class_id=cls.id, filename="a.xlsx", data=xlsx([[no, "", ""]]))
    assert [(e.row, e.field, e.code) for e in plan.errors] == [(2, "工号", "error.offline_employee_no_ambiguous")]


def test_re_importing_the_same_list_adds_nothing(session, world):
    hr, cls = world["hr"], world["class"]
    a, b = world["learners"]
    data = csv_bytes([[a.username, ""], [b.username, ""]])
    first = offline.apply_attendance_import(session, hr, plan=offline.plan_attendance_import(
        session, hr, class_id=cls.id, filename="l.csv", data=data))
    assert (first.added, first.already) == (2, 0)
    plan = offline.plan_attendance_import(session, hr, class_id=cls.id, filename="l.csv", data=data)
    assert plan.ok and plan.rows == [] and [r["row"] for r in plan.already] == [2, 3]
    second = offline.apply_attendance_import(session, hr, plan=plan)
    assert (second.added, second.already) == (0, 2)
    assert offline_sum(session, a.id, cls.id) == 4 and len(offline_rows(session, a.id, cls.id)) == 1


def test_remove_reverses_with_a_new_row_and_adding_again_credits_again(session, world):
    hr, cls = world["hr"], world["class"]
    a = world["learners"][0]
    offline.add_attendees(session, hr, class_id=cls.id, user_ids=[a.id])
    offline.remove_attendee(session, hr, class_id=cls.id, user_id=a.id)
    rows = offline_rows(session, a.id, cls.id)
    assert [r.hours for r in rows] == [4, -4] and "撤销" in rows[1].reason
    assert offline.get_class(session, hr, class_id=cls.id).attendees == 0
    with pytest.raises(NotFound):
        offline.remove_attendee(session, hr, class_id=cls.id, user_id=a.id)
    offline.add_attendees(session, hr, class_id=cls.id, user_ids=[a.id])
    assert [r.hours for r in offline_rows(session, a.id, cls.id)] == [4, -4, 4] and offline_sum(session, a.id, cls.id) == 4
    assert session.exec(select(func.count()).select_from(OfflineAttendance)
                        .where(OfflineAttendance.user_id == a.id, OfflineAttendance.class_id == cls.id)).one() == 2        # the removed one is kept
    assert session.exec(select(AuditLog).where(AuditLog.action == "offline.attendance_remove",
                                               AuditLog.actor_id == hr.id)).first() is not None


def test_editing_hours_or_year_corrects_present_attendees(session, world, tree):
    hr, cls = world["hr"], world["class"]
    a, b = world["learners"]
    offline.add_attendees(session, hr, class_id=cls.id, user_ids=[a.id, b.id])
    offline.remove_attendee(session, hr, class_id=cls.id, user_id=b.id)
    edit = offline.ClassIn(name="党校春季班", organiser="区委党校", start_date=cls.start_date, end_date=cls.end_date,
                           hours=6.5, unit_id=tree["district"])
    assert offline.update_class(session, hr, class_id=cls.id, class_in=edit).hours == 6.5
    assert [r.hours for r in offline_rows(session, a.id, cls.id)] == [4, 2.5] and offline_sum(session, b.id, cls.id) == 0
    last_year = date(cls.end_date.year - 1, 6, 1)
    offline.update_class(session, hr, class_id=cls.id, class_in=offline.ClassIn(
        name="党校春季班", organiser="区委党校", start_date=last_year, end_date=last_year, hours=6.5,
        unit_id=tree["district"]))
    per_year = {}
    for r in offline_rows(session, a.id, cls.id):
        per_year[r.year] = round(per_year.get(r.year, 0) + r.hours, 2)
    assert per_year == {cls.end_date.year: 0, cls.end_date.year - 1: 6.5}
    # moving the class to a unit that no longer holds its attendees is refused
    offline.add_attendees(session, hr, class_id=cls.id, user_ids=[b.id])
    with pytest.raises(ValidationFailed) as exc:
        offline.update_class(session, hr, class_id=cls.id, class_in=offline.ClassIn(
            name="党校春季班", organiser="区委党校", start_date=last_year, end_date=last_year, hours=6.5,
            unit_id=tree["village"]))
    assert exc.value.code == "error.offline_unit_excludes"        # b (town) is not in the village


@pytest.mark.parametrize("change, code", [
    ({"name": "  "}, "error.offline_name_required"),
    ({"name": "班\x00"}, "error.control_chars"),
    ({"organiser": "x" * 129}, "error.field_too_long"),
    ({"hours": 0}, "error.offline_hours"),
    ({"hours": 201}, "error.offline_hours"),
    ({"end_date": date(2026, 1, 1), "start_date": date(2026, 1, 2)}, "error.offline_dates"),
    ({"start_date": date(1999, 1, 1)}, "error.offline_dates_range"),
])
def test_class_fields_are_checked(session, world, tree, change, code):
    base = {"name": "班", "organiser": "党校", "start_date": date(2026, 1, 1), "end_date": date(2026, 1, 2),
            "hours": 2, "unit_id": tree["district"]}
    with pytest.raises(ValidationFailed) as exc:
        offline.create_class(session, world["hr"], class_in=offline.ClassIn(**(base | change)))
    assert exc.value.code == code


def test_no_attendance_before_the_class_starts(session, world, tree):
    hr = world["hr"]
    soon = offline.today() + timedelta(days=3)
    cls = offline.create_class(session, hr, class_in=offline.ClassIn(
        name="下周的班", organiser="党校", start_date=soon, end_date=soon, hours=2, unit_id=tree["district"]))
    with pytest.raises(ValidationFailed) as exc:
        offline.add_attendees(session, hr, class_id=cls.id, user_ids=[world["learners"][0].id])
    assert exc.value.code == "error.offline_not_started"
    plan = offline.plan_attendance_import(session, hr, class_id=cls.id, filename="a.csv",
                                          data=csv_bytes([[world["learners"][0].username, ""]]))
    assert [e.code for e in plan.errors] == ["error.offline_not_started"]


def test_templates_are_importable(session, world):
    wb = load_workbook(io.BytesIO(offline.template_xlsx()))
    assert [c.value for c in wb.worksheets[0][1]] == ["用户名", "工号", "姓名"]
    plan = offline.plan_attendance_import(session, world["hr"], class_id=world["class"].id, filename="t.csv",
                                          data=offline.template_csv())
    assert [(e.row, e.code) for e in plan.errors] == [(2, "error.offline_person_unknown")]   # the sample person


def test_my_classes_lists_present_attendance_only(session, world):
    hr, cls = world["hr"], world["class"]
    a, b = world["learners"]
    offline.add_attendees(session, hr, class_id=cls.id, user_ids=[a.id, b.id])
    offline.remove_attendee(session, hr, class_id=cls.id, user_id=b.id)
    assert cls.id in {c.id for c in offline.my_classes(session, a, year=cls.year)}
    assert cls.id not in {c.id for c in offline.my_classes(session, a, year=cls.year - 1)}
    assert cls.id not in {c.id for c in offline.my_classes(session, b)}


def test_exports_name_the_filters_and_keep_text_as_text(session, world):
    hr, cls = world["hr"], world["class"]
    a = world["learners"][0]
    offline.add_attendees(session, hr, class_id=cls.id, user_ids=[a.id])
    wb = load_workbook(io.BytesIO(offline.attendees_xlsx(session, hr, class_id=cls.id)))
    assert wb.sheetnames == ["班次", "参加人员"]
    info = {r[0]: r[1] for r in wb["班次"].iter_rows(min_row=3, values_only=True) if r[0]}
    assert info["班次名称"] == cls.name and info["参加人数"] == "1"
    rows = list(wb["参加人员"].iter_rows(min_row=4, values_only=True))
    assert [(r[0], r[5]) for r in rows] == [(a.username, 4)]
    wb = load_workbook(io.BytesIO(offline.classes_xlsx(session, hr, year=cls.year)))
    assert wb.sheetnames == ["筛选条件", "班次"]
    filters = {r[0]: r[1] for r in wb["筛选条件"].iter_rows(min_row=3, values_only=True) if r[0]}
    assert filters["管理范围"] == "测试区" and filters["年度（按结束日期）"] == str(cls.year)
    assert cls.name in {r[0] for r in wb["班次"].iter_rows(min_row=4, values_only=True)}
    assert all(c.data_type != "f" for ws in wb for row in ws.iter_rows() for c in row)
    text = offline.attendees_csv(session, hr, class_id=cls.id).decode("utf-8-sig")
    assert a.username in text and text.count("\r\n") == 2
    assert cls.name in offline.classes_csv(session, hr, year=cls.year).decode("utf-8-sig")
    with pytest.raises(PermissionDenied):
        offline.attendees_xlsx(session, world["other_hr"], class_id=cls.id)


def test_a_formula_like_class_name_is_text_in_every_export(session, world, tree):
    hr = world["hr"]
    cls = offline.create_class(session, hr, class_in=offline.ClassIn(
        name="=1+1 党校班", organiser="@党校", start_date=offline.today(), end_date=offline.today(), hours=1,
        unit_id=tree["district"]))
    wb = load_workbook(io.BytesIO(offline.attendees_xlsx(session, hr, class_id=cls.id)))
    cell = next(c for row in wb["班次"].iter_rows() for c in row if c.value == "=1+1 党校班")
    assert cell.data_type == "s"
    assert "'=1+1 党校班" in offline.classes_csv(session, hr, year=cls.year).decode("utf-8-sig")
