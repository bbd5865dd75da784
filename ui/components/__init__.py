"""Custom components (Streamlit components v2: no iframe, our own JS in the page, nothing fetched).

    from ui.components import live_text, tab_watch

- `tab_watch(key, *, on_event, block_copy=False)`: 切屏检测 — every time the learner leaves the page
  (tab hidden or window blurred; one event per leave) `on_event("hidden" | "blur")` runs once on the
  server. Invisible. `block_copy` also blocks copy / cut / context menu / selection in the main area.
- `live_text(label, *, value, key, on_save, ...)`: a text area that saves while it is typed (debounced)
  and when it is left; `on_save(text)` runs with the new text only when it changed.
"""
from ui.components.live_text import live_text
from ui.components.tab_watch import tab_watch

__all__ = ["live_text", "tab_watch"]
