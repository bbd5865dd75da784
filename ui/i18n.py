"""Every UI string goes through t(). Catalogues: ui/locales/<locale>.yaml (flat keys)."""
from __future__ import annotations

from functools import cache
from pathlib import Path

import streamlit as st
import yaml
from streamlit.runtime.scriptrunner import get_script_run_ctx

LOCALES = {"zh-CN": "中文", "en": "English"}
DEFAULT = "zh-CN"
_DIR = Path(__file__).parent / "locales"


@cache
def catalogue(locale: str) -> dict[str, str]:
    return yaml.safe_load((_DIR / f"{locale}.yaml").read_text(encoding="utf-8")) or {}


_last_run_locale = DEFAULT


def current_locale() -> str:
    """The session's language. Outside a script run there is no session: Streamlit's AppTest calls a widget's
    format_func from the test thread to map the run's values back to labels, so answer with the language
    of the last run in this process (else an English run's labels are looked up in Chinese and not found)."""
    global _last_run_locale
    if get_script_run_ctx(suppress_warning=True) is None:
        return _last_run_locale
    loc = st.session_state.get("locale", DEFAULT)
    _last_run_locale = loc = loc if loc in LOCALES else DEFAULT
    return loc


def t(key: str, **params) -> str:
    """Translate `key` for the current user's language; a missing key shows itself (and fails the tests)."""
    text = catalogue(current_locale()).get(key) or catalogue(DEFAULT).get(key) or key
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return text
    return text
