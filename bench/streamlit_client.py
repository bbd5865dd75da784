"""A minimal Streamlit client that speaks the browser's websocket protocol, for load tests and tests.

What a browser tab does, without the browser:
- opens ws://HOST/_stcore/stream with the app's own Origin (server.py refuses any other with 403),
  the "streamlit" subprotocol and the tab's cookies;
- asks for a script run with a BackMsg `rerun_script` (ClientState: page name or page hash, query string,
  the state of every widget it has set, a trigger for a clicked button; `fragment_id` for a fragment's
  own rerun, as `st.fragment(run_every=...)` asks the browser to do);
- reads ForwardMsg frames until `script_finished` (a run that ends early for an `st.rerun()` goes on:
  the run that follows it is waited for too), keeping the deltas as a tree by delta path, as the
  browser does, so widgets can be found by their key (the suffix of the element id) or label;
- follows this app's sign-in: the sign-in page answers a successful password with a small script
  `window.location.replace("/auth/session?ticket=...")`; the client makes that request itself, keeps
  the HttpOnly session cookie it sets, and opens a new websocket with it, as the browser's reload does.

    c = StreamlitClient("http://127.0.0.1:8501")
    c.sign_in("li.ming", "S3cret-pass", path="/course?course=c-01")
    c.click("course_quiz_start")                      # a button by key
    c.set(c.find(key_prefix="course_quiz_7_"), 0)    # a radio: option index or label
    c.close()

Each call returns a Run: its wall time (request sent -> script_finished), messages, bytes, and whether
the app showed an error. Only http(s)://127.0.0.1 / localhost servers are accepted (this is a load tool).
Also here: `serve()`, a context manager that starts `streamlit run server.py` on a free port of
127.0.0.1 with a database of the caller's choice (tests and bench/exam_load.py use it)."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import websocket  # websocket-client: plain blocking sockets, so gevent (Locust) can patch it
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

ROOT = Path(__file__).resolve().parents[1]
LOCAL_HOSTS = ("127.0.0.1", "localhost")
DONE = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
        ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}
WIDGETS = {"button", "checkbox", "radio", "selectbox", "text_input", "text_area", "number_input", "button_group",
           "multiselect", "download_button"}
_REDIRECT = re.compile(r"window\.location\.replace\((\"(?:[^\"\\]|\\.)*\")\)")


class ProtocolError(RuntimeError):
    """The server did not answer as a Streamlit server does (closed, timed out, refused)."""


class AppError(RuntimeError):
    """The app showed an error box (an unexpected error with its id, or a Streamlit exception)."""


@dataclass
class Element:
    """One element or block of the page as the deltas built it."""
    path: tuple[int, ...]
    kind: str                      # "button", "radio", "markdown", ... ; blocks: "block:vertical", "block:form", ...
    proto: Any                     # the element's own proto (Button, Radio, ...) or the Block
    fragment_id: str = ""

    @property
    def id(self) -> str:
        return getattr(self.proto, "id", "") or ""

    @property
    def key(self) -> str | None:
        """The user key of a keyed widget or container (element ids end in "-<key>")."""
        eid = self.id
        if not eid.startswith("$$ID-"):
            return None
        key = eid.split("-", 2)[-1]
        return None if key == "None" else key

    @property
    def label(self) -> str:
        return getattr(self.proto, "label", "") or ""

    @property
    def text(self) -> str:
        """Visible text of a text-like element (markdown, alert, heading, caption, text, html)."""
        p = self.proto
        for attr in ("body", "text"):
            value = getattr(p, attr, None)
            if isinstance(value, str):
                return value
        return self.label

    @property
    def disabled(self) -> bool:
        return bool(getattr(self.proto, "disabled", False))

    @property
    def options(self) -> list[str]:
        opts = getattr(self.proto, "options", None)
        if opts is None:
            return []
        return [o.content if hasattr(o, "content") else o for o in opts]

    def __repr__(self) -> str:
        return f"Element({self.kind}, key={self.key!r}, label={self.label[:40]!r}, path={self.path})"


@dataclass
class Run:
    """One round trip: the request sent, every frame read until the run finished."""
    ms: float
    messages: int
    bytes: int
    status: int
    errors: list[str] = field(default_factory=list)
    fragment: bool = False


def _check_local(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme != "http" or parts.hostname not in LOCAL_HOSTS:
        raise ValueError(f"only http://127.0.0.1 or localhost servers, not {base_url!r}")
    return f"http://{parts.hostname}:{parts.port or 80}"


class StreamlitClient:
    def __init__(self, base_url: str, *, timeout: float = 60.0, locale: str = "zh-CN",
                 timezone: str = "Asia/Shanghai"):
        self.base = _check_local(base_url)
        self.origin = self.base                      # what the handshake's Origin says (a browser: the page's)
        self.timeout = timeout
        self.locale, self.timezone = locale, timezone
        self.cookies: dict[str, str] = {}
        self.ws: websocket.WebSocket | None = None
        self.path, self.query = "/", ""
        self.page_hash = ""
        self.elements: dict[tuple[int, ...], Element] = {}
        self.states: dict[str, WidgetState] = {}     # widgets this tab has set (a browser sends them all)
        self.auto_reruns: dict[str, float] = {}      # fragment id -> interval (s), as st.fragment(run_every) asks
        self._next_auto: dict[str, float] = {}
        self.session_id = ""
        self.last: Run | None = None

    # ---- connection -----------------------------------------------------------------------------------
    def _connect(self) -> None:
        self.close()
        host = urlsplit(self.base).netloc
        headers = []
        if self.cookies:
            headers.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        try:
            self.ws = websocket.create_connection(f"ws://{host}/_stcore/stream", timeout=self.timeout,
                                                  origin=self.origin, subprotocols=["streamlit"], header=headers,
                                                  enable_multithread=False)
        except (OSError, websocket.WebSocketException) as exc:
            raise ProtocolError(f"websocket refused: {exc}") from exc
        self.elements, self.states, self.auto_reruns, self._next_auto = {}, {}, {}, {}
        self.page_hash = ""

    def close(self) -> None:
        if self.ws is not None:
            try:
                self.ws.close()
            except (OSError, websocket.WebSocketException):
                pass
            self.ws = None

    def open(self, path: str = "/") -> Run:
        """A fresh page load of `path` ("/course?course=x"): a new websocket and its first run."""
        parts = urlsplit(path)
        self.path, self.query = parts.path or "/", parts.query
        self._connect()
        return self._run(page_name=self.path.strip("/"))

    # ---- runs -----------------------------------------------------------------------------------------
    def _client_state(self, msg: BackMsg, *, page_name: str = "", fragment_id: str = "",
                      trigger: WidgetState | None = None, auto: bool = False) -> None:
        cs = msg.rerun_script
        cs.query_string = self.query
        if page_name or not self.page_hash:
            cs.page_name = page_name
        else:
            cs.page_script_hash = self.page_hash
        cs.fragment_id = fragment_id
        cs.is_auto_rerun = auto
        for state in self.states.values():
            cs.widget_states.widgets.append(state)
        if trigger is not None:
            cs.widget_states.widgets.append(trigger)
        ci = cs.context_info
        ci.timezone, ci.timezone_offset, ci.locale = self.timezone, -480, self.locale
        ci.url = self.base + self.path + (f"?{self.query}" if self.query else "")
        ci.is_embedded, ci.color_scheme = False, "light"

    def _run(self, *, page_name: str = "", fragment_id: str = "", trigger: WidgetState | None = None,
             auto: bool = False) -> Run:
        if self.ws is None:
            raise ProtocolError("not connected: open() a page first")
        msg = BackMsg()
        self._client_state(msg, page_name=page_name, fragment_id=fragment_id, trigger=trigger, auto=auto)
        t0 = time.perf_counter()
        try:
            self.ws.send_binary(msg.SerializeToString())
        except (OSError, websocket.WebSocketException) as exc:
            raise ProtocolError(f"send failed: {exc}") from exc
        run = self._read_until_finished(t0)
        run.fragment = bool(fragment_id)
        if fragment_id and fragment_id in self.auto_reruns:
            self._next_auto[fragment_id] = time.monotonic() + self.auto_reruns[fragment_id]
        self.last = run
        return run

    def _read_until_finished(self, t0: float) -> Run:
        n = size = 0
        errors: list[str] = []
        touched: set[tuple[int, ...]] = set()
        full_run = False
        while True:
            try:
                frame = self.ws.recv()
            except (OSError, websocket.WebSocketException) as exc:
                raise ProtocolError(f"no answer: {type(exc).__name__}: {exc}") from exc
            if not isinstance(frame, bytes | bytearray):
                raise ProtocolError(f"unexpected text frame: {frame!r:.80}")
            n, size = n + 1, size + len(frame)
            fm = ForwardMsg()
            fm.ParseFromString(frame)
            kind = fm.WhichOneof("type")
            if kind == "new_session":
                self.page_hash = fm.new_session.page_script_hash
                self.session_id = fm.new_session.initialize.session_id or self.session_id
                if not fm.metadata.run.fragment_ids:
                    full_run = True
                    touched = set()
                    self.auto_reruns, self._next_auto = {}, {}
            elif kind == "delta":
                path = tuple(fm.metadata.delta_path)
                touched.add(path)
                el = self._element(path, fm.delta)
                if el is not None:
                    # a new element at a path replaces what was there and everything below it
                    if el.kind.startswith("block:"):
                        for p in [p for p in self.elements if p[:len(path)] == path and p != path]:
                            del self.elements[p]
                    self.elements[path] = el
                    err = _error_of(el)
                    if err:
                        errors.append(err)
            elif kind == "navigation":
                # st.navigation names the page this run showed: the browser's next rerun asks for it by
                # this hash (and its address bar shows the page's own path)
                nav = fm.navigation
                self.page_hash = nav.page_script_hash
                page = next((p for p in nav.app_pages if p.page_script_hash == nav.page_script_hash), None)
                if page is not None:
                    self.path = "/" if page.is_default else "/" + page.url_pathname.strip("/")
            elif kind == "page_info_changed":
                self.query = fm.page_info_changed.query_string
            elif kind == "auto_rerun":
                fid, every = fm.auto_rerun.fragment_id, fm.auto_rerun.interval
                self.auto_reruns[fid] = every
                self._next_auto.setdefault(fid, time.monotonic() + every)
            elif kind == "stop_auto_rerun":
                for fid in fm.stop_auto_rerun.fragment_ids:
                    self.auto_reruns.pop(fid, None)
                    self._next_auto.pop(fid, None)
            elif kind == "page_not_found":
                errors.append("page not found")
            elif kind == "script_finished":
                if fm.script_finished in DONE:
                    if full_run and fm.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                        self._drop_stale(touched)
                    if fm.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                        errors.append("script compile error")
                    return Run(ms=(time.perf_counter() - t0) * 1000, messages=n, bytes=size,
                               status=fm.script_finished, errors=errors)
                # FINISHED_EARLY_FOR_RERUN: st.rerun(); the next run follows on its own

    def _element(self, path: tuple[int, ...], delta) -> Element | None:
        which = delta.WhichOneof("type")
        if which == "new_element":
            kind = delta.new_element.WhichOneof("type")
            if kind is None:
                return None
            return Element(path, kind, getattr(delta.new_element, kind), delta.fragment_id)
        if which == "add_block":
            kind = delta.add_block.WhichOneof("type") or "vertical"
            return Element(path, f"block:{kind}", delta.add_block, delta.fragment_id)
        return None

    def _drop_stale(self, touched: set[tuple[int, ...]]) -> None:
        """After a full run, what the run did not draw is gone (the browser removes it too)."""
        self.elements = {p: e for p, e in self.elements.items() if p in touched}
        live = {e.id for e in self.elements.values() if e.id}
        self.states = {k: v for k, v in self.states.items() if k in live}

    # ---- the page -------------------------------------------------------------------------------------
    def find_all(self, *, key: str | None = None, key_prefix: str | None = None, label: str | None = None,
                 kind: str | None = None, text: str | None = None) -> list[Element]:
        out = []
        for path in sorted(self.elements):
            e = self.elements[path]
            if kind is not None and e.kind != kind:
                continue
            if key is not None and e.key != key:
                continue
            if key_prefix is not None and not (e.key or "").startswith(key_prefix):
                continue
            if label is not None and e.label != label:
                continue
            if text is not None and text not in e.text:
                continue
            out.append(e)
        return out

    def find(self, **how) -> Element:
        found = self.find_all(**how)
        if not found:
            raise LookupError(f"no element {how} on {self.path}?{self.query}; keys: {sorted(self.keys())[:40]}")
        return found[0]

    def has(self, **how) -> bool:
        return bool(self.find_all(**how))

    def keys(self) -> set[str]:
        return {e.key for e in self.elements.values() if e.key}

    def texts(self) -> list[str]:
        return [self.elements[p].text for p in sorted(self.elements) if self.elements[p].text]

    def inside(self, block: Element) -> list[Element]:
        """The elements drawn inside a block (a keyed container, a form, a column)."""
        n = len(block.path)
        return [self.elements[p] for p in sorted(self.elements) if p[:n] == block.path and p != block.path]

    # ---- acting ---------------------------------------------------------------------------------------
    def click(self, target: Element | str) -> Run:
        """Press a button (by element or key). A form's submit button sends the form's values along."""
        el = self.find(key=target) if isinstance(target, str) else target
        if el.kind not in ("button", "download_button"):
            raise TypeError(f"{el} is not a button")
        if el.disabled:
            raise AppError(f"{el} is disabled")
        return self._run(trigger=WidgetState(id=el.id, trigger_value=True))

    def set(self, target: Element | str, value: Any, *, rerun: bool | None = None) -> Run | None:
        """Change a widget as a user would; the app reruns unless the widget is inside a form (then its
        value goes with the form's submit button). Radio / selectbox / segmented control: an option
        index or label; checkbox: bool; text inputs: str; number input: float."""
        el = self.find(key=target) if isinstance(target, str) else target
        if el.disabled:
            raise AppError(f"{el} is disabled")
        state = WidgetState(id=el.id)
        if el.kind == "checkbox":
            state.bool_value = bool(value)
        elif el.kind in ("radio", "selectbox"):
            state.string_value = self._option(el, value)
        elif el.kind == "button_group":
            state.string_array_value.data.extend([] if value is None else [self._option(el, value)])
        elif el.kind == "multiselect":
            state.string_array_value.data.extend(self._option(el, v) for v in value)
        elif el.kind in ("text_input", "text_area"):
            state.string_value = str(value)
        elif el.kind == "number_input":
            state.double_value = float(value)
        else:
            raise TypeError(f"cannot set {el}")
        self.states[el.id] = state
        in_form = bool(getattr(el.proto, "form_id", ""))
        if rerun is False or (rerun is None and in_form):
            return None
        return self._run()

    @staticmethod
    def _option(el: Element, value: Any) -> str:
        opts = el.options
        if isinstance(value, int) and not isinstance(value, bool):
            return opts[value]
        if value not in opts:
            raise ValueError(f"{value!r} is not an option of {el}: {opts}")
        return value

    def rerun(self) -> Run:
        return self._run()

    def due_fragments(self) -> list[str]:
        now = time.monotonic()
        return [fid for fid, at in self._next_auto.items() if at <= now]

    def idle(self, seconds: float, sleep=time.sleep) -> list[Run]:
        """Think for `seconds` as an open tab does: fragments with run_every rerun on their clock."""
        end = time.monotonic() + seconds
        runs = []
        while True:
            now = time.monotonic()
            due = [fid for fid, at in self._next_auto.items() if at <= now]
            for fid in due:
                if fid in self.auto_reruns:
                    runs.append(self._run(fragment_id=fid, auto=True))
            nxt = min(self._next_auto.values(), default=end)
            now = time.monotonic()
            if now >= end:
                return runs
            sleep(max(0.0, min(end, nxt) - now))

    # ---- HTTP and signing in --------------------------------------------------------------------------
    def http_get(self, path: str) -> tuple[int, dict[str, str]]:
        """GET on the app's own origin with this tab's cookies; a redirect is not followed (its Location
        is returned); Set-Cookie is kept as the browser keeps it."""
        req = urllib.request.Request(self.base + path, headers={"Sec-Fetch-Site": "same-origin"})
        if self.cookies:
            req.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))

        class _NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **kw):
                return None
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(req, timeout=self.timeout) as r:
                status, headers = r.status, r.headers
        except urllib.error.HTTPError as exc:
            status, headers = exc.code, exc.headers
        for raw in headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return status, {k.lower(): v for k, v in headers.items()}

    def redirect_target(self) -> str | None:
        """The address the page's own navigation script sends the browser to (ui.session._go)."""
        for e in self.elements.values():
            if e.kind == "html":
                m = _REDIRECT.search(e.proto.body)
                if m:
                    return json.loads(m.group(1))
        return None

    def follow_redirect(self) -> Run:
        """Do what the browser does with the page's navigation script: the HTTP request (its cookie
        kept), then a page load of where it leads."""
        target = self.redirect_target()
        if target is None:
            raise AppError(f"the page navigates nowhere; it shows: {self.texts()[:5]}")
        status, headers = self.http_get(target)
        if status in (301, 302, 303, 307, 308):
            target = headers.get("location", "/")
        return self.open(target)

    def sign_in(self, username: str, password: str, path: str = "/") -> tuple[Run, Run, Run]:
        """The sign-in page at `path`: fill in the form, submit, follow the ticket to the session cookie
        and load `path` signed in. Returns (page load, submit, signed-in page load)."""
        first = self.open(path)
        form = self.find(kind="block:form")
        inputs = [e for e in self.inside(form) if e.kind == "text_input"]
        submit = next(e for e in self.inside(form) if e.kind == "button")
        if len(inputs) < 2:
            raise AppError(f"no sign-in form at {path}: {self.texts()[:5]}")
        self.set(inputs[0], username)
        self.set(inputs[1], password)
        submitted = self.click(submit)
        if submitted.errors or self.redirect_target() is None:
            raise AppError(f"sign-in refused for {username}: {self.texts()[-5:]}")
        landed = self.follow_redirect()
        return first, submitted, landed


def _error_of(el: Element) -> str | None:
    if el.kind == "exception":
        return f"exception: {el.proto.type}: {el.proto.message}"[:300]
    if el.kind.startswith("block:") and (el.key or "").startswith("unexpected_error_"):
        return f"app error {el.key[len('unexpected_error_'):]}"
    return None


# ---- a server of one's own ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(database_url: str, *, port: int | None = None, log_path: Path | None = None,
          start_timeout: float = 180.0, env: dict[str, str] | None = None):
    """`streamlit run server.py` on 127.0.0.1:`port` (a free one by default) with DATABASE_URL; yields
    {"url", "pid", "log"} once the server printed its address and /_stcore/health answers 200."""
    port = port or free_port()
    log_path = log_path or Path(os.environ.get("TMPDIR", "/tmp")) / f"isa-server-{port}.log"
    full_env = {**os.environ, "DATABASE_URL": database_url, **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "server.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ready = threading.Event()
    banner = re.compile(rf"https?://[^\s/]+:{port}\b".encode())

    def pump() -> None:
        with open(log_path, "wb") as log:
            for line in proc.stdout:
                log.write(line)
                log.flush()
                if not ready.is_set() and banner.search(line):
                    ready.set()
        ready.set()
    reader = threading.Thread(target=pump, daemon=True, name=f"server-{port}-log")
    reader.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        if not ready.wait(start_timeout) or proc.poll() is not None:
            raise RuntimeError(f"server did not start; see {log_path}")
        while True:      # listening; the runtime may still answer 503 for a moment
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                raise RuntimeError(f"server not healthy; see {log_path}")
            try:
                with urllib.request.urlopen(base + "/_stcore/health", timeout=left) as r:
                    if r.status == 200:
                        break
            except urllib.error.HTTPError as exc:
                if exc.code != 503:
                    raise
            try:
                proc.wait(0.25)
            except subprocess.TimeoutExpired:
                pass
        yield {"url": base, "pid": proc.pid, "log": log_path, "port": port}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(5)


def query(path: str, **params: str) -> str:
    return path + ("?" + urlencode(params) if params else "")
