"""A tiny page for the browser tests of ui/components (tests/e2e/test_components.py serves it; not in app.py).

What the server side receives is written to files under $COMPONENTS_OUT (one JSON value a line), so the
test can read exactly what arrived, across reloads and server restarts; the page shows it too."""
import json
import os
from pathlib import Path

import streamlit as st

from ui.components import live_text, tab_watch

OUT = Path(os.environ["COMPONENTS_OUT"])


def record(name: str, value) -> None:
    with open(OUT / f"{name}.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(value, ensure_ascii=False) + "\n")


def lines(name: str) -> list:
    path = OUT / f"{name}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def last(name: str) -> str:
    got = lines(name)
    return got[-1] if got else ""


st.title("components")
st.caption("events: [" + ",".join(lines("events")) + "]")
tab_watch("watch", on_event=lambda kind: record("events", kind), block_copy=True)
st.markdown("题目正文：这段文字不能复制。")


@st.fragment
def essay() -> None:
    live_text("作文", value=last("essay"), key="essay", debounce_ms=800, on_save=lambda text: record("essay", text),
              max_chars=500, placeholder="在这里作答")
    st.caption("essay saved: " + last("essay"))


essay()
live_text("填空", value=last("blank"), key="blank", height=68, debounce_ms=5000, on_save=lambda text: record("blank", text))
st.caption("blank saved: " + last("blank"))
st.button("rerun")

# one question per screen, as the player pages through them: another field in the same place
n = st.radio("题号", [1, 2], horizontal=True, key="which")
live_text(f"第{n}题", value=last(f"q{n}"), key=f"q{n}", height=68, debounce_ms=5000,
          on_save=lambda text, n=n: record(f"q{n}", text))
