"""Every UI string goes through t(). Catalogues: ui/locales/<locale>.yaml (flat keys)."""
from __future__ import annotations

from functools import cache
from pathlib import Path

import streamlit as st
import yaml

LOCALES = {"zh-CN": "中文", "en": "English"}
DEFAULT = "zh-CN"
_DIR = Path(__file__).parent / "locales"


@cache
def catalogue(locale: str) -> dict[str, str]:
    return yaml.safe_load((_DIR / f"{locale}.yaml").read_text(encoding="utf-8")) or {}


def current_locale() -> str:
    loc = st.session_state.get("locale", DEFAULT)
    return loc if loc in LOCALES else DEFAULT


def t(key: str, **params) -> str:
    """Translate `key` for the current user's language; a missing key shows itself (and fails the tests)."""
    text = catalogue(current_locale()).get(key) or catalogue(DEFAULT).get(key) or key
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return text
    return text
