from typing import Any

from sqlmodel import Session

from models import AuditLog


def record(session: Session, actor_id: int | None, action: str, **detail: Any) -> None:
    session.add(AuditLog(actor_id=actor_id, action=action, detail=detail))


def recent(session: Session, actor, *, action_prefix: str = "", limit: int = 300):
    """The newest audit rows (admins only)."""
    from sqlmodel import col, select

    from models import User
    from services.permissions import require_admin
    require_admin(actor)
    q = select(AuditLog.at, User.username, AuditLog.action, AuditLog.detail).join(User, User.id == AuditLog.actor_id, isouter=True)
    if action_prefix:
        q = q.where(col(AuditLog.action).startswith(action_prefix))
    return session.exec(q.order_by(col(AuditLog.at).desc()).limit(limit)).all()
