"""切屏检测: a small components-v2 component (no iframe) that reports each time the learner leaves the page.

    tab_watch(key, on_event=callback, block_copy=False)      # on_event("hidden" | "blur")

What the page does
- A leave is the tab being hidden (`visibilitychange` → hidden: another tab, minimised, screen locked)
  or the window losing focus (`blur`: another program in front). Switching tabs fires both; they are
  one leave: the first signal starts it, a `hidden` within 150 ms names it "hidden", and nothing
  counts again until the page is visible and focused once more. Focus moving into a frame inside the
  page (a PDF viewer) is not a leave.
- Every leave becomes an event (page id, sequence number, kind) in a queue kept in the page and in
  sessionStorage, sent to the server as a trigger at once and sent again every 3 s until the server
  acknowledges it (the acknowledged sequence numbers come back in the component's data on the next
  run; resends back off to every 30 s and wait while a script run is under way or the page is
  disconnected, so they never keep a slow run from finishing). Streamlit drops a trigger sent while the websocket is down, so events of a leave made while
  disconnected are delivered after the reconnect instead of lost; the server counts each (page, seq)
  once, so a resend never counts twice. What it cannot do: an event acknowledged by the server while
  the page was already reloading is resent by the new page (from sessionStorage) to a new server
  session, which counts it again (a window of one round trip).
- `block_copy`: copy, cut, the context menu, dragging and text selection are blocked in the page's
  main area ([data-testid="stMain"]), except inside text fields (the learner's own answers).
- Leaving by a reload, a link or closing the tab (beforeunload / pagehide) is not a leave.
- Invisible: the element takes no space (its container is display: none; the script keeps running).

Server side: `on_event(kind)` runs once per event, in the widget callback phase (before the script
body, like any Streamlit callback: the page then shows the new count). Events arriving in a session
that has no callback registered yet (a new session after a server restart) are handled when the
component renders. The callback used is the one passed on the previous run.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

import streamlit as st

KINDS = ("hidden", "blur")
MAX_BATCH = 50             # events handled from one message (a page sends only its unacknowledged ones)
MAX_PAGES = 20             # page ids remembered per session (a page id is one page load)
_PAGE_ID = re.compile(r"[0-9a-f]{16}")

_JS = r"""
const SETTLE_MS = 150;      // blur then hidden (or hidden then blur) within this: one leave, "hidden"
const RESEND_MIN_MS = 3000;     // an unacknowledged event is sent again after this, then 6, 12, at most 30 s
const RESEND_MAX_MS = 30000;
const STORE = "infoskills.tab_watch.";

// A resend waits while a script run is under way (a resend would interrupt it and start it over: on a
// slow server, resends every few seconds could keep a run from ever finishing) and while disconnected.
function appBusy() {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app) return false;
  const run = app.getAttribute("data-test-script-state");
  const link = app.getAttribute("data-test-connection-state");
  return run === "running" || run === "rerunRequested" || (link !== null && link !== "CONNECTED");
}

function randomId() {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

class TabWatch {
  constructor() {
    this.page = randomId();
    this.seq = 0;
    this.queue = [];
    this.away = document.visibilityState === "hidden";
    this.settle = null;
    this.kind = null;
    this.lastSent = 0;
    this.resendMs = RESEND_MIN_MS;
    this.send = null;
    this.id = null;
    this.blockCopy = false;
    this.off = [];
    this.on(document, "visibilitychange", () => {
      if (document.visibilityState === "hidden") this.leave("hidden");
      else if (document.hasFocus()) this.back();
    });
    this.on(window, "blur", () => {
      // focus moving into a frame of this page (a PDF viewer) blurs the window too: not a leave
      setTimeout(() => {
        const active = document.activeElement;
        if (active && active.tagName === "IFRAME" && document.visibilityState === "visible") return;
        this.leave("blur");
      }, 0);
    });
    this.on(window, "focus", () => this.back());
    // leaving by reload, link or closing the tab hides the page too: not a 切屏
    this.unloading = false;
    const unload = () => {
      this.unloading = true;
      if (this.settle !== null) { clearTimeout(this.settle); this.settle = null; }
      this.persist();
    };
    this.on(window, "beforeunload", unload);
    this.on(window, "pagehide", unload);
    this.on(window, "pageshow", () => { this.unloading = false; });
    for (const type of ["copy", "cut", "contextmenu", "dragstart", "selectstart"]) {
      this.on(document, type, (event) => this.guard(event), true);
    }
    this.timer = setInterval(() => this.flush(false), 1000);
    this.cleanup = () => this.destroy();
  }

  on(target, type, handler, capture = false) {
    target.addEventListener(type, handler, capture);
    this.off.push(() => target.removeEventListener(type, handler, capture));
  }

  leave(kind) {
    if (this.unloading) return;
    if (this.away) {
      if (this.settle !== null && kind === "hidden") this.kind = "hidden";
      return;
    }
    this.away = true;
    this.kind = kind;
    this.settle = setTimeout(() => {
      this.settle = null;
      this.enqueue(this.kind);
    }, SETTLE_MS);
  }

  back() {
    this.away = false;
  }

  enqueue(kind) {
    this.seq += 1;
    this.queue.push({ page: this.page, seq: this.seq, kind: kind });
    this.persist();
    this.flush(true);
  }

  flush(force) {
    if (!this.send || this.queue.length === 0) return;
    const now = Date.now();
    if (!force) {
      if (now - this.lastSent < this.resendMs || appBusy()) return;
      this.resendMs = Math.min(this.resendMs * 2, RESEND_MAX_MS);
    }
    this.lastSent = now;
    this.send("leave", this.queue.slice());
  }

  storeKey() {
    return this.id === null ? null : STORE + this.id;
  }

  persist() {
    const key = this.storeKey();
    if (key === null) return;
    try {
      if (this.queue.length) sessionStorage.setItem(key, JSON.stringify(this.queue));
      else sessionStorage.removeItem(key);
    } catch (e) { /* storage off: the in-page queue still works */ }
  }

  restore() {
    const key = this.storeKey();
    if (key === null) return;
    try {
      const saved = JSON.parse(sessionStorage.getItem(key) || "[]");
      if (Array.isArray(saved)) {
        const older = saved.filter((ev) => ev && ev.page !== this.page);
        this.queue = older.concat(this.queue);
      }
    } catch (e) { /* nothing kept */ }
  }

  update(data, setTriggerValue) {
    this.send = setTriggerValue;
    const id = String(data.id);
    const first = this.id !== id;
    if (first) {
      this.id = id;
      this.restore();
    }
    const acked = data.acked || {};
    const before = this.queue.length;
    this.queue = this.queue.filter((ev) => ev.seq > (acked[ev.page] || 0));
    if (this.queue.length !== before) {
      this.persist();
      this.resendMs = RESEND_MIN_MS;
    }
    this.setBlockCopy(Boolean(data.block_copy));
    if (first) this.flush(true);
  }

  setBlockCopy(on) {
    this.blockCopy = on;
    const styleId = "infoskills-nocopy";
    let style = document.getElementById(styleId);
    if (on && !style) {
      style = document.createElement("style");
      style.id = styleId;
      style.textContent =
        '[data-testid="stMain"] { user-select: none; -webkit-user-select: none; }' +
        '[data-testid="stMain"] :is(input, textarea, [contenteditable="true"]) { user-select: text; -webkit-user-select: text; }';
      document.head.appendChild(style);
    } else if (!on && style) {
      style.remove();
    }
  }

  guard(event) {
    if (!this.blockCopy) return;
    const main = document.querySelector('[data-testid="stMain"]');
    const path = event.composedPath();
    if (!main || !path.includes(main)) return;
    let target = path[0];
    if (target && target.nodeType === Node.TEXT_NODE) target = target.parentElement;
    if (target && target.closest && target.closest('input, textarea, [contenteditable="true"]')) return;
    event.preventDefault();
  }

  destroy() {
    this.persist();
    this.off.forEach((undo) => undo());
    this.off = [];
    clearInterval(this.timer);
    if (this.settle !== null) clearTimeout(this.settle);
    this.setBlockCopy(false);
  }
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  // Streamlit calls this again with the same element whenever the data changes: one watcher per element
  let watch = parentElement.__infoskillsTabWatch;
  if (!watch) {
    watch = new TabWatch();
    parentElement.__infoskillsTabWatch = watch;
  }
  watch.update(data || {}, setTriggerValue);
  return watch.cleanup;
}
"""

# The element is not isolated (no shadow root), so this rule reaches its own container: no space taken.
# (more than one line: Streamlit takes a one-line string with "[" for a file glob)
_CSS = """
div[data-testid="stElementContainer"]:has(> .stBidiComponent .infoskills-tab-watch) { display: none !important; }
.infoskills-tab-watch { display: none; }
"""
_HTML = '<span class="infoskills-tab-watch" hidden></span>'

_component = st.components.v2.component("infoskills_tab_watch", html=_HTML, css=_CSS, js=_JS, isolate_styles=False)


def _store(key: str) -> dict[str, Any]:
    return st.session_state.setdefault(f"{key}__tw", {"acked": {}})


def _ingest(key: str, events: Any, on_event: Callable[[str], None]) -> None:
    """Call on_event once per new, well-formed event (the page's data is untrusted: shapes checked)."""
    if not isinstance(events, list):
        return
    acked: dict[str, int] = _store(key)["acked"]
    for ev in events[:MAX_BATCH]:
        if not isinstance(ev, dict):
            continue
        page, seq, kind = ev.get("page"), ev.get("seq"), ev.get("kind")
        if not (isinstance(page, str) and _PAGE_ID.fullmatch(page) and type(seq) is int and 0 < seq < 10**9
                and kind in KINDS):
            continue
        if seq <= acked.get(page, 0):
            continue                     # seen already (a resend)
        if page not in acked and len(acked) >= MAX_PAGES:
            acked.pop(next(iter(acked)))
        acked[page] = seq                # before the call: a failing on_event does not make it count twice
        on_event(kind)


def _on_leave(key: str, on_event: Callable[[str], None]) -> None:
    state = st.session_state.get(key)
    if state is not None:
        _ingest(key, state.get("leave"), on_event)


def tab_watch(key: str, *, on_event: Callable[[str], None], block_copy: bool = False) -> None:
    """Watch this page for the learner leaving it; `on_event("hidden" | "blur")` once per leave.
    `key`: unique on the page (its state lives under st.session_state[key] and [f"{key}__tw"])."""
    store = _store(key)
    result = _component(key=key, data={"id": key, "acked": dict(store["acked"]), "block_copy": bool(block_copy)},
                        on_leave_change=partial(_on_leave, key, on_event))
    # a session whose previous run had no callback registered (new after a server restart): handled here
    _ingest(key, result.get("leave"), on_event)
