import pytest
from sqlmodel import select

from models import Membership, OrgUnit
from services import org, users
from services.errors import ValidationFailed
from tests.conftest import uid


def test_create_move_rename_retire(session, make_user, tree):
    admin = make_user("admin")
    a = org.create_unit(session, admin, code=uid("A"), name="甲单位", kind="unit", parent_id=tree["district"])
    b = org.create_unit(session, admin, code=uid("B"), name="甲单位下属", kind="unit", parent_id=a.id)
    assert b.path == f"{a.path}{b.id}/" and b.depth == a.depth + 1
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
