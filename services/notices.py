"""In-app notices: HR sends a reminder to learners in their scope; a learner sees their notices on
the home page and marks them read. Writes flush; the caller commits."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, or_, update
from sqlmodel import Session, col, func, select

from models import Notice, NoticeRecipient, OrgUnit, User
from models.db import utcnow
from services import audit
from services.errors import PermissionDenied, ValidationFailed
from services.permissions import ALL, Actor, require_role, scope_paths
from services.text import clean_text

TEXT_MAX = 2000
MAX_RECIPIENTS = 50_000


@dataclass
class NoticeView:
    id: int
    sender_name: str
    kind: str
    text: str
    created_at: datetime
    read_at: datetime | None


def send(session: Session, actor: Actor, *, user_ids: Sequence[int], text: str, kind: str = "reminder") -> int:
    """Send one notice to these people (HR within scope; every recipient must be in it, or nothing is
    sent). Returns the notice id. The notice carries the sender's name as it is now."""
    require_role(actor, "hr")
    body = clean_text((text or "").strip(), field="通知内容", multiline=True, max_length=TEXT_MAX) or ""
    if not body:
        raise ValidationFailed("error.notice_empty")
    ids = sorted({int(i) for i in user_ids})
    if not ids:
        raise ValidationFailed("error.notice_no_recipients")
    if len(ids) > MAX_RECIPIENTS:
        raise ValidationFailed("error.notice_too_many", n=MAX_RECIPIENTS)
    paths = scope_paths(actor, "hr")
    if ALL not in paths:
        outside = 0
        for i in range(0, len(ids), 900):
            chunk = ids[i:i + 900]
            inside = session.exec(
                select(func.count()).select_from(User).join(OrgUnit, OrgUnit.id == User.unit_id)
                .where(col(User.id).in_(chunk), User.active, _in_paths(paths))).one()
            outside += len(chunk) - inside
        if outside:
            raise PermissionDenied("error.out_of_scope")
    else:
        known = sum(session.exec(select(func.count()).select_from(User).where(col(User.id).in_(ids[i:i + 900]),
                                                                            User.active)).one()
                    for i in range(0, len(ids), 900))
        if known != len(ids):
            raise ValidationFailed("error.notice_no_recipients")
    notice = Notice(sender_id=actor.id, sender_name=actor.name, kind=kind, text=body, created_at=utcnow())
    session.add(notice)
    session.flush()
    for i in range(0, len(ids), 5000):
        session.execute(insert(NoticeRecipient), [{"notice_id": notice.id, "user_id": u, "read_at": None}
                                                  for u in ids[i:i + 5000]])
    audit.record(session, actor.id, "notice.send", notice=notice.id, recipients=len(ids), kind=kind)
    session.flush()
    return notice.id


def _in_paths(paths: Sequence[str]):
    return or_(*[col(OrgUnit.path).startswith(p) for p in paths])


def my_notices(session: Session, actor: Actor, *, unread_only: bool = False, limit: int = 20) -> list[NoticeView]:
    """The signed-in person's notices, newest first."""
    q = (select(Notice, NoticeRecipient.read_at).join(NoticeRecipient, NoticeRecipient.notice_id == Notice.id)
         .where(NoticeRecipient.user_id == actor.id))
    if unread_only:
        q = q.where(col(NoticeRecipient.read_at).is_(None))
    rows = session.exec(q.order_by(col(Notice.created_at).desc(), col(Notice.id).desc()).limit(limit)).all()
    return [NoticeView(n.id, n.sender_name, n.kind, n.text, n.created_at, read_at) for n, read_at in rows]


def unread_count(session: Session, actor: Actor) -> int:
    return session.exec(select(func.count()).select_from(NoticeRecipient)
                        .where(NoticeRecipient.user_id == actor.id, col(NoticeRecipient.read_at).is_(None))).one()


def mark_read(session: Session, actor: Actor, *, notice_id: int | None = None) -> int:
    """Mark one of my notices (or all of them) read; another person's notice is never touched."""
    q = update(NoticeRecipient).where(NoticeRecipient.user_id == actor.id, col(NoticeRecipient.read_at).is_(None))
    if notice_id is not None:
        q = q.where(NoticeRecipient.notice_id == notice_id)
    n = session.execute(q.values(read_at=utcnow())).rowcount
    session.flush()
    return n


def sent_by_me(session: Session, actor: Actor, *, limit: int = 20) -> list[tuple[NoticeView, int, int]]:
    """HR: my recent notices with (recipients, read) counts."""
    require_role(actor, "hr")
    rows = session.exec(
        select(Notice, func.count(NoticeRecipient.user_id), func.count(NoticeRecipient.read_at))
        .join(NoticeRecipient, NoticeRecipient.notice_id == Notice.id)
        .where(Notice.sender_id == actor.id).group_by(Notice.id)
        .order_by(col(Notice.created_at).desc()).limit(limit)).all()
    return [(NoticeView(n.id, n.sender_name, n.kind, n.text, n.created_at, None), total, read)
            for n, total, read in rows]
