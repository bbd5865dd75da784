"""The signed-in user of this browser session, and database sessions for page scripts."""
from __future__ import annotations

import ipaddress
import json
import os
from contextlib import contextmanager
from collections.abc import Iterator
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


def forwarded_client(peer: str | None, forwarded_for: str | None, trusted_proxies: list[str]) -> str:
    """The client address for sign-in throttling. `peer` is the address the connection came from
    (None means loopback, as st.context reports it). Only when the peer is a trusted proxy is
    X-Forwarded-For believed, read from the right (the hop our proxy added) past further trusted
    proxies; anything unparsable stops there. Without trusted proxies the header is ignored, since
    anyone can send it."""
    def parse(value: str | None):
        try:
            ip = ipaddress.ip_address((value or "").strip())
        except ValueError:
            return None
        return getattr(ip, "ipv4_mapped", None) or ip

    networks = []
    for entry in trusted_proxies:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue

    def trusted(ip) -> bool:
        return any(ip.version == net.version and ip in net for net in networks)

    addr = parse(peer) if peer else ipaddress.ip_address("127.0.0.1")
    if addr is None:
        return (peer or "-")[:64]
    if not forwarded_for or not trusted(addr):
        return str(addr)
    for hop in reversed(forwarded_for.split(",")):
        ip = parse(hop)
        if ip is None:
            break
        addr = ip
        if not trusted(ip):
            break
    return str(addr)


def client_address() -> str:
    """This browser's address as sign-in throttling should count it (see forwarded_client)."""
    peer, forwarded = st.context.ip_address, st.context.headers.get_all("X-Forwarded-For")
    peer = peer if isinstance(peer, str) else None     # AppTest hands out stand-in objects
    forwarded = ",".join(v for v in forwarded if isinstance(v, str)) if isinstance(forwarded, list) else ""
    return forwarded_client(peer, forwarded or None, get_settings().trusted_proxies)


def _go(url: str) -> None:
    """Navigate the browser (our own static script; the URL is JSON-encoded)."""
    # JSON-encoded, and "<" escaped so no value can close the script element
    st.html(f"<script>window.location.replace({json.dumps(url).replace('<', chr(92) + 'u003c')})</script>",
            unsafe_allow_javascript=True)


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
