"""Serve the Streamlit app with two small auth routes beside it (`streamlit run server.py`).

/auth/session trades a one-time sign-in ticket for an HttpOnly, SameSite=Lax session cookie
(Secure behind HTTPS), so a browser refresh keeps the user signed in and page JavaScript never
sees the token. /auth/logout ends the stored session and deletes the cookie.

Two guards around Streamlit itself: a websocket is opened only from the app's own origin (or one
listed in `allowed_origins`), so another site or another port of this host cannot run a session
with the visitor's cookie; an uncaught error shows the user a short message with an error id, and
the log gets the traceback under that id."""
import html
from contextlib import asynccontextmanager
import logging
import os
import re
import threading
import time
from collections import deque
from urllib.parse import urlsplit

import streamlit as st
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.routing import Route

from config import get_settings
from models.db import session_scope
from models.migrate import upgrade_db
from services import auth, certificates
from ui.guard import report_unexpected
from ui.i18n import catalogue
from ui.session import AUTH_ROUTES_ENV, forwarded_client

# The app navigates with st.navigation (pages are listed per role in app.py). Streamlit decides once per
# process whether a `pages/` folder beside the entry script means old-style multipage pages, and until
# st.navigation has run it treats ours that way: the very first visit after a start to any address but
# "/" (a bookmarked /hours) got a "Page not found" dialog over the page. Settle it before the first run.
from streamlit.runtime.pages_manager import PagesManager  # noqa: E402

PagesManager.uses_pages_directory = False

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


# ---- GET /verify?serial=...: the public certificate check (no sign-in) -------------------------------
# One self-contained page (inline style, no script, nothing fetched from anywhere), every value escaped.
# The same page shape for every serial, known or not; serials carry 80 random bits, and each client may
# ask VERIFY_LIMIT times per VERIFY_WINDOW_S seconds (per server process) before getting a 429.

VERIFY_LIMIT, VERIFY_WINDOW_S = 30, 60.0
_verify_hits: dict[str, deque] = {}
_verify_lock = threading.Lock()
VERIFY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",       # the serial is in the address: never pass it on
    "X-Robots-Tag": "noindex",
}


def verify_allowed(client: str, now: float | None = None) -> bool:
    """A sliding window per client address: at most VERIFY_LIMIT checks in VERIFY_WINDOW_S seconds."""
    now = time.monotonic() if now is None else now
    with _verify_lock:
        if len(_verify_hits) > 10_000:        # forget idle clients so the table stays small
            for key in [k for k, q in _verify_hits.items() if not q or now - q[-1] > VERIFY_WINDOW_S]:
                del _verify_hits[key]
        hits = _verify_hits.setdefault(client, deque())
        while hits and now - hits[0] > VERIFY_WINDOW_S:
            hits.popleft()
        if len(hits) >= VERIFY_LIMIT:
            return False
        hits.append(now)
        return True


def _verify_locale(request: Request) -> str:
    if request.query_params.get("lang") in ("en", "zh-CN"):
        return request.query_params["lang"]
    first = request.headers.get("accept-language", "").split(",", 1)[0].strip().lower()
    return "en" if first.startswith("en") else "zh-CN"


def _local_date(value) -> str:
    from models.db import LOCAL_TZ
    return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d") if value else "—"


def verify_page(result: certificates.PublicVerification | None, *, typed: str, locale: str,
                limited: bool = False) -> str:
    """The HTML of the verification page. `result` None: nothing asked yet (or rate-limited)."""
    cat = catalogue(locale)

    def tr(key: str) -> str:
        return html.escape(cat.get(key) or catalogue("zh-CN").get(key) or key)

    def e(value) -> str:
        return html.escape("" if value is None else str(value))

    body = ""
    if limited:
        body = f'<section class="result unknown" data-status="limited"><h2>{tr("verify.too_many")}</h2></section>'
    elif result is not None:
        rows = []
        if result.status != certificates.UNKNOWN:
            score = f"{certificates.score_text(result.score)} / {certificates.score_text(result.max_score)}"
            fields = [("verify.field.serial", certificates.display_serial(result.serial)),
                      ("verify.field.name", result.holder_name), ("verify.field.unit", result.unit_name or "—"),
                      ("verify.field.title", result.title), ("verify.field.score", score),
                      ("verify.field.date", _local_date(result.issued_at))]
            if result.revoked_at:
                fields.append(("verify.field.revoked_at", _local_date(result.revoked_at)))
            rows = [f"<dt>{tr(k)}</dt><dd>{e(v)}</dd>" for k, v in fields]
        explain = "" if result.status != certificates.UNKNOWN else f"<p>{tr('verify.unknown_hint')}</p>"
        body = (f'<section class="result {e(result.status)}" data-status="{e(result.status)}">'
                f"<h2>{tr('verify.' + result.status)}</h2>{explain}<dl>{''.join(rows)}</dl></section>")
    return f"""<!doctype html>
<html lang="{e(locale)}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<title>{tr("verify.title")} · {tr("app.name")}</title>
<style>
body{{font-family:"Noto Sans CJK SC","Noto Sans SC","PingFang SC","Microsoft YaHei",sans-serif;margin:0;
background:#f5f5f4;color:#1c1917}}
main{{max-width:40rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:.5rem;
box-shadow:0 1px 3px rgba(0,0,0,.12)}}
h1{{font-size:1.5rem;margin:0 0 1rem}} h2{{font-size:1.25rem;margin:0 0 .75rem}}
.result{{border-left:.4rem solid;padding:.75rem 1rem;margin:0 0 1.25rem;border-radius:.25rem}}
.genuine{{border-color:#15803d;background:#f0fdf4}} .revoked{{border-color:#b91c1c;background:#fef2f2}}
.unknown{{border-color:#a16207;background:#fefce8}}
dl{{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem;margin:0}}
dt{{color:#57534e}} dd{{margin:0;overflow-wrap:anywhere;font-weight:600}}
form{{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}}
input{{flex:1 1 14rem;font-size:1rem;padding:.45rem;border:1px solid #a8a29e;border-radius:.25rem}}
button{{font-size:1rem;padding:.45rem 1rem;border:0;border-radius:.25rem;background:#991b1b;color:#fff}}
.note{{color:#57534e;font-size:.875rem;margin-top:1.25rem}}
</style></head>
<body><main>
<h1>{tr("verify.title")}</h1>
{body}
<form method="get" action="/verify">
<label for="serial">{tr("verify.field.serial")}</label>
<input id="serial" name="serial" value="{e(typed[:64])}" maxlength="64" autocomplete="off" spellcheck="false"
 placeholder="XXXX-XXXX-XXXX-XXXX">
<button type="submit">{tr("verify.button")}</button>
</form>
<p class="note">{tr("verify.note")}</p>
</main></body></html>
"""


def verify_route(request: Request) -> HTMLResponse:
    typed = request.query_params.get("serial", "")
    locale = _verify_locale(request)
    result, status, limited = None, 200, False
    if typed:
        client = forwarded_client(request.client.host if request.client else None,
                                  ",".join(request.headers.getlist("x-forwarded-for")) or None,
                                  get_settings().trusted_proxies)
        if not verify_allowed(client):
            limited, status = True, 429
        else:
            with session_scope() as s:
                result = certificates.verify(s, typed)
    headers = dict(VERIFY_HEADERS) | ({"Retry-After": str(int(VERIFY_WINDOW_S))} if limited else {})
    return HTMLResponse(verify_page(result, typed=typed, locale=locale, limited=limited), status_code=status,
                        headers=headers)


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


@asynccontextmanager
async def lifespan(_app):
    """While the server serves: attempts whose time ran out are submitted with what was saved, even when
    nobody comes back (`cli.py exams sweep` does the same from cron)."""
    from services.attempts import start_sweeper, stop_sweeper
    start_sweeper()
    yield None
    stop_sweeper()


app = st.App("app.py", lifespan=lifespan, routes=[Route("/auth/session", session_route), Route("/auth/logout", logout_route),
                               Route("/verify", verify_route)],
             middleware=[Middleware(SameOriginWebsockets), Middleware(SecurityHeaders)], on_script_error=on_script_error)
