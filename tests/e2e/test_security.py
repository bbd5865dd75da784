"""Security baseline on the real server (`streamlit run server.py`) and in Debian's Chromium:
the websocket only from the app's own origin, no request to any other host, people's text shown
as text, and an error id instead of a traceback.

Each test module here starts its own server on a fresh database, so the tests stand alone
(any order, any subset) and never touch the shared `server` fixture's data."""
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import text
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from config import ROOT
from models.db import get_engine, session_scope
from services import auth, users
from services.permissions import system_actor
from tests.dbutil import fresh_database_url
from ui.fmt import WORD_JOINER

PROXY_ORIGIN = "https://learn.example.gov.cn"      # a reverse proxy's public origin, configured
HOSTILE_NAME = "**x**[y](http://e.x) :material/school: :red[z] :streamlit:"   # 57 of 64
SCRIPT_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _server(log_path, **env_extra):
    """`streamlit run server.py` on a fresh database; yields url, database_url and the log path."""
    url_db = fresh_database_url("sec")
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url_db, **env_extra}
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "server.py", "--server.port", str(port),
                                 "--server.address", "127.0.0.1", "--server.headless", "true"],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:   # start-up: poll the health endpoint (no assertion depends on this timing)
            try:
                if urllib.request.urlopen(base + "/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"server did not start; see {log_path}")
                time.sleep(0.3)
        yield {"url": base, "port": port, "database_url": url_db, "log": log_path}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        get_engine(url_db).dispose()


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    with _server(tmp_path_factory.mktemp("sec") / "server.log",
                 ALLOWED_ORIGINS=json.dumps([PROXY_ORIGIN])) as srv:
        yield srv


def _learner(srv, name="安全 测试") -> int:
    """A signed-up learner in the server's database (not the first-run state: an admin exists)."""
    with session_scope(srv["database_url"]) as s:
        from sqlmodel import select

        from models import OrgUnit
        unit = s.exec(select(OrgUnit)).first()
        if unit is None:
            from services import org
            unit = org.create_unit(s, system_actor(), code=f"SEC-{uuid.uuid4().hex[:6]}", name="测试市", kind="city")
        if users.needs_setup(s):
            admin, _ = users.create_user(s, system_actor(), user_in=users.UserCreate(
                username=f"adm{uuid.uuid4().hex[:8]}", name="管理员", unit_id=unit.id, password="Admin2026!ok",
                grants=[users.Grant(role="admin")]))
            admin.must_change_password = False
        u, _ = users.create_user(s, system_actor(), user_in=users.UserCreate(
            username=f"sec.{uuid.uuid4().hex[:8]}@dept.example", name=name, unit_id=unit.id, password="Learn2026!ok",
            grants=[users.Grant(role="learner")]))
        u.must_change_password = False
        s.add(u)
        s.flush()
        return u.id


def _session_cookie(srv, user_id: int) -> str:
    with session_scope(srv["database_url"]) as s:
        ticket = auth.issue_login_ticket(s, user_id=user_id)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None
    req = urllib.request.Request(f"{srv['url']}/auth/session?ticket={ticket}&next=/",
                                 headers={"Sec-Fetch-Site": "same-origin"})
    try:
        urllib.request.build_opener(NoRedirect).open(req, timeout=10)
    except urllib.error.HTTPError as exc:
        set_cookie = exc.headers["Set-Cookie"]
    return set_cookie.split(";", 1)[0]


def _sign_in_browser(page, srv, user_id: int, next_path: str = "/") -> None:
    """What the sign-in page does after a good password: a same-origin navigation to /auth/session."""
    with session_scope(srv["database_url"]) as s:
        ticket = auth.issue_login_ticket(s, user_id=user_id)
    page.evaluate("url => window.location.assign(url)", f"/auth/session?ticket={ticket}&next={next_path}")
    expect(page.get_by_role("button", name="退出登录")).to_be_visible(timeout=30_000)
    expect(page.locator(SCRIPT_IDLE)).to_be_attached(timeout=30_000)


def _ws(srv, origin: str | None, cookie: str | None = None):
    headers = {}
    if origin is not None:
        headers["Origin"] = origin
    if cookie:
        headers["Cookie"] = cookie
    return connect(f"ws://127.0.0.1:{srv['port']}/_stcore/stream", additional_headers=headers,
                   subprotocols=["streamlit"], open_timeout=10)


def _refused(srv, origin, cookie=None) -> int:
    with pytest.raises(InvalidStatus) as err, _ws(srv, origin, cookie):
        pass
    return err.value.response.status_code


# --- 1. cross-site websocket hijacking ------------------------------------------------------------

def test_websocket_from_another_port_of_this_host_is_refused(app_server):
    """The attack: an intranet page on 127.0.0.1:9999 opens our stream with the victim's cookie."""
    cookie = _session_cookie(app_server, _learner(app_server))
    assert _refused(app_server, "http://127.0.0.1:9999", cookie) == 403
    for origin in ("http://localhost:9999", f"http://localhost:{app_server['port']}",   # Streamlit allows these
                   f"https://127.0.0.1:{app_server['port']}", "http://evil.example", "null", ""):
        assert _refused(app_server, origin, cookie) == 403, origin


def test_websocket_without_origin_is_refused(app_server):
    """Browsers always send Origin; a client that does not is no browser and must send ours."""
    assert _refused(app_server, None) == 403



def test_websocket_from_own_origin_and_configured_proxy_is_accepted(app_server):
    cookie = _session_cookie(app_server, _learner(app_server))
    for origin in (app_server["url"], PROXY_ORIGIN):
        with _ws(app_server, origin, cookie) as ws:
            assert ws.protocol.state.name == "OPEN", origin


def test_refusal_is_logged(app_server):
    _refused(app_server, "http://127.0.0.1:9999")
    assert "refused websocket /_stcore/stream: origin='http://127.0.0.1:9999'" in app_server["log"].read_text()


def test_pages_may_be_framed_by_the_app_only(app_server):
    """Another port of this host is the same site, so the cookie would go along into its frame."""
    for path in ("/", "/hours", "/_stcore/health"):
        r = urllib.request.urlopen(app_server["url"] + path, timeout=10)
        assert r.headers["Content-Security-Policy"] == "frame-ancestors 'self'", path
        assert r.headers["X-Frame-Options"] == "SAMEORIGIN" and r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "same-origin"


# --- offline intranet: no request to any other host -----------------------------------------------

def test_sign_in_page_and_signed_in_pages_load_nothing_from_other_hosts(app_server, browser):
    user_id = _learner(app_server)
    context = browser.new_context()
    seen: list[str] = []
    context.on("request", lambda request: seen.append(request.url))
    page = context.new_page()
    page.goto(app_server["url"] + "/")
    expect(page.get_by_label("用户名")).to_be_visible(timeout=30_000)
    icons = page.locator('link[rel~="icon"]')
    expect(icons.first).to_have_attribute("href", re.compile(r"/media/"), timeout=30_000)   # our page_icon
    _sign_in_browser(page, app_server, user_id)
    for path in ("/hours", "/profile", "/catalogue"):
        page.goto(app_server["url"] + path)
        expect(page.get_by_role("button", name="退出登录")).to_be_visible(timeout=30_000)
        expect(page.locator("h1").first).to_be_visible(timeout=30_000)
        expect(page.locator(SCRIPT_IDLE)).to_be_attached(timeout=30_000)
        expect(icons.first).to_have_attribute("href", re.compile(r"/media/"), timeout=30_000)
    hrefs = [icons.nth(i).get_attribute("href") for i in range(icons.count())]
    context.close()
    own = urlsplit(app_server["url"]).netloc
    foreign = [u for u in seen if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).netloc != own]
    assert seen and not foreign, foreign
    assert all(urlsplit(page_url(app_server, h)).netloc == own for h in hrefs), hrefs


def page_url(srv, href: str) -> str:
    return href if "//" in href else srv["url"] + "/" + href.lstrip("./")


# --- people's text is text -------------------------------------------------------------------------

def test_names_render_as_text_in_sidebar_and_profile(app_server, browser):
    user_id = _learner(app_server, name=HOSTILE_NAME)
    context = browser.new_context()
    page = context.new_page()
    page.goto(app_server["url"] + "/")
    expect(page.get_by_label("用户名")).to_be_visible(timeout=30_000)
    _sign_in_browser(page, app_server, user_id, "/profile")
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="姓名")
    expect(metric).to_be_visible(timeout=30_000)
    caption = page.locator('[data-testid="stSidebar"] [data-testid="stCaptionContainer"]').filter(has_text="已登录")
    expect(caption).to_be_visible()
    for where in (metric, caption):
        assert HOSTILE_NAME in where.inner_text().replace(WORD_JOINER, ""), where.inner_text()
        for markup in ("a", "strong", "img", '[role="img"]', "span[class*=color]", "[style*=color]"):
            assert where.locator(markup).count() == 0, (markup, where.inner_html())
    username = page.locator('[data-testid="stMetric"]').filter(has_text="用户名")
    assert username.locator("a").count() == 0, username.inner_html()    # sec.x@dept.example is no mailto: link
    context.close()


# --- tracebacks: the user sees an error id, the log has the traceback ---------------------------------

def test_unexpected_error_shows_an_id_and_logs_the_traceback(browser, tmp_path):
    with _server(tmp_path / "server.log") as srv:
        with get_engine(srv["database_url"]).begin() as c:      # the app's user table is gone
            c.execute(text("ALTER TABLE app_user RENAME TO app_user_gone"))
        context = browser.new_context()
        page = context.new_page()
        page.goto(srv["url"] + "/")
        message = page.locator('[class*="st-key-unexpected_error_"]').get_by_text("错误编号")
        expect(message).to_be_visible(timeout=30_000)
        expect(page.locator(SCRIPT_IDLE)).to_be_attached(timeout=30_000)
        shown = page.locator('[data-testid="stApp"]').inner_text()
        assert page.locator('[data-testid="stException"]').count() == 0     # no Streamlit exception box
        context.close()
        error_id = re.search(r"错误编号 ([0-9a-f]{12})", shown).group(1)
        for leak in ("Traceback", "File \"", ".py", "app_user", "sqlalchemy", "OperationalError", str(ROOT)):
            assert leak not in shown, leak
        log = srv["log"].read_text()
        at = log.index(f"unexpected error {error_id}")
        assert "Traceback (most recent call last)" in log[at:] and "app_user" in log[at:]
