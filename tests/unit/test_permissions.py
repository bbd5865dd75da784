"""Every service refuses the wrong actor: tests call services directly as the wrong user."""
import pytest

from services import bank, demo, ledger, learning, org, reports, settings, user_import, users
from services.errors import PermissionDenied
from services.permissions import load_actor


def test_learner_is_refused_admin_trainer_and_hr_services(session, make_user, tree):
    learner = make_user("learner")
    calls = [
        lambda: org.create_unit(session, learner, code="X1", name="x", parent_id=tree["city"]),
        lambda: org.rename_unit(session, learner, unit_id=tree["town"], name="y"),
        lambda: org.move_unit(session, learner, unit_id=tree["town"], new_parent_id=tree["city"]),
        lambda: org.retire_unit(session, learner, unit_id=tree["village"]),
        lambda: users.create_user(session, learner, user_in=users.UserCreate(username="abcdef", name="x")),
        lambda: users.reset_password(session, learner, user_id=learner.id),
        lambda: users.set_grants(session, learner, user_id=learner.id, grants=[users.Grant(role="admin")]),
        lambda: users.set_active(session, learner, user_id=learner.id, active=False),
        lambda: users.search_users(session, learner),
        lambda: users.get_user(session, learner, user_id=learner.id + 1),
        lambda: user_import.plan_import(session, learner, filename="a.csv", data=b"x"),
        lambda: settings.set_default_target(session, learner, hours=10),
        lambda: settings.set_credit_rule(session, learner, rule=settings.CreditRule()),
        lambda: settings.set_unit_target(session, learner, unit_id=tree["city"], hours=5),
        lambda: ledger.adjust(session, learner, user_id=learner.id, hours=5, reason="x"),
        lambda: reports.hours_by_unit(session, learner),
        lambda: reports.people(session, learner),
        lambda: bank.list_questions(session, learner),
        lambda: bank.question_record(session, learner, question_id="sec-001"),
        lambda: demo.load_demo(session, learner, learners=1),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()


def test_staff_without_learner_role_cannot_use_learner_services(session, make_user):
    hr = make_user(("hr", "district"))
    with pytest.raises(PermissionDenied):
        learning.catalogue(session, hr)
    with pytest.raises(PermissionDenied):
        learning.start_quiz(session, hr, course_id="sec")


def test_hr_scope_is_the_subtree(session, make_user, tree):
    hr = make_user(("hr", "district"), unit="district")
    inside = make_user("learner", unit="village")      # village is under the district
    outside = make_user("learner", unit="district2")
    rows, _ = users.search_users(session, hr, text=inside.username)
    assert [r.username for r in rows] == [inside.username]
    rows, _ = users.search_users(session, hr, text=outside.username)
    assert rows == []
    df = reports.hours_by_unit(session, hr)
    assert tree["village"] in set(df["unit_id"]) and tree["district2"] not in set(df["unit_id"])
    assert hr.covers("hr", f"/{tree['city']}/{tree['district']}/") is True


def test_hr_cannot_administer_users(session, make_user):
    hr = make_user(("hr", "city"), unit="dept")
    target = make_user("learner")
    with pytest.raises(PermissionDenied):
        users.reset_password(session, hr, user_id=target.id)
    with pytest.raises(PermissionDenied):
        users.update_user(session, hr, user_id=target.id, name="x", unit_id=None)


def test_learner_cannot_touch_anothers_quiz(session, make_user):
    from sqlmodel import select
    from models import Lesson
    a, b = make_user("learner"), make_user("learner")
    for lesson in session.exec(select(Lesson).where(Lesson.course_id == "sec")).all():
        learning.complete_lesson(session, a, lesson_id=lesson.id)
    attempt_id = learning.start_quiz(session, a, course_id="sec")
    with pytest.raises(PermissionDenied):
        learning.quiz_view(session, b, attempt_id=attempt_id)
    view = learning.quiz_view(session, a, attempt_id=attempt_id)
    with pytest.raises(PermissionDenied):
        learning.save_answer(session, b, item_id=view.items[0].item_id, response=0)
    with pytest.raises(PermissionDenied):
        learning.submit_quiz(session, b, attempt_id=attempt_id)


def test_roles_and_scopes_are_loaded(session, make_user, tree):
    actor = make_user("learner", ("trainer", "town"), ("hr", "district"))
    again = load_actor(session, actor.id)
    assert set(again.roles) == {"learner", "trainer", "hr"}
    assert again.scopes["trainer"][0].endswith(f"/{tree['town']}/")


def test_someone_elses_ledger_is_for_admins_and_hr_in_scope(session, make_user):
    from services import ledger
    learner = make_user("learner", unit="village")
    other = make_user("learner", unit="village")
    hr_in = make_user(("hr", "district"), unit="district")
    hr_out = make_user(("hr", "district2"), unit="district2")
    admin = make_user("admin")
    ledger.credit(session, user_id=learner.id, hours=2, source_type="exam", source_id="x1", reason="考试")
    session.commit()
    assert list(ledger.entries_of(session, admin, user_id=learner.id)["hours"]) == [2]
    assert list(ledger.entries_of(session, hr_in, user_id=learner.id)["hours"]) == [2]
    for wrong in (hr_out, other):
        with pytest.raises(PermissionDenied):
            ledger.entries_of(session, wrong, user_id=learner.id)


def test_units_with_the_same_name_stay_apart_in_reports(session, make_user, tree):
    from services import org
    admin = make_user("admin")
    a = org.create_unit(session, admin, code=f"SAME-A-{tree['city']}-{admin.id}", name="区政府办公室", parent_id=tree["district"])
    b = org.create_unit(session, admin, code=f"SAME-B-{tree['city']}-{admin.id}", name="区政府办公室", parent_id=tree["district2"])
    for unit in (a, b):
        users.create_user(session, admin, user_in=users.UserCreate(username=f"same{unit.id}", name="某", unit_id=unit.id))
    df = reports.hours_by_unit(session, admin)
    labels = set(df[df["unit_id"].isin([a.id, b.id])]["label"])
    assert labels == {"测试区 · 区政府办公室", "另一区 · 区政府办公室"}


def test_hr_drill_down_to_people_stays_in_scope_and_exports(session, make_user, tree):
    import io

    from openpyxl import load_workbook

    from services import ledger
    hr = make_user(("hr", "district"), unit="district")
    done = make_user("learner", unit="village")
    behind = make_user("learner", unit="town")
    outsider = make_user("learner", unit="district2")
    ledger.credit(session, user_id=done.id, hours=80, source_type="import", source_id="t1", reason="导入")
    session.commit()
    df = reports.people(session, hr)
    names = set(df["username"])
    assert {done.username, behind.username} <= names and outsider.username not in names
    row = df[df["username"] == behind.username].iloc[0]
    assert row["gap"] == row["target"] and row["unit"].endswith("测试镇")
    below = reports.people(session, hr, below_target_only=True)
    assert done.username not in set(below["username"]) and behind.username in set(below["username"])
    assert list(below["gap"]) == sorted(below["gap"], reverse=True)
    assert set(reports.people(session, hr, unit_id=tree["village"])["username"]) >= {done.username}
    with pytest.raises(PermissionDenied):
        reports.people(session, hr, unit_id=tree["district2"])
    sheet = load_workbook(io.BytesIO(reports.people_xlsx(df, {"username": "用户名", "hours": "学时"}))).active
    assert [c.value for c in sheet[1]] == ["用户名", "学时"] and sheet.max_row == len(df) + 1
