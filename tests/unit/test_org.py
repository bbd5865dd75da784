import pytest
from sqlmodel import func, select

from models import AuditLog, Membership, OrgUnit
from models.db import session_scope
from services import org, users
from services.errors import ValidationFailed
from tests.conftest import uid


def test_create_move_rename_retire(session, make_user, tree):
    admin = make_user("admin")
    a = org.create_unit(session, admin, code=uid("A"), name="甲单位", kind="unit", parent_id=tree["district"])
    b = org.create_unit(session, admin, code=uid("B"), name="甲单位下属", kind="unit", parent_id=a.id)
    assert b.path == f"{a.path}{b.id}/" and b.depth == a.depth + 1
    session.commit()        # the test is the caller: it ends its unit of work before make_user opens another
    with pytest.raises(ValidationFailed) as exc:
        org.create_unit(session, admin, code=a.code, name="重复", parent_id=None)
    assert exc.value.code == "error.unit_code_taken"
    with pytest.raises(ValidationFailed):
        org.move_unit(session, admin, unit_id=a.id, new_parent_id=b.id)     # into its own subtree
    org.move_unit(session, admin, unit_id=a.id, new_parent_id=tree["district2"])
    session.expire_all()
    a2, b2 = session.get(OrgUnit, a.id), session.get(OrgUnit, b.id)
    d2 = session.get(OrgUnit, tree["district2"])
    assert a2.path == f"{d2.path}{a.id}/" and b2.path == f"{a2.path}{b.id}/" and b2.depth == d2.depth + 2
    org.rename_unit(session, admin, unit_id=a.id, name="乙单位")
    assert session.get(OrgUnit, a.id).name == "乙单位"
    with pytest.raises(ValidationFailed) as exc:
        org.retire_unit(session, admin, unit_id=a.id)
    assert exc.value.code == "error.unit_has_children"
    session.commit()
    person = make_user("learner", unit="village")
    users.update_user(session, admin, user_id=person.id, name="调动者", unit_id=b.id)
    with pytest.raises(ValidationFailed) as exc:
        org.retire_unit(session, admin, unit_id=b.id)
    assert exc.value.code == "error.unit_has_members"
    # membership over time: the move closed the old period and opened a new one
    periods = session.exec(select(Membership).where(Membership.user_id == person.id).order_by(Membership.valid_from)).all()
    assert [p.unit_id for p in periods] == [tree["village"], b.id]
    assert periods[0].valid_to is not None and periods[1].valid_to is None
    users.set_active(session, admin, user_id=person.id, active=False)
    org.retire_unit(session, admin, unit_id=b.id)
    assert not session.get(OrgUnit, b.id).active
    assert b.id not in [u.id for u in org.list_units(session)]
    assert b.id in [u.id for u in org.list_units(session, include_retired=True)]


def test_tree_order_puts_children_after_parents(session, tree):
    rows = org.list_units(session)
    pos = {r.id: i for i, r in enumerate(rows)}
    for r in rows:
        if r.parent_id in pos:
            assert pos[r.parent_id] < pos[r.id]


def test_admin_cannot_lock_themselves_out(session, make_user):
    admin = make_user("admin")
    with pytest.raises(ValidationFailed):
        users.set_grants(session, admin, user_id=admin.id, grants=[users.Grant(role="learner")])
    with pytest.raises(ValidationFailed):
        users.set_active(session, admin, user_id=admin.id, active=False)


def test_org_writes_are_one_unit_of_work_with_their_audit_row(make_user, tree):
    """The service flushes, the caller commits: a rollback takes the unit and its audit row away."""
    admin = make_user("admin")
    code = uid("R")
    with pytest.raises(RuntimeError):
        with session_scope() as s:
            unit = org.create_unit(s, admin, code=code, name="回滚单位", parent_id=tree["district"])
            assert unit.id is not None and s.exec(select(OrgUnit).where(OrgUnit.code == code)).one()
            raise RuntimeError("the caller's action fails after the service call")
    with session_scope() as s:
        assert s.exec(select(OrgUnit).where(OrgUnit.code == code)).first() is None
        assert s.exec(select(func.count()).select_from(AuditLog)
                      .where(AuditLog.action == "org.create", AuditLog.actor_id == admin.id)).one() == 0
    with session_scope() as s:
        org.create_unit(s, admin, code=code, name="保留单位", parent_id=tree["district"])
    with session_scope() as s:
        assert s.exec(select(OrgUnit.name).where(OrgUnit.code == code)).one() == "保留单位"
        details = s.exec(select(AuditLog.detail).where(AuditLog.action == "org.create",
                                                       AuditLog.actor_id == admin.id)).all()
        assert [d["unit"] for d in details] == [code]


@pytest.mark.parametrize("bad", ["甲\x00单位", "甲\n单位", "甲\t单位", "甲\x1b[31m单位", "甲\u2028单位", "甲\x7f"])
def test_unit_names_and_codes_with_control_characters_are_refused(session, make_user, tree, bad):
    admin = make_user("admin")
    code = uid("K")
    with pytest.raises(ValidationFailed) as exc:
        org.create_unit(session, admin, code=code, name=bad, parent_id=tree["district"])
    assert exc.value.code == "error.control_chars" and exc.value.params["field"] == "名称"
    with pytest.raises(ValidationFailed) as exc:
        org.create_unit(session, admin, code=code + bad, name="好名字", parent_id=tree["district"])
    assert exc.value.code == "error.control_chars" and exc.value.params["field"] == "编码"
    assert session.exec(select(OrgUnit).where(OrgUnit.code.startswith(code))).first() is None
    with pytest.raises(ValidationFailed) as exc:
        org.rename_unit(session, admin, unit_id=tree["town"], name=bad)
    assert exc.value.code == "error.control_chars"
    session.expire_all()
    assert session.get(OrgUnit, tree["town"]).name == "测试镇"


def test_unit_name_length_comes_from_the_model(session, make_user, tree):
    admin = make_user("admin")
    with pytest.raises(ValidationFailed) as exc:
        org.create_unit(session, admin, code=uid("L"), name="长" * (org.NAME_MAX + 1), parent_id=tree["district"])
    assert exc.value.code == "error.field_too_long" and exc.value.params["max"] == org.NAME_MAX
