"""ui/components in Chromium, on a tiny page of their own (tests/e2e/pages_components.py, served here with
`streamlit run`; not part of app.py). What the server side received is read from the page's output files.

- tab_watch: each leave of the page (blur, tab hidden, or both) is exactly one event; a leave while
  already away is none, and neither is the page being hidden as it goes away (pagehide); copy and the context menu are blocked in the main area but not in a text field;
  the element takes no space; a leave while the server is down arrives once it is back (a restart).
- live_text: typing without leaving the field is saved within debounce + 1 s; typing on through the
  saves' reruns loses nothing and is never reset; leaving the field saves at once; a reload shows the
  saved text; text typed while the server is down is saved once it is back (a restart)."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect

from config import ROOT
from models.db import LOCAL_TZ
from tests.e2e.helpers import ARTIFACTS, Tab, new_tab, wait_for_app_run

PAGE = Path(__file__).with_name("pages_components.py")
START_TIMEOUT_S = 180
QUEUE = "infoskills.tab_watch.watch"        # the page's sessionStorage key of unacknowledged leaves

LEAVE = """async (how) => {
  const hide = () => {
    Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
    Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
    document.dispatchEvent(new Event("visibilitychange"));
  };
  const blur = () => window.dispatchEvent(new FocusEvent("blur"));
  if (how === "switch-tab") {          // what a tab switch fires: blur, then the page hidden a moment later
    blur();
    await new Promise((r) => setTimeout(r, 30));
    hide();
  } else if (how === "blur") {
    blur();
  } else {
    hide();
  }
}"""
BACK = """() => {
  delete document.visibilityState;
  delete document.hidden;
  document.dispatchEvent(new Event("visibilitychange"));
  window.dispatchEvent(new FocusEvent("focus"));
}"""


class PageServer:
    """`streamlit run tests/e2e/pages_components.py` on a fixed port, which can be killed (-9) and started again."""

    def __init__(self, out: Path, tag: str):
        self.out, self.tag = out, tag
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        log_path = ARTIFACTS / f"server-components-{self.tag}-{self.starts}.log"
        env = {**os.environ, "COMPONENTS_OUT": str(self.out),
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(PAGE), "--server.port", str(self.port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        ready = threading.Event()
        banner = re.compile(rf"https?://[^\s/]+:{self.port}\b".encode())
        proc = self.proc

        def pump() -> None:
            with open(log_path, "wb") as log:
                for line in proc.stdout:
                    log.write(line)
                    log.flush()
                    if not ready.is_set() and banner.search(line):
                        ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(START_TIMEOUT_S) or proc.poll() is not None:
            raise RuntimeError(f"page server did not start; see {log_path}")
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:                     # the start-up check (as tests/e2e/conftest.py): no test step waits on it
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=max(1.0, deadline - time.monotonic())) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"page server not healthy; see {log_path}")
                try:
                    proc.wait(0.25)
                except subprocess.TimeoutExpired:
                    pass

    def kill(self) -> None:
        """kill -9: nothing is flushed or closed cleanly."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(15)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def page_server(tmp_path_factory):
    srv = PageServer(tmp_path_factory.mktemp("components"), "shared")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def restartable(tmp_path):
    srv = PageServer(tmp_path, "restart")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def open_page(browser, request):
    opened: list[Tab] = []

    def _open(srv: PageServer) -> Tab:
        for f in srv.out.glob("*.jsonl"):
            f.unlink()
        tab = new_tab(browser, srv.url, timezone_id="America/Los_Angeles")    # a browser far from the city's zone
        opened.append(tab)
        tab.goto("/")
        return tab
    yield _open
    name = re.sub(r"\W+", "-", request.node.name)
    for n, tab in enumerate(opened):
        if getattr(request.node, "e2e_failed", False) and not tab.page.is_closed():
            tab.shot(f"FAILED-{name}-{n}")
        tab.page.context.close()


def received(srv: PageServer, name: str) -> list:
    path = srv.out / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def queue_drained(tab: Tab) -> None:
    """Every leave the page recorded has been acknowledged by the server (nothing left to resend)."""
    tab.page.wait_for_function(f"() => sessionStorage.getItem({json.dumps(QUEUE)}) === null")


# ---------------------------------------------------------------------------------------- tab_watch

def test_each_leave_is_one_event(page_server, open_page):
    tab = open_page(page_server)
    page = tab.page
    events = page.get_by_text(re.compile(r"^events: "))
    expect(events).to_have_text("events: []")
    tab.act(lambda: page.evaluate(LEAVE, "switch-tab"))          # blur + hidden: one leave
    expect(events).to_have_text("events: [hidden]")
    page.evaluate(BACK)
    tab.act(lambda: page.evaluate(LEAVE, "blur"))                # another program in front
    expect(events).to_have_text("events: [hidden,blur]")
    page.evaluate(LEAVE, "hidden")                               # still away: not a new leave
    page.evaluate(BACK)
    tab.act(lambda: page.evaluate(LEAVE, "hidden"))
    expect(events).to_have_text("events: [hidden,blur,hidden]")
    page.evaluate(BACK)
    # a page going away (reload, link, closing the tab) is hidden on its way out: not a leave
    page.evaluate("() => window.dispatchEvent(new PageTransitionEvent('pagehide'))")
    page.evaluate(LEAVE, "switch-tab")
    page.evaluate("() => window.dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}))")
    page.evaluate(BACK)                                          # (back from the browser's page cache)
    tab.act(lambda: page.evaluate(LEAVE, "blur"))
    expect(events).to_have_text("events: [hidden,blur,hidden,blur]")
    queue_drained(tab)
    assert received(page_server, "events") == ["hidden", "blur", "hidden", "blur"]
    tab.expect_no_error()


def test_copy_blocked_in_the_main_area_and_the_watch_takes_no_space(page_server, open_page):
    tab = open_page(page_server)
    page = tab.page
    question = page.get_by_text("题目正文：这段文字不能复制。")
    expect(question).to_be_visible()
    dispatch = """(el, type) => !el.dispatchEvent(new Event(type, {bubbles: true, cancelable: true, composed: true}))"""
    page.wait_for_function("() => document.getElementById('infoskills-nocopy') !== null")
    assert question.evaluate(dispatch, "copy") is True          # default prevented: nothing copied
    assert question.evaluate(dispatch, "cut") is True
    assert question.evaluate(dispatch, "contextmenu") is True
    assert question.evaluate("el => getComputedStyle(el).userSelect") == "none"
    answer = page.locator(".st-key-blank textarea")
    assert answer.evaluate(dispatch, "copy") is False           # the learner's own text field is not blocked
    assert answer.evaluate(dispatch, "contextmenu") is False
    watch = page.locator(".st-key-watch")
    expect(watch).to_have_count(1)
    expect(watch).to_be_hidden()                                # display: none: no space, no gap
    tab.act(lambda: page.get_by_role("button", name="rerun").click())
    expect(watch).to_be_hidden()
    assert question.evaluate(dispatch, "copy") is True


def test_a_leave_while_the_server_is_down_arrives_once_it_is_back(restartable, open_page):
    tab = open_page(restartable)
    page = tab.page
    restartable.kill()
    expect(page.locator('[data-testid="stApp"]')).not_to_have_attribute("data-test-connection-state", "CONNECTED")
    page.evaluate(LEAVE, "switch-tab")        # the trigger goes nowhere: the page keeps it
    page.evaluate(BACK)
    page.wait_for_function(f"() => JSON.parse(sessionStorage.getItem({json.dumps(QUEUE)}) || '[]').length === 1")
    restartable.start()
    expect(page.get_by_text(re.compile(r"^events: "))).to_have_text("events: [hidden]", timeout=60_000)
    queue_drained(tab)
    wait_for_app_run(page)
    assert received(restartable, "events") == ["hidden"]


# ---------------------------------------------------------------------------------------- live_text

def test_typing_is_saved_while_typed_never_reset_and_kept_on_reload(page_server, open_page):
    tab = open_page(page_server)
    page = tab.page
    essay = page.get_by_label("作文")                             # <label for>: found by its label
    expect(essay).to_have_attribute("placeholder", "在这里作答")
    essay.click()
    essay.press_sequentially("第一段")
    typed_at = time.monotonic()
    # 800 ms debounce + 1 s: saved without leaving the field
    expect(page.get_by_text("essay saved: 第一段", exact=True)).to_be_visible(timeout=1_800)
    assert time.monotonic() - typed_at < 1.8 + 0.5      # (expect's own polling granularity)
    assert essay.evaluate("el => el.getRootNode().activeElement === el")
    expect(page.locator(".st-key-essay .lt-status")).to_have_text(re.compile(r"^已保存 \d\d:\d\d:\d\d$"))
    # the time is the city's (UTC+8), as everywhere else on the page, whatever the browser's zone
    shown = datetime.strptime(page.locator(".st-key-essay .lt-status").inner_text().split()[-1], "%H:%M:%S")
    city = datetime.now(LOCAL_TZ)
    gap = abs((city.hour * 3600 + city.minute * 60 + city.second) - (shown.hour * 3600 + shown.minute * 60 + shown.second))
    assert min(gap, 86400 - gap) < 30, (shown.time(), city.time())
    expect(page.locator(".st-key-essay .lt-count")).to_have_text("3/500")

    # typing on for longer than the debounce: saves (and their reruns) happen in the middle of it
    more = "，第二段写得长一些，第三段"
    essay.press_sequentially(more, delay=250)
    full = "第一段" + more
    expect(page.get_by_text("essay saved: " + full, exact=True)).to_be_visible(timeout=10_000)
    expect(essay).to_have_value(full)                            # nothing reset by the reruns
    saves = received(page_server, "essay")
    assert saves[-1] == full and len(saves) >= 3, saves          # saved in between, not only at the end
    assert all(full.startswith(s) for s in saves), saves         # every save a prefix: nothing lost or reverted
    assert len(saves) == len(set(saves)), saves                  # each text once (on_save only on a change)

    # leaving the field saves at once (5 s debounce there)
    blank = page.get_by_label("填空")
    blank.click()
    blank.press_sequentially("答案")
    tab.act(lambda: page.get_by_role("button", name="rerun").click())
    expect(page.get_by_text("blank saved: 答案", exact=True)).to_be_visible(timeout=3_000)
    expect(essay).to_have_value(full)

    tab.reload()
    expect(page.get_by_label("作文")).to_have_value(full)
    expect(page.get_by_label("填空")).to_have_value("答案")
    assert received(page_server, "essay")[-1] == full and received(page_server, "blank") == ["答案"]
    queue_drained(tab)
    assert received(page_server, "events") == []     # moving between fields and reloading are no 切屏
    tab.expect_no_error()


def test_paging_between_questions_keeps_each_answer_to_its_own_question(page_server, open_page):
    """The player's one-question-per-screen: another field takes the same place on the page."""
    tab = open_page(page_server)
    page = tab.page
    first = page.get_by_label("第1题")
    first.click()
    first.press_sequentially("一号答案")
    tab.act(lambda: page.get_by_text("2", exact=True).click())   # leaving the field saves it (5 s debounce)
    second = page.get_by_label("第2题")
    expect(second).to_have_value("")
    expect(page.get_by_label("第1题")).to_have_count(0)
    second.click()
    second.press_sequentially("二号")
    tab.act(lambda: page.get_by_text("1", exact=True).click())
    expect(page.get_by_label("第1题")).to_have_value("一号答案")
    tab.act(lambda: page.get_by_text("2", exact=True).click())
    expect(page.get_by_label("第2题")).to_have_value("二号")
    assert received(page_server, "q1") == ["一号答案"] and received(page_server, "q2") == ["二号"]
    tab.expect_no_error()


def test_text_typed_while_the_server_is_down_is_saved_once_it_is_back(restartable, open_page):
    tab = open_page(restartable)
    page = tab.page
    essay, blank = page.get_by_label("作文"), page.get_by_label("填空")
    essay.click()
    essay.press_sequentially("断线前")
    expect(page.get_by_text("essay saved: 断线前", exact=True)).to_be_visible(timeout=5_000)
    # a whole-page run last: on reconnecting Streamlit then reruns nothing by itself, the fields must resend
    tab.act(lambda: page.get_by_role("button", name="rerun").click())
    restartable.kill()
    expect(page.locator('[data-testid="stApp"]')).not_to_have_attribute("data-test-connection-state", "CONNECTED")
    essay.click()
    essay.press_sequentially("，断线中写的")
    blank.click()                                                # leaving the essay: its save goes nowhere
    blank.press_sequentially("填空答案")
    page.get_by_text("题目正文").click()
    restartable.start()
    full = "断线前，断线中写的"
    expect(page.get_by_text("essay saved: " + full, exact=True)).to_be_visible(timeout=60_000)
    expect(page.get_by_text("blank saved: 填空答案", exact=True)).to_be_visible(timeout=60_000)
    expect(essay).to_have_value(full)
    assert received(restartable, "essay") == ["断线前", full]
    assert received(restartable, "blank") == ["填空答案"]
    tab.reload()
    expect(page.get_by_label("作文")).to_have_value(full)
    expect(page.get_by_label("填空")).to_have_value("填空答案")


def test_the_page_and_the_server_fingerprint_texts_alike(page_server, open_page):
    """The page names the server text an edit started from by a fingerprint; both sides must agree."""
    from ui.components.live_text import _JS, fingerprint
    source = re.search(r"function fingerprint\(text\) \{.*?\n\}", _JS, re.S).group(0)
    texts = ["", "a", "起始", "断线前，断线中写的", "😀 emoji 与\n换行\t", "x" * 3000]
    tab = open_page(page_server)
    got = tab.page.evaluate(f"(texts) => {{ {source}; return texts.map(fingerprint); }}", texts)
    assert got == [fingerprint(t) for t in texts]
