"""A text area that saves while it is typed: a components-v2 component (no iframe).

    live_text(label, value=saved_text, key=k, on_save=lambda text: ..., height=200, debounce_ms=1500,
              disabled=False, max_chars=None, placeholder="")

What the page does
- Sends the text to the server `debounce_ms` after the last keystroke, at the latest every
  2 × `debounce_ms` while typing goes on, at once when the field is left (blur) and when the page is
  hidden or closed; never in the middle of an IME composition (pinyin). So a dropped connection or
  a closed tab loses at most the last seconds.
- A text the server has not acknowledged is sent again (after 4 s, then 8, 16, at most every 30 s;
  never while a script run is under way or the page is disconnected): Streamlit drops a message sent
  while the websocket is down; the resend goes out once it is back.
- Under the field: "保存中…" while something is unsent or unacknowledged, "已保存 HH:MM:SS" once the
  server has it (and, with `max_chars`, the count).
- Reruns never reset what is being typed: the field takes the server's value only when it is not
  focused and nothing is pending (another window saved a newer text), or when the server starts the
  field over (a new key, or its state was dropped: see "epoch" below).
- Label: a real <label for>, so screen readers and `get_by_label` find the field. Styled with the
  theme's CSS variables like Streamlit's own text area.

Server side
- `on_save(text)` runs with the new text only when it differs from what the server last had (the
  `value` passed in, or the last text saved), in the widget callback phase (before the script body),
  so the rerun shows what was saved. The callback used is the one passed on the previous run (read
  fresh state inside it rather than capturing it). If it raises, the text is not acknowledged.
- The text is cut to `max_chars` on the server too (the page's maxlength can be bypassed). Nothing
  is accepted while `disabled`.
- Each server-side start of the field (first render in a session, or after its state was deleted,
  e.g. when the caller drops widget state after a refused save) has an "epoch". The page sends the
  epoch with the text; a text from an older epoch of the same session is ignored (it was refused or
  replaced). A text from another session (the page reconnected to a restarted server) is taken only
  if the server's text is still the one that edit started from (the page sends its fingerprint), so an idle
  window reconnecting cannot put its old text over a newer one saved from another machine.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from models.db import LOCAL_TZ
from ui.i18n import t

_JS = r"""
const RETRY_MIN_MS = 4000;
const RETRY_MAX_MS = 30000;

// A resend waits while a script run is under way (a resend would interrupt it and start it over: on a
// slow server, resends every few seconds could keep a run from ever finishing) and while disconnected.
function appBusy() {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app) return false;
  const run = app.getAttribute("data-test-script-state");
  const link = app.getAttribute("data-test-connection-state");
  return run === "running" || run === "rerunRequested" || (link !== null && link !== "CONNECTED");
}

function two(n) { return String(n).padStart(2, "0"); }
function sessionOf(epoch) { return String(epoch).split(":", 1)[0]; }
// FNV-1a over UTF-16 code units (the server computes the same: fingerprint() below)
function fingerprint(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) { h ^= text.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return h.toString(16).padStart(8, "0");
}

class LiveText {
  constructor(root) {
    this.root = root;
    this.box = root.querySelector(".lt");
    this.area = root.querySelector("textarea");
    this.labelEl = root.querySelector("label");
    this.statusEl = root.querySelector(".lt-status");
    this.countEl = root.querySelector(".lt-count");
    this.id = null;
    this.epoch = null;
    this.value = "";         // the server's value (data.value) last seen
    this.sent = "";          // the text last sent (or taken from the server)
    this.n = 0;              // message number: a resend repeats it, the server echoes the last it took
    this.sentN = 0;
    this.sentBase = fingerprint("");
    this.ackN = 0;
    this.everSent = false;
    this.savedAt = null;
    this.composing = false;
    this.debounce = null;
    this.firstUnsent = null;
    this.lastSendAt = 0;
    this.retryMs = RETRY_MIN_MS;
    this.off = [];
    const area = this.area;
    this.on(area, "input", () => this.edited());
    this.on(area, "compositionstart", () => { this.composing = true; });
    this.on(area, "compositionend", () => { this.composing = false; this.edited(); });
    this.on(area, "blur", () => this.sendNow());
    this.on(document, "visibilitychange", () => { if (document.visibilityState === "hidden") this.sendNow(); });
    this.on(window, "pagehide", () => this.sendNow());
    this.timer = setInterval(() => this.tick(), 1000);
    this.cleanup = () => this.destroy();
  }

  on(target, type, handler) {
    target.addEventListener(type, handler);
    this.off.push(() => target.removeEventListener(type, handler));
  }

  edited() {
    if (this.firstUnsent === null) this.firstUnsent = Date.now();
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.sendNow(), this.debounceMs);
    // typing on and on: send at the latest every 2 x debounce
    if (Date.now() - this.firstUnsent >= 2 * this.debounceMs) this.sendNow();
    this.showStatus();
  }

  post() {
    this.lastSendAt = Date.now();
    this.setState("draft", { text: this.sent, epoch: this.epoch, n: this.sentN, base: this.sentBase });
  }

  sendNow() {
    clearTimeout(this.debounce);
    this.debounce = null;
    if (this.composing || this.disabled || !this.setState) return;
    const text = this.area.value;
    this.firstUnsent = null;
    if (text === this.sent && this.sentN <= this.ackN) { this.showStatus(); return; }
    if (text !== this.sent) {
      this.n += 1;
      this.sent = text;
      this.sentN = this.n;
      this.sentBase = fingerprint(this.value);   // the server's text this edit started from (its fingerprint)
      this.retryMs = RETRY_MIN_MS;
    }
    this.everSent = true;
    this.post();
    this.showStatus();
  }

  tick() {
    // an unacknowledged text goes again (Streamlit drops a message sent while disconnected)
    if (this.debounce !== null || this.composing || this.sentN <= this.ackN) return;
    if (Date.now() - this.lastSendAt < this.retryMs || appBusy()) return;
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    this.post();
  }

  pending() {
    return this.debounce !== null || this.area.value !== this.sent || this.sentN > this.ackN;
  }

  update(data, setStateValue) {
    const id = String(data.id);
    const epoch = String(data.epoch);
    const value = typeof data.value === "string" ? data.value : "";
    const ackN = Number(data.ack_n) || 0;
    if (this.id !== null && this.id !== id) this.sendNow();      // another field in this element: finish the old one
    const sameSession = this.epoch !== null && sessionOf(this.epoch) === sessionOf(epoch);
    // start over: a new field, or the server dropped this field's state in this session (a refused text)
    const reset = this.id !== id || (this.epoch !== epoch && sameSession);
    // the same field in a new server session (a restart): keep what is typed, send it on to the new epoch
    const resumed = !reset && this.epoch !== epoch;
    this.setState = setStateValue;
    this.id = id;
    this.epoch = epoch;
    this.debounceMs = Math.max(200, Number(data.debounce_ms) || 1500);
    this.disabled = Boolean(data.disabled);
    this.texts = data.texts || {};
    this.offsetMin = data.utc_offset_min || 0;
    const area = this.area;
    area.disabled = this.disabled;
    area.placeholder = data.placeholder || "";
    if (data.max_chars) area.maxLength = Number(data.max_chars); else area.removeAttribute("maxlength");
    area.style.height = Math.max(38, Number(data.height) || 200) + "px";
    this.labelEl.textContent = data.label || "";
    this.box.classList.toggle("lt-nolabel", !data.label);
    if (reset) {
      clearTimeout(this.debounce);
      this.debounce = null;
      this.firstUnsent = null;
      area.value = value;
      this.sent = value;
      this.sentN = 0;
      this.ackN = ackN;
      this.everSent = false;
      this.savedAt = null;
    } else if (resumed) {
      this.ackN = ackN;
      if (this.sentN > ackN) this.sent = null;   // sent to the old session only: send again (a new number)
    } else {
      const wasPending = this.sentN > this.ackN;
      if (ackN > this.ackN) this.ackN = ackN;
      if (wasPending && this.sentN <= this.ackN) { this.savedAt = new Date(); this.retryMs = RETRY_MIN_MS; }
      const focused = this.root.activeElement === area;
      if (value !== this.value && !focused && !this.pending()) {
        area.value = value;                // saved elsewhere (another window): show it
        this.sent = value;
      }
    }
    this.value = value;
    this.showStatus();
    if (resumed && area.value !== value) this.sendNow();
  }

  showStatus() {
    const texts = this.texts || {};
    const pending = this.pending();
    let text = "";
    if (pending && (this.everSent || this.area.value !== this.value)) text = texts.saving || "...";
    else if (!pending && this.savedAt) {     // in the city's time, as every other time on the page (not the browser's zone)
      const city = new Date(this.savedAt.getTime() + (this.offsetMin || 0) * 60000);
      text = (texts.saved || "OK") + " " + two(city.getUTCHours()) + ":" + two(city.getUTCMinutes()) + ":" +
        two(city.getUTCSeconds());
    }
    this.statusEl.textContent = text;
    this.box.dataset.state = pending ? "saving" : (this.savedAt ? "saved" : "idle");
    const max = this.area.maxLength;
    this.countEl.textContent = max > 0 ? this.area.value.length + "/" + max : "";
  }

  destroy() {
    this.sendNow();
    this.off.forEach((undo) => undo());
    this.off = [];
    clearInterval(this.timer);
    clearTimeout(this.debounce);
  }
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  // Streamlit calls this again with the same element whenever the data changes: one controller per element
  let field = parentElement.__infoskillsLiveText;
  if (!field) {
    field = new LiveText(parentElement);
    parentElement.__infoskillsLiveText = field;
  }
  field.update(data || {}, setStateValue);
  return field.cleanup;
}
"""

_HTML = """
<div class="lt" data-state="idle">
  <label class="lt-label" for="lt-area"></label>
  <textarea id="lt-area" class="lt-area" spellcheck="false"></textarea>
  <div class="lt-foot" aria-live="polite"><span class="lt-status"></span><span class="lt-count"></span></div>
</div>
"""

# Streamlit's own text area, from the theme's variables (the page passes them into the shadow root)
_CSS = """
.lt { font-family: var(--st-font); color: var(--st-text-color); font-size: var(--st-base-font-size, 1rem); }
.lt-label { display: flex; align-items: center; min-height: 1.5rem; margin-bottom: 0.25rem; font-size: 0.875rem;
  line-height: 1.6; color: var(--st-text-color); }
.lt-nolabel .lt-label { display: none; }
.lt-area { display: block; box-sizing: border-box; width: 100%; min-height: 38px; resize: vertical; margin: 0;
  padding: 0.5rem 0.75rem; font-family: inherit; font-size: inherit; line-height: 1.6; color: var(--st-text-color);
  background-color: var(--st-secondary-background-color); border: 1px solid var(--st-widget-border-color, transparent);
  border-radius: var(--st-base-radius, 0.5rem); outline: none; transition: border-color 200ms; }
.lt-area:focus { border-color: var(--st-primary-color); }
.lt-area::placeholder { color: var(--st-text-color); opacity: 0.5; }
.lt-area:disabled { cursor: not-allowed; opacity: 0.6; }
.lt-foot { display: flex; justify-content: space-between; gap: 1rem; min-height: 1.25rem; margin-top: 0.125rem;
  font-size: 0.75rem; line-height: 1.25rem; color: var(--st-text-color); opacity: 0.65; }
"""

_component = st.components.v2.component("infoskills_live_text", html=_HTML, css=_CSS, js=_JS)


def fingerprint(text: str) -> str:
    """FNV-1a (32 bits) over the UTF-16 code units of `text`, as the page computes it: the page names the
    server text an edit started from by this, not by the text (every rerun message carries the state)."""
    h = 0x811C9DC5
    data = text.encode("utf-16-le")
    for i in range(0, len(data), 2):
        h = ((h ^ (data[i] | data[i + 1] << 8)) * 0x01000193) & 0xFFFFFFFF
    return f"{h:08x}"


def _session_id() -> str:
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "-"


def _store(key: str, value: str) -> dict[str, Any]:
    name = f"{key}__lt"
    store = st.session_state.get(name)
    if store is None:
        store = {"epoch": f"{_session_id()}:{uuid.uuid4().hex[:8]}", "value": value, "saved": value, "ack_n": 0,
                 "seen": None, "disabled": False, "max_chars": None}
        st.session_state[name] = store
    return store


def _accepted(store: dict[str, Any], payload: Any) -> tuple[str, int] | None:
    """(text, message number) of a well-formed payload from this epoch or another session, else None."""
    if not isinstance(payload, dict):
        return None
    text, epoch, n = payload.get("text"), payload.get("epoch"), payload.get("n")
    if not isinstance(text, str) or not isinstance(epoch, str) or type(n) is not int or n < 0:
        return None
    if epoch != store["epoch"]:
        if epoch.split(":", 1)[0] == store["epoch"].split(":", 1)[0]:
            return None                  # an older start of this field in this session: refused or replaced
        if payload.get("base") != fingerprint(store["value"]):
            return None                  # from another session, and the text changed since: not over it
    if store["max_chars"]:
        text = text[: store["max_chars"]]
    return text, n


def _ingest(key: str, payload: Any, on_save: Callable[[str], None]) -> None:
    store = st.session_state.get(f"{key}__lt")
    if store is None or store["disabled"] or payload is None:
        return
    taken = _accepted(store, payload)
    if taken is None:
        return
    text, n = taken
    if payload != store["seen"]:         # the same message again (a resend, or a later rerun): nothing to save
        if text != store["saved"]:
            on_save(text)                # raises: not acknowledged, the page keeps saying "saving" and resends
            store["saved"] = text
        store["seen"] = payload
    store["ack_n"] = max(store["ack_n"], n)


def _on_change(key: str, on_save: Callable[[str], None]) -> None:
    # (the state is named "draft": Streamlit reads a state whose only key is "value" as a wrapper and
    # looks for callbacks named after the keys inside it, so an on_value_change would never run)
    state = st.session_state.get(key)
    if state is not None:
        _ingest(key, state.get("draft"), on_save)


def live_text(label: str, *, value: str, key: str, on_save: Callable[[str], None], height: int = 200,
              debounce_ms: int = 1500, disabled: bool = False, max_chars: int | None = None,
              placeholder: str = "") -> None:
    """A text area saved while it is typed. `value`: the text the server has now; `key`: unique on the page
    (state under st.session_state[key] and [f"{key}__lt"]); `on_save(text)`: called with a changed text."""
    value = value or ""
    store = _store(key, value)
    if value != store["value"]:          # the server's text changed (our save, or another window's)
        store["value"] = store["saved"] = value
    store["disabled"], store["max_chars"] = bool(disabled), (int(max_chars) if max_chars else None)
    # a text the callback did not take (it raised, or the page resent a message the server had not taken):
    # taken now, before the data is built, so this run already acknowledges it
    _on_change(key, on_save)
    data = {"id": key, "epoch": store["epoch"], "value": value, "ack_n": store["ack_n"], "label": label,
            "placeholder": placeholder, "height": int(height), "debounce_ms": int(debounce_ms),
            "disabled": bool(disabled), "max_chars": store["max_chars"],
            "texts": {"saving": t("live_text.saving"), "saved": t("live_text.saved")},
            "utc_offset_min": int(datetime.now(LOCAL_TZ).utcoffset().total_seconds() // 60)}
    result = _component(key=key, data=data, on_draft_change=partial(_on_change, key, on_save))
    # a session that had no callback registered yet (new after a server restart): the page's text is handled here
    _ingest(key, result.get("draft"), on_save)
