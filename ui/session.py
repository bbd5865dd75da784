"""The signed-in user of this browser session, and database sessions for page scripts."""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import quote

import streamlit as st
from sqlmodel import Session

from config import get_settings
from models.db import session_scope
from services import auth
from services.errors import ServiceError
from services.permissions import Actor, load_actor

AUTH_ROUTES_ENV = "ISA_AUTH_ROUTES"   # set by server.py when /auth/* routes are served beside the app


@contextmanager
def db() -> Iterator[Session]:
    with session_scope() as s:
        yield s


def current_actor() -> Actor | None:
    """The signed-in actor. With a session cookie, the cookie decides on every run (so signing out,
    a password change or a reset elsewhere ends this tab too); without one (tests, or the app run
    without server.py) the sign-in of this browser session does."""
    token = _cookie()
    if token:
        with db() as s:
            uid = auth.resolve_session(s, token=token)
        if uid is None:
            st.session_state.pop("user_id", None)
        else:
            st.session_state["user_id"] = uid
    uid = st.session_state.get("user_id")
    if uid is None:
        return None
    try:
        with db() as s:
            actor = load_actor(s, uid)
    except ServiceError:   # deactivated meanwhile
        st.session_state.pop("user_id", None)
        return None
    st.session_state.setdefault("locale", actor.locale)
    return actor


def session_token() -> str | None:
    """This browser's session token (to keep it when the user changes the password here)."""
    return _cookie()


def _cookie() -> str | None:
    try:
        value = st.context.cookies.get(get_settings().cookie_name)
    except Exception:   # no browser context (AppTest)
        return None
    return value if isinstance(value, str) and value else None


def _go(url: str) -> None:
    """Navigate the browser (our own static script; the URL is JSON-encoded)."""
    st.html(f"<script>window.location.replace({json.dumps(url)})</script>", unsafe_allow_javascript=True)


def complete_sign_in(user_id: int, next_path: str = "/") -> None:
    """Sign this session in and, when the auth routes are served, trade a one-time ticket for the
    HttpOnly session cookie so a refresh keeps the user signed in."""
    st.session_state["user_id"] = user_id
    st.session_state.pop("locale", None)
    if os.environ.get(AUTH_ROUTES_ENV):
        with db() as s:
            ticket = auth.issue_login_ticket(s, user_id=user_id)
        _go(f"/auth/session?ticket={quote(ticket)}&next={quote(next_path)}")
        st.stop()
    st.rerun()


def sign_out() -> None:
    with db() as s:
        auth.revoke_session(s, token=_cookie())
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if os.environ.get(AUTH_ROUTES_ENV):
        _go("/auth/logout")
        st.stop()
    st.rerun()


def current_path() -> str:
    """Path of the page the browser asked for (to come back to it after signing in)."""
    try:
        from urllib.parse import urlparse
        path = urlparse(st.context.url).path or "/"
        return path if path.startswith("/") and not path.startswith("//") else "/"
    except Exception:
        return "/"
