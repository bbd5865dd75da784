"""In-app notices: HR sends to learners in scope only (all or nothing), the sender is named, each
recipient has their own read state, text is checked."""
import pytest

from models import RoleGrant
from models.db import session_scope
from services import notices
from services.errors import PermissionDenied, ValidationFailed
from services.permissions import load_actor


@pytest.fixture
def hr(make_user):
    actor = make_user("learner", unit="district")
    with session_scope() as s:
        s.add(RoleGrant(user_id=actor.id, role="hr", scope_unit_id=_tree_id(s, actor)))
        s.flush()
        return load_actor(s, actor.id)


def _tree_id(s, actor):
    return actor.unit_id       # the HR officer's own district


def test_send_read_state_and_sender(hr, make_user, session):
    a, b = make_user("learner", unit="village"), make_user("learner", unit="town")
    nid = notices.send(session, hr, user_ids=[a.id, b.id, a.id], text="请于月底前完成必修课。\n谢谢")
    session.commit()
    mine = notices.my_notices(session, a)
    assert [(n.id, n.sender_name, n.text, n.read_at) for n in mine] == [(nid, hr.name, "请于月底前完成必修课。\n谢谢", None)]
    assert notices.unread_count(session, a) == 1 and notices.unread_count(session, b) == 1
    assert notices.mark_read(session, a, notice_id=nid) == 1
    session.commit()
    assert notices.unread_count(session, a) == 0 and notices.unread_count(session, b) == 1
    assert notices.my_notices(session, a)[0].read_at is not None
    assert notices.my_notices(session, a, unread_only=True) == []
    (sent, total, read), = [x for x in notices.sent_by_me(session, hr) if x[0].id == nid]
    assert (total, read) == (2, 1)


def test_out_of_scope_recipient_sends_nothing(hr, make_user, session):
    inside, outside = make_user("learner", unit="village"), make_user("learner", unit="district2")
    with pytest.raises(PermissionDenied):
        notices.send(session, hr, user_ids=[inside.id, outside.id], text="提醒")
    session.rollback()
    assert notices.unread_count(session, inside) == 0 and notices.unread_count(session, outside) == 0


def test_learners_cannot_send_and_text_is_checked(hr, make_user, session):
    a = make_user("learner", unit="village")
    with pytest.raises(PermissionDenied):
        notices.send(session, a, user_ids=[a.id], text="hi")
    with pytest.raises(ValidationFailed):
        notices.send(session, hr, user_ids=[a.id], text="   ")
    with pytest.raises(ValidationFailed):
        notices.send(session, hr, user_ids=[a.id], text="bad\x00text")
    with pytest.raises(ValidationFailed):
        notices.send(session, hr, user_ids=[], text="提醒")
