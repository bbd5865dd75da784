"""The first statement of every page script: who may be here."""
from __future__ import annotations

import streamlit as st

from services.errors import ServiceError
from services.permissions import Actor
from ui.i18n import t
from ui.session import current_actor


def guard(*roles: str) -> Actor:
    """Stop the page unless the signed-in user holds one of `roles` (admins pass every guard)."""
    actor = current_actor()
    if actor is None:
        st.warning(t("auth.please_sign_in"))
        st.stop()
    if roles and not actor.has("admin") and not any(actor.has(r) for r in roles):
        st.error(t("error.permission_denied"))
        st.stop()
    return actor


def show_error(exc: ServiceError) -> None:
    """Translate a service error for the user."""
    params = {k: (v if not hasattr(v, "strftime") else _fmt_time(v)) for k, v in exc.params.items()}
    st.error(t(exc.code, **params))


def _fmt_time(v) -> str:
    from ui.fmt import local_time
    return local_time(v)
