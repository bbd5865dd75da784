"""Formatting for display: times in the city's zone (stored in UTC), hours, durations."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pandas as pd

from models.db import LOCAL_TZ


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None or pd.isna(value):
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(LOCAL_TZ).strftime(fmt)


def hours(value: float) -> str:
    return f"{value:g}"


def duration(seconds: int) -> str:
    """Study time in the user's language: 25 分钟 / 1 小时 05 分钟."""
    from ui.i18n import t
    m = int(seconds) // 60
    return t("fmt.hours_minutes", h=m // 60, m=f"{m % 60:02d}") if m >= 60 else t("fmt.minutes", m=m)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$@])")
# Streamlit's Markdown also rewrites plain text after parsing, where a backslash no longer counts:
# :material/icon: and :material_icon:, :streamlit:, emoji shortcodes, and GFM autolinks
# (http://..., www...., name@host.x). An invisible WORD JOINER after each ":" and "@" and inside
# "www." breaks every one of those patterns; the text reads the same.
WORD_JOINER = "\u2060"
_WWW_DOT = re.compile(r"(www)(\\\.)", re.IGNORECASE)


def md_text(value: str) -> str:
    """Plain text for a Markdown context (names typed by people must not become links, icons,
    colours or other markup)."""
    escaped = _MD_SPECIAL.sub(r"\\\1", str(value))
    escaped = escaped.replace("\\:", "\\:" + WORD_JOINER).replace("\\@", "\\@" + WORD_JOINER)
    return _WWW_DOT.sub(r"\1" + WORD_JOINER + r"\2", escaped)
