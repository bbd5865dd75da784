"""Serve the Streamlit app with two small auth routes beside it (`streamlit run server.py`).

/auth/session trades a one-time sign-in ticket for an HttpOnly, SameSite=Lax session cookie
(Secure behind HTTPS), so a browser refresh keeps the user signed in and page JavaScript never
sees the token. /auth/logout ends the stored session and deletes the cookie.

Two guards around Streamlit itself: a websocket is opened only from the app's own origin (or one
listed in `allowed_origins`), so another site or another port of this host cannot run a session
with the visitor's cookie; an uncaught error shows the user a short message with an error id, and
the log gets the traceback under that id."""
import logging
import os
import re
from urllib.parse import urlsplit

import streamlit as st
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from config import get_settings
from models.db import session_scope
from models.migrate import upgrade_db
from services import auth
from ui.guard import report_unexpected
from ui.session import AUTH_ROUTES_ENV

logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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


log = logging.getLogger("infoskills.server")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_HEADER = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def normalise_origin(value: str | None) -> str | None:
    """"scheme://host[:port]" in one spelling (lower case, default port dropped), or None when
    `value` is not an http(s) origin (missing, "null", a path, credentials, ...)."""
    if not value:
        return None
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if (scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None
            or parts.password is not None or parts.path not in ("", "/") or parts.query or parts.fragment):
        return None
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


def own_origin(scope) -> str | None:
    """The origin this request was addressed to: its scheme (ws -> http, wss -> https) and Host header."""
    headers = {k.lower(): v for k, v in scope.get("headers", [])}
    host = headers.get(b"host", b"").decode("latin-1")
    if not _HOST_HEADER.match(host):
        return None
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    return normalise_origin(f"{scheme}://{host}")


def websocket_origin_allowed(scope, allowed: list[str]) -> bool:
    """A websocket is accepted only from the app's own origin or one of `allowed` (reverse proxies).
    A handshake without Origin is refused too: every browser sends one, so only a script omits it,
    and a script (a load test) can send the app's origin like a browser does."""
    headers = {k.lower(): v for k, v in scope.get("headers", [])}
    origin = normalise_origin(headers.get(b"origin", b"").decode("latin-1"))
    own = own_origin(scope)
    if origin is None or own is None:      # no usable Origin, or no usable Host to compare with
        return False
    return origin == own or origin in {normalise_origin(o) for o in allowed}


class SameOriginWebsockets:
    """ASGI middleware in front of Streamlit: a websocket from any other origin is closed before it
    is accepted (the client gets HTTP 403), so no session starts and its cookie is never read.
    (Streamlit's own check accepts localhost and this machine's addresses on any port.)

    An accepted handshake reaches Streamlit with Origin set to the origin it was addressed to, so
    Streamlit's weaker check agrees with this one for a configured proxy origin too, and never
    looks up this machine's public address on the internet to decide."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            headers = [(k.lower(), v) for k, v in scope.get("headers", [])]
            if not websocket_origin_allowed(scope, get_settings().allowed_origins):
                named = dict(headers)
                log.warning("refused websocket %s: origin=%r host=%r", scope.get("path"),
                            named.get(b"origin", b"").decode("latin-1")[:200],
                            named.get(b"host", b"").decode("latin-1")[:200])
                await send({"type": "websocket.close", "code": 1008})
                return
            host = dict(headers)[b"host"]
            scheme = b"https" if scope.get("scheme") in ("wss", "https") else b"http"
            scope = {**scope, "headers": [(k, v) for k, v in headers if k != b"origin"]
                     + [(b"origin", scheme + b"://" + host)]}
        await self.app(scope, receive, send)


SECURITY_HEADERS = [
    # only the app itself may frame its pages: a page on another port of this host is the same
    # *site* (the SameSite=Lax cookie goes along), so without this it could frame a signed-in page
    (b"content-security-policy", b"frame-ancestors 'self'"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"x-content-type-options", b"nosniff"),
    # a link out of a lesson does not tell the other site which intranet page it came from
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS to every HTTP response (Streamlit's and ours)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message = {**message, "headers": list(message.get("headers", []))
                           + [(k, v) for k, v in SECURITY_HEADERS if k not in present]}
            await send(message)
        await self.app(scope, receive, send_with_headers)


def on_script_error(exc: Exception) -> bool:
    """Any uncaught error in a page, a widget callback or a fragment: the user sees a short message
    with an error id, the log has the traceback (Streamlit skips st.stop/st.rerun/switch_page here).
    True = Streamlit does not draw its own exception box."""
    report_unexpected(exc)
    return True


app = st.App("app.py", routes=[Route("/auth/session", session_route), Route("/auth/logout", logout_route)],
             middleware=[Middleware(SameOriginWebsockets), Middleware(SecurityHeaders)], on_script_error=on_script_error)
