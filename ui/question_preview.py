"""A question shown exactly as a learner sees it (the learner view: no fractions, keys or explanations),
and, separately, its key for the trainer."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from services.learning import learner_view
from ui.i18n import t
from ui.questions import answer_widget


@dataclass
class _PreviewItem:
    item_id: int
    position: int
    points: float
    question: dict[str, Any]
    response: Any = None


def learner_preview(record: dict[str, Any], *, key: str) -> None:
    """Interactive, saves nothing."""
    item = _PreviewItem(0, 1, float(record.get("points", 1)), learner_view(record, None))
    with st.container(border=True):
        st.caption(t("bank.preview_caption"))
        answer_widget(key, item, lambda _i, _v: None)


def key_block(record: dict[str, Any]) -> None:
    """The answer key and explanation, for trainers."""
    with st.container(border=True):
        st.caption(t("bank.key_caption"))
        for o in record.get("options", []):
            st.text(f"{'✔' if o['fraction'] > 0 else '·'} {o['text']}  ({o['fraction']:g})")
        if "answer" in record:
            st.text(t("quiz.correct_answer") + ": " + (t("quiz.true") if record["answer"] else t("quiz.false")))
        for a in record.get("answers", []):
            st.text("· " + (a["text"] if "text" in a else f"{a['value']:g} ± {a.get('tolerance', 0):g}") + f"  ({a['fraction']:g})")
        for p in record.get("pairs", []):
            st.text(f"· {p['left'] or '—'} → {p['right']}")
        for r in record.get("rubric", []):
            st.text(f"· {r['criterion']} ({r['points']:g})")
        if record.get("explanation"):
            st.text(t("bank.explanation") + ": " + record["explanation"])
        if record.get("legal_basis"):
            lb = record["legal_basis"]
            st.caption(t("bank.legal_basis", law=lb["law"], effective=lb["effective"]))
