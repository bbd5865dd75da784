"""Offline training (线下培训, e.g. 党校班) that HR registers, and who attended (migration 0011).

Each attendee is credited through the 学时 ledger (source "offline", one source id per class, person
and step): the ledger stays append-only, so removing someone or changing a class's 学时 adds a
correcting row, never edits one. An attendance row is never deleted either: a removal stamps it, and
a person added again gets a new row (the unique index covers present attendees only)."""
from datetime import date, datetime
from typing import Optional

from sqlalchemy import CheckConstraint, Index, text
from sqlmodel import Field, SQLModel

from models.db import utcnow

PRESENT_WHERE = "removed_at IS NULL"


class OfflineClass(SQLModel, table=True):
    """A class held offline: name, organiser, local dates (both ends included) and the 学时 each
    attendee gets. `unit_id` is its scope: only HR covering that unit manages it, and only people of
    that unit's subtree can attend. The 学时 count in the year the class ends."""
    __tablename__ = "offline_class"
    __table_args__ = (
        CheckConstraint("hours > 0", name="ck_offline_class_hours"),
        CheckConstraint("end_date >= start_date", name="ck_offline_class_dates"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    organiser: str = Field(max_length=128)
    start_date: date
    end_date: date = Field(index=True)
    hours: float
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    created_by: Optional[int] = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class OfflineAttendance(SQLModel, table=True):
    """One person at one class. `ledger_entry_id` is the row that credited them; a removal keeps the
    row (removed_at/removed_by) and the ledger gets the reversing row."""
    __tablename__ = "offline_attendance"
    __table_args__ = (
        Index("uq_offline_attendance_present", "class_id", "user_id", unique=True,
              sqlite_where=text(PRESENT_WHERE), postgresql_where=text(PRESENT_WHERE)),
        Index("ix_offline_attendance_user", "user_id", "class_id"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    class_id: int = Field(foreign_key="offline_class.id")
    user_id: int = Field(foreign_key="app_user.id")
    ledger_entry_id: Optional[int] = Field(default=None, foreign_key="ledger_entry.id")
    added_at: datetime = Field(default_factory=utcnow)
    added_by: Optional[int] = Field(default=None, foreign_key="app_user.id")
    removed_at: Optional[datetime] = None
    removed_by: Optional[int] = Field(default=None, foreign_key="app_user.id")
