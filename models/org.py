from datetime import datetime
from typing import Optional

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from models.db import utcnow

UNIT_KINDS = ("city", "district", "department", "unit", "town", "village", "station")


class OrgUnit(SQLModel, table=True):
    """A node of the org tree. `path` is the materialised id path ("/1/4/17/") for subtree queries."""
    __tablename__ = "org_unit"
    id: Optional[int] = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=128)
    kind: str = Field(default="unit", max_length=16)
    parent_id: Optional[int] = Field(default=None, foreign_key="org_unit.id", index=True)
    path: str = Field(default="/", max_length=512, index=True)
    depth: int = 0
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    retired_at: Optional[datetime] = None


class Membership(SQLModel, table=True):
    """Which unit a person belonged to, over time (statistics by department use the period)."""
    __tablename__ = "membership"
    __table_args__ = (Index("ix_membership_user_from", "user_id", "valid_from"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    valid_from: datetime = Field(default_factory=utcnow)
    valid_to: Optional[datetime] = None
