"""Serve the Streamlit app with two small auth routes beside it (`streamlit run server.py`).

/auth/session trades a one-time sign-in ticket for an HttpOnly, SameSite=Lax session cookie
(Secure behind HTTPS), so a browser refresh keeps the user signed in and page JavaScript never
sees the token. /auth/logout ends the stored session and deletes the cookie."""
import os

import streamlit as st
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from config import get_settings
from models.db import session_scope
from models.migrate import upgrade_db
from services import auth
from ui.session import AUTH_ROUTES_ENV

os.environ[AUTH_ROUTES_ENV] = "1"
upgrade_db()


def _safe_next(value: str | None) -> str:
    """Only same-site relative paths (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _same_site(request: Request) -> bool:
    """Browsers say where a navigation came from (Sec-Fetch-Site). Our sign-in page navigates here
    itself ("same-origin"); a link on another site ("cross-site") must not sign anyone in or out
    (login CSRF). Clients that send no such header (old browsers, scripts) are let through."""
    return request.headers.get("sec-fetch-site", "same-origin") == "same-origin"


def session_route(request: Request) -> RedirectResponse:
    settings = get_settings()
    response = RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    ticket = request.query_params.get("ticket", "") if _same_site(request) else ""
    with session_scope() as s:
        issued = auth.exchange_ticket(s, ticket=ticket) if ticket else None
    if issued:
        token, _expires = issued
        response.set_cookie(settings.cookie_name, token, max_age=settings.session_hours * 3600, path="/",
                            httponly=True, samesite="lax",
                            secure=settings.cookie_secure if settings.cookie_secure is not None
                            else request.url.scheme == "https")
    response.headers["Cache-Control"] = "no-store"
    return response


def logout_route(request: Request) -> RedirectResponse:
    settings = get_settings()
    if not _same_site(request):
        return RedirectResponse("/", status_code=303)
    with session_scope() as s:
        auth.revoke_session(s, token=request.cookies.get(settings.cookie_name))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(settings.cookie_name, path="/")
    return response


app = st.App("app.py", routes=[Route("/auth/session", session_route), Route("/auth/logout", logout_route)])
