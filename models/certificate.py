"""Certificates issued for a passed exam attempt: what the paper says, frozen at issue time, plus
its revocation. Anyone holding the serial can check it on the public /verify page."""
from datetime import datetime
from typing import Optional

from sqlmodel import Field, SQLModel

from models.db import utcnow

SERIAL_LENGTH = 16      # base32 characters: 80 random bits


class Certificate(SQLModel, table=True):
    """One certificate per attempt (attempt_id unique; NULL for certificates issued without one).
    Holder name, unit name and title are copied at issue time: the certificate says what it said
    when it was issued, whatever happens to the account, the unit or the exam later."""
    __tablename__ = "certificate"
    id: Optional[int] = Field(default=None, primary_key=True)
    serial: str = Field(max_length=SERIAL_LENGTH, unique=True, index=True)
    attempt_id: Optional[int] = Field(default=None, foreign_key="attempt.id", unique=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    holder_name: str = Field(max_length=64)
    unit_name: Optional[str] = Field(default=None, max_length=128)
    title: str = Field(max_length=200)
    score: float
    max_score: float
    issued_at: datetime = Field(default_factory=utcnow, index=True)
    revoked_at: Optional[datetime] = None
    revoked_by: Optional[int] = Field(default=None, foreign_key="app_user.id")
    revoke_reason: Optional[str] = Field(default=None, max_length=400)
