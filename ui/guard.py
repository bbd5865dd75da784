"""The first statement of every page script: who may be here."""
from __future__ import annotations

import logging
import uuid

import streamlit as st

from services.errors import ServiceError
from services.permissions import Actor
from ui.fmt import md_text
from ui.i18n import t
from ui.session import current_actor

log = logging.getLogger("infoskills.errors")


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
    params = {k: (_fmt_time(v) if hasattr(v, "strftime") else md_text(v) if isinstance(v, str) else v)
              for k, v in exc.params.items()}
    st.error(t(exc.code, **params))


def _fmt_time(v) -> str:
    from ui.fmt import local_time
    return local_time(v)


def act(call, *, flash_key: str, flash: str) -> None:
    """Run one service call in its own unit of work. On success leave `flash` for the next run
    (shown by the page) and rerun; on a service error show it translated and stay."""
    from ui.session import db
    try:
        with db() as s:
            call(s)
    except ServiceError as exc:
        show_error(exc)
        return
    st.session_state[flash_key] = flash
    st.rerun()


def fetch(call):
    """Read through a service in its own unit of work; on a service error show it and stop the page."""
    from ui.session import db
    try:
        with db() as s:
            return call(s)
    except ServiceError as exc:
        show_error(exc)
        st.stop()


def report_unexpected(exc: BaseException) -> str:
    """An error nobody planned for: the log gets the traceback under a fresh error id, the user a
    short translated message naming that id (no paths, no code). Returns the id."""
    error_id = uuid.uuid4().hex[:12]
    log.error("unexpected error %s", error_id, exc_info=(type(exc), exc, exc.__traceback__))
    try:   # the keyed container gives browser tests a hook: [class*="st-key-unexpected_error_"]
        with st.container(key=f"unexpected_error_{error_id}"):
            st.error(t("error.unexpected", id=error_id), icon=":material/error:")
    except Exception:   # drawing must not hide the original failure; the log has it
        log.exception("could not show error %s", error_id)
    return error_id
