from typing import Any

from sqlmodel import Session

from models import AuditLog


def record(session: Session, actor_id: int | None, action: str, **detail: Any) -> None:
    session.add(AuditLog(actor_id=actor_id, action=action, detail=detail))
