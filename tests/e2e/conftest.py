"""A real server (`streamlit run server.py`) on a fresh database, and Debian's Chromium via Playwright.

`server` is one server for the whole session; tests that use it create their own people and units
(unique names, tests/e2e/helpers.py), so they pass in any order and alone. `fresh_server` is a
server of the test's own, on a database nobody has touched (the first-run set-up needs that).
Each server's output goes to tests/e2e/artifacts/server-<tag>.log."""
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from config import ROOT
from tests.dbutil import fresh_database_url
from tests.e2e.helpers import ARTIFACTS, new_tab

__all__ = ["ARTIFACTS"]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
START_TIMEOUT_S = 180          # two shared cores, often busy: the first start imports a lot
expect.set_options(timeout=30_000)       # upper bounds only; a passing check returns at once


@pytest.fixture(scope="session")
def database():
    """Browser tests talk to their servers' databases only: no unit-test database (this overrides
    the autouse fixture of tests/conftest.py for tests/e2e)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(base: str, proc: subprocess.Popen, deadline: float, log_path: Path) -> None:
    """The server listens (it printed its URL); its runtime may still be starting (503) and a loaded
    machine may answer slowly, so one request may take until the deadline. This start-up check is
    the only poll in tests/e2e; no test step depends on its timing."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            raise RuntimeError(f"server not healthy; see {log_path}")
        try:
            with urllib.request.urlopen(base + "/_stcore/health", timeout=left) as r:
                if r.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code != 503:
                raise
        try:
            proc.wait(0.25)          # returns early only if the server died (checked above)
        except subprocess.TimeoutExpired:
            pass


@contextmanager
def _run_server(tag: str, *, database_url: str | None = None, port: int | None = None):
    """Start `streamlit run server.py` on a new database (or `database_url`, on `port`: a restart); ready
    when Streamlit prints its URL and /_stcore/health answers. No polling: a reader thread copies the
    output to the log and signals. Yields {"url", "database_url", "log", "proc"}."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    url_db = database_url or fresh_database_url("e2e")
    port = port or _free_port()
    env = {**os.environ, "DATABASE_URL": url_db}
    log_path = ARTIFACTS / f"server-{tag}.log"
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "server.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ready = threading.Event()
    banner = re.compile(rf"https?://[^\s/]+:{port}\b".encode())

    def pump() -> None:
        with open(log_path, "wb") as log:
            for line in proc.stdout:
                log.write(line)
                log.flush()
                if not ready.is_set() and banner.search(line):
                    ready.set()
        ready.set()          # the process ended: stop waiting (checked below)

    reader = threading.Thread(target=pump, name=f"server-{tag}-log", daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        if not ready.wait(START_TIMEOUT_S) or proc.poll() is not None:
            raise RuntimeError(f"server did not start; see {log_path}")
        _healthy(base, proc, deadline, log_path)
        yield {"url": base, "database_url": url_db, "log": log_path, "proc": proc}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(5)


@pytest.fixture(scope="session")
def server():
    """One server for the session, on a new empty database: {"url", "database_url", "log"}."""
    with _run_server("session") as srv:
        yield srv


@pytest.fixture
def fresh_server(request):
    """A server of this test's own, on a database nobody has touched (first-run set-up)."""
    tag = re.sub(r"\W+", "-", request.node.name)[:60] + "-" + uuid.uuid4().hex[:4]
    with _run_server(tag) as srv:
        yield srv


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                                "--disable-background-networking"])
        yield b
        b.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.e2e_failed = report.failed
    return report


@pytest.fixture
def tabs(browser, request):
    """tabs(base_url, **context_args) -> a new Tab (own browser context). On failure each open tab
    is photographed as artifacts/FAILED-<test>-<n>.png; all are closed after the test."""
    opened = []

    def _open(base: str, **context_args):
        tab = new_tab(browser, base, **context_args)
        opened.append(tab)
        return tab
    yield _open
    name = re.sub(r"\W+", "-", request.node.name)
    for n, tab in enumerate(opened):
        if getattr(request.node, "e2e_failed", False) and not tab.page.is_closed():
            try:
                tab.shot(f"FAILED-{name}-{n}")
            except PlaywrightError as exc:   # a crashed page must not hide the test's own failure
                print(f"no screenshot of tab {n}: {exc}")
        tab.page.context.close()
