"""Driving the app in Chromium without guessing how long anything takes.

Waiting follows Streamlit's own end-to-end suite (e2e_playwright/conftest.py, `wait_for_app_run`):
the app is connected (`data-test-connection-state="CONNECTED"`), its script has finished
(`data-test-script-state="notRunning"`) and no element is stale or a skeleton. That alone cannot tell
an old "notRunning" from a new one: right after a click, or while the browser is being sent through
/auth/session, the previous run still says "notRunning". Streamlit's helper covers that gap with a
fixed initial wait; here the gap is closed by watching the app's websocket instead:

* every action that should rerun the script is wrapped in `Tab.act` (a rerun on the same page) or
  `Tab.navigate` (a new document: goto, reload, sign-in and sign-out through /auth/*);
* the wait first sees the run start — the browser sends a `rerun_script` message after the action
  (for a navigation: on a websocket opened after the action) — and then the server's
  `script_finished` for the last such request; only then the DOM checks above, with Playwright's
  retrying `expect`. By then the server has committed whatever the run wrote, so database checks
  after `act` need no waiting of their own.

Assertions use `expect(...)` (retrying), never a one-shot read of something still changing.
There are no fixed sleeps anywhere in tests/e2e."""
from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from config import ROOT

# screenshots and server logs; E2E_ARTIFACTS gives a second run at the same time its own folder (.ci/run)
ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS") or ROOT / "tests" / "e2e" / "artifacts")
APP = '[data-testid="stApp"]'
RUN_TIMEOUT = 60_000          # ms; an upper bound only: two shared cores, often busy
_DONE = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
         ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}      # not FINISHED_EARLY_FOR_RERUN


# ---------------------------------------------------------------- waiting for Streamlit


@dataclass
class _Runs:
    """What the page's Streamlit websockets carried, in order: ("open" | "rerun" | "done", socket no.)."""
    events: list[tuple[str, int]] = field(default_factory=list)
    sockets: int = 0
    current: object = None       # the newest /_stcore/stream WebSocket

    def on_websocket(self, ws) -> None:
        if not ws.url.split("?", 1)[0].endswith("/_stcore/stream"):
            return
        self.sockets += 1
        no = self.sockets
        self.current = ws
        self.events.append(("open", no))
        ws.on("framesent", lambda payload: self._sent(no, payload))
        ws.on("framereceived", lambda payload: self._received(no, payload))

    def _sent(self, no: int, payload) -> None:
        if isinstance(payload, (bytes, bytearray)):
            msg = BackMsg.FromString(bytes(payload))
            if msg.WhichOneof("type") == "rerun_script":
                self.events.append(("rerun", no))

    def _received(self, no: int, payload) -> None:
        if isinstance(payload, (bytes, bytearray)):
            msg = ForwardMsg.FromString(bytes(payload))
            if msg.WhichOneof("type") == "script_finished" and msg.script_finished in _DONE:
                self.events.append(("done", no))

    def finished_since(self, mark: int, *, new_document: bool) -> bool:
        """A run was requested after `mark` (on the newest socket, opened after `mark` if
        `new_document`), and the server has finished the last run requested there."""
        no = self.sockets
        if new_document and not any(e == ("open", no) for e in self.events[mark:]):
            return False
        last = max((i for i, e in enumerate(self.events) if e == ("rerun", no)), default=-1)
        return last >= mark and ("done", no) in self.events[last + 1:]


class Tab:
    """A page of the app with its run watcher. Every rerun goes through `act` or `navigate`."""

    def __init__(self, page: Page, base: str):
        self.page, self.base = page, base
        self.runs = _Runs()
        page.on("websocket", self.runs.on_websocket)
        page.set_default_timeout(RUN_TIMEOUT)

    # -- the three ways a run starts
    def goto(self, path: str, timeout: int = RUN_TIMEOUT) -> Tab:
        return self.navigate(lambda: self.page.goto(self.base + path), timeout=timeout)

    def reload(self) -> Tab:
        return self.navigate(self.page.reload)

    def act(self, action: Callable[[], object], timeout: int = RUN_TIMEOUT) -> Tab:
        """Do something that reruns the script on this page, and wait until that rerun is done."""
        mark = len(self.runs.events)
        action()
        self._wait(mark, new_document=False, timeout=timeout)
        return self

    def navigate(self, action: Callable[[], object], timeout: int = RUN_TIMEOUT) -> Tab:
        """Do something that loads a new document (goto, reload, a redirect through /auth/*), and wait
        until the new document's first run is done."""
        mark = len(self.runs.events)
        action()
        self._wait(mark, new_document=True, timeout=timeout)
        return self

    def _wait(self, mark: int, *, new_document: bool, timeout: int) -> None:
        deadline = time.monotonic() + timeout / 1000
        while not self.runs.finished_since(mark, new_document=new_document):
            left = int((deadline - time.monotonic()) * 1000)
            if left <= 0:
                raise PlaywrightTimeout(f"no finished rerun within {timeout} ms after the action; "
                                        f"websocket events since: {self.runs.events[mark:]}")
            ws = self.runs.current
            try:
                if ws is None or ws.is_closed() or (new_document and ("open", self.runs.sockets)
                                                    not in self.runs.events[mark:]):
                    self.page.wait_for_event("websocket", timeout=left)      # the new document's socket
                else:
                    ws.wait_for_event("framereceived", timeout=left)         # events are handled meanwhile
            except PlaywrightTimeout:
                continue          # the loop reports what was seen
            except PlaywrightError:
                continue          # the socket closed while waiting: a navigation; look again
        wait_for_app_run(self.page)

    def choose(self, box, typed: str, option: str | re.Pattern, *, reruns: bool = True) -> Tab:
        """Pick in a Streamlit selectbox (`box`, a combobox locator) by keyboard: type to filter, wait until the
        wanted option is the highlighted one, press Enter. Clicking the option was flaky on a busy machine: the
        list re-renders while it filters and the clicked node was detached mid-click (seen 1 in ~10 runs).
        `reruns=False` inside a form (choosing there does not rerun the script)."""
        box.click()
        box.press_sequentially(typed)
        highlighted = self.page.locator("[role=option][data-focused=true]")
        for _ in range(5):
            try:      # the list can close by itself while typing, or highlight another match: ArrowDown moves on
                expect(highlighted).to_have_text(option, timeout=3_000)
                break
            except AssertionError:
                box.press("ArrowDown")
        expect(highlighted).to_have_text(option, timeout=3_000)
        if reruns:
            self.act(lambda: box.press("Enter"))
        else:
            box.press("Enter")
        return self

    # -- small conveniences
    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def heading(self):
        return self.page.locator("h1").first

    def expand_sidebar_nav(self) -> None:
        """Streamlit folds a long page list behind "View N more" (client side, no rerun): unfold it."""
        more = self.page.get_by_test_id("stSidebarNavViewButton").filter(has_text=re.compile(r"\bmore\b"))
        if more.count():
            more.click()
            expect(more).to_have_count(0)

    def sidebar_link(self, name: str):
        self.expand_sidebar_nav()
        return self.page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True)

    def expect_path(self, path: str) -> None:
        """Where the browser is now (`wait_for_url` waits for it)."""
        self.page.wait_for_url(re.compile(rf"^{re.escape(self.base)}{re.escape(path)}(\?.*)?$"))

    def expect_no_error(self) -> None:
        """No exception box and no "unexpected error" message (server.py shows those with an id)."""
        expect(self.page.get_by_test_id("stException")).to_have_count(0)
        expect(self.page.get_by_text(UNEXPECTED)).to_have_count(0)


def wait_for_app_run(page: Page, timeout: int = RUN_TIMEOUT) -> None:
    """Streamlit's own settle check: connected, script finished, nothing stale, no skeletons."""
    app = page.locator(APP)
    expect(app).to_have_attribute("data-test-connection-state", "CONNECTED", timeout=timeout)
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout)
    expect(page.locator('[data-stale="true"]')).to_have_count(0, timeout=timeout)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=timeout)


def new_tab(browser, base: str, **context_args) -> Tab:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN", **context_args)
    return Tab(context.new_page(), base)


def sign_in(tab: Tab, username: str, password: str, *, path: str = "/") -> None:
    """Sign in on the page at `path`: the app sends the browser through /auth/session (a new document)
    and back to `path`, signed in."""
    tab.goto(path)
    page = tab.page
    page.get_by_label(msg("field.username"), exact=True).fill(username)
    page.get_by_label(msg("field.password"), exact=True).fill(password)
    with page.expect_response(lambda r: "/auth/session" in r.url) as exchanged:
        tab.navigate(lambda: page.get_by_role("button", name=msg("auth.sign_in"), exact=True).click())
    assert exchanged.value.status == 303
    tab.expect_path(path)
    expect(page.get_by_role("button", name=msg("auth.sign_out"))).to_be_visible()


def sign_out(tab: Tab) -> None:
    page = tab.page
    with page.expect_response(lambda r: "/auth/logout" in r.url):
        tab.navigate(lambda: page.get_by_role("button", name=msg("auth.sign_out")).click())
    tab.expect_path("/")
    expect(tab.heading()).to_have_text(msg("login.title"))


# ---------------------------------------------------------------- the UI's own words


@cache
def _catalogue() -> dict[str, str]:
    return yaml.safe_load(Path(ROOT / "ui" / "locales" / "zh-CN.yaml").read_text(encoding="utf-8"))


def msg(key: str, **params) -> str:
    """A zh-CN catalogue text (tests follow wording changes; a missing key fails here)."""
    text = _catalogue()[key]
    return text.format(**params) if params else text


def msg_pattern(key: str, **fixed) -> re.Pattern:
    """The catalogue text as a whole-text pattern: `fixed` placeholders literal, the others any text."""
    parts = re.split(r"(\{\w+\})", _catalogue()[key])
    out = []
    for part in parts:
        name = part[1:-1] if re.fullmatch(r"\{\w+\}", part) else None
        out.append(re.escape(str(fixed[name])) if name in fixed else ".+?" if name else re.escape(part))
    return re.compile("^" + "".join(out) + "$")


UNEXPECTED = re.compile(msg_pattern("error.unexpected").pattern if "error.unexpected" in _catalogue()
                        else r"(?!)")


# ---------------------------------------------------------------- people and units of the test's own


def tag() -> str:
    return uuid.uuid4().hex[:8]


def make_org(database_url: str) -> dict[str, str]:
    """A small tree of the test's own (city → district → town → village, a department): codes by kind."""
    from models.db import session_scope
    from services import org
    from services.permissions import system_actor
    t = tag().upper()
    codes = {}
    with session_scope(database_url) as s:
        sysa = system_actor()
        city = org.create_unit(s, sysa, code=f"C{t}", name=f"测试市{t}", kind="city")
        dist = org.create_unit(s, sysa, code=f"C{t}-D", name=f"测试区{t}", kind="district", parent_id=city.id)
        town = org.create_unit(s, sysa, code=f"C{t}-T", name=f"测试街道{t}", kind="town", parent_id=dist.id)
        vill = org.create_unit(s, sysa, code=f"C{t}-V", name=f"测试社区{t}", kind="village", parent_id=town.id)
        dept = org.create_unit(s, sysa, code=f"C{t}-P", name=f"测试局{t}", kind="department", parent_id=city.id)
        for kind, unit in {"city": city, "district": dist, "town": town, "village": vill, "dept": dept}.items():
            codes[kind] = unit.code
            codes[f"{kind}_name"] = unit.name
    return codes


def make_user(database_url: str, *roles: tuple[str, str | None] | str, unit: str, password: str = "Staff2026ok",
              must_change: bool = False, name: str | None = None) -> str:
    """An account of the test's own (unique username) made through the same service the admin page
    uses; `roles` are names or (role, scope unit code). Returns the username."""
    from sqlmodel import select

    from models import OrgUnit
    from models.db import session_scope
    from services import users
    from services.permissions import system_actor
    username = f"e2e.{tag()}"
    with session_scope(database_url) as s:
        def unit_id(code):
            return s.exec(select(OrgUnit.id).where(OrgUnit.code == code)).one()
        grants = []
        for r in roles or ("learner",):
            role, scope = r if isinstance(r, tuple) else (r, None)
            grants.append(users.Grant(role=role, scope_unit_id=unit_id(scope) if scope else None))
        u, _ = users.create_user(s, system_actor(), user_in=users.UserCreate(
            username=username, name=name or f"测试{grants[0].role}", unit_id=unit_id(unit),
            password=password, grants=grants))
        u.must_change_password = must_change
        s.add(u)
    return username
