from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from models.db import utcnow


class Setting(SQLModel, table=True):
    __tablename__ = "setting"
    key: str = Field(primary_key=True, max_length=64)
    value: Any = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: Optional[int] = Field(default=None, foreign_key="app_user.id")


class UnitTarget(SQLModel, table=True):
    """Annual 学时 target for a unit and its subtree (the nearest ancestor with a target wins)."""
    __tablename__ = "unit_target"
    unit_id: int = Field(primary_key=True, foreign_key="org_unit.id")
    hours: float


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: Optional[int] = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    action: str = Field(max_length=64, index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
