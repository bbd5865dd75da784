"""Formatting for display: times in the city's zone (stored in UTC), hours, durations."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pandas as pd

from models.db import LOCAL_TZ


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None or pd.isna(value):
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(LOCAL_TZ).strftime(fmt)


def hours(value: float) -> str:
    return f"{value:g}"


def duration(seconds: int) -> str:
    m = int(seconds) // 60
    return f"{m // 60}h {m % 60:02d}m" if m >= 60 else f"{m} min"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$])")


def md_text(value: str) -> str:
    """Plain text for a Markdown context (names typed by people must not become links or markup)."""
    return _MD_SPECIAL.sub(r"\\\1", str(value))
