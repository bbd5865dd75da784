"""/auth/session and /auth/logout on the real server: one-time tickets, cookie flags, no open redirect.
Each test signs in a person of its own (tests/e2e/helpers.py)."""
import urllib.error
import urllib.request

from sqlmodel import select

from models import User
from models.db import session_scope
from services import auth
from tests.e2e.helpers import make_org, make_user


def _own_user(server) -> int:
    db = server["database_url"]
    username = make_user(db, "learner", unit=make_org(db)["village"])
    with session_scope(db) as s:
        return s.exec(select(User.id).where(User.username == username)).one()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _get(url, cookie=None, site=None):
    opener = urllib.request.build_opener(_NoRedirect)
    headers = {"Cookie": cookie} if cookie else {}
    if site:
        headers["Sec-Fetch-Site"] = site
    req = urllib.request.Request(url, headers=headers)
    try:
        return opener.open(req, timeout=10)
    except urllib.error.HTTPError as exc:   # 3xx arrive here when not followed
        return exc


def test_ticket_exchange_sets_a_safe_cookie_once(server):
    uid = _own_user(server)
    with session_scope(server["database_url"]) as s:
        ticket = auth.issue_login_ticket(s, user_id=uid)
    r = _get(f"{server['url']}/auth/session?ticket={ticket}&next=/hours")
    assert r.status == 303 and r.headers["Location"] == "/hours"
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("isa_session=") and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert "Path=/" in cookie
    token = cookie.split(";", 1)[0].split("=", 1)[1]
    with session_scope(server["database_url"]) as s:
        assert auth.resolve_session(s, token=token) == uid
    again = _get(f"{server['url']}/auth/session?ticket={ticket}&next=/hours")
    assert again.status == 303 and "Set-Cookie" not in again.headers      # spent
    out = _get(f"{server['url']}/auth/logout", cookie=f"isa_session={token}")
    assert out.status == 303
    deleted = out.headers["Set-Cookie"]          # the cookie is deleted: emptied and expired at once
    assert deleted.startswith(('isa_session="";', "isa_session=;")), deleted
    assert "max-age=0" in deleted.lower() and "Path=/" in deleted, deleted
    with session_scope(server["database_url"]) as s:
        assert auth.resolve_session(s, token=token) is None


def test_no_open_redirect_and_no_cookie_for_bad_tickets(server):
    for nxt in ("//evil.example/x", "https://evil.example/", "\\\\evil", "javascript:alert(1)"):
        r = _get(f"{server['url']}/auth/session?ticket=nonsense&next={nxt}")
        assert r.status == 303 and r.headers["Location"] == "/", nxt
        assert "Set-Cookie" not in r.headers


def test_links_from_other_sites_cannot_sign_in_or_out(server):
    """Login CSRF: an attacker's own ticket sent to a victim from another site is not honoured."""
    uid = _own_user(server)
    with session_scope(server["database_url"]) as s:
        ticket = auth.issue_login_ticket(s, user_id=uid)
    r = _get(f"{server['url']}/auth/session?ticket={ticket}&next=/", site="cross-site")
    assert r.status == 303 and "Set-Cookie" not in r.headers
    ok = _get(f"{server['url']}/auth/session?ticket={ticket}&next=/", site="same-origin")
    assert "isa_session=" in ok.headers["Set-Cookie"]       # the ticket was not spent by the refused call
    token = ok.headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]
    out = _get(f"{server['url']}/auth/logout", cookie=f"isa_session={token}", site="cross-site")
    assert out.status == 303 and "Set-Cookie" not in out.headers
    with session_scope(server["database_url"]) as s:
        assert auth.resolve_session(s, token=token) == uid
