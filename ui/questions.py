"""Rendering questions for answering and for review. Every answer change is saved at once.

Widget keys carry display positions only (the caller gives the item's key, e.g. "exam_12_345_q3"); which
bank option a box stands for stays on the server. Text a learner typed is shown as text, never as Markdown."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from ui.components.live_text import live_text
from ui.fmt import md_text
from ui.i18n import t

SaveFn = Callable[[int, Any], None]


def _save_from(key: str, item_id: int, save: SaveFn, convert=lambda v: v) -> None:
    save(item_id, convert(st.session_state.get(key)))


def answer_widget(prefix: str, item, save: SaveFn, disabled: bool = False, *, key: str | None = None,
                  live: bool = False) -> None:
    """One question as input widgets; `item` is an ItemView (question = learner view, response = saved).
    `key`: the widget key of this item (default f"{prefix}_{item.item_id}"); live: fill-in and essay
    answers are sent while they are typed (ui/components/live_text), not only when the field is left."""
    q, resp = item.question, item.response
    key = key or f"{prefix}_{item.item_id}"
    st.markdown(f"**{item.position}.** " + t(f"qtype.{q['type']}") + f" · {item.points:g} " + t("quiz.points"))
    st.markdown(q["text"])        # our own content (the bank's Markdown)
    if q["type"] == "single_choice":
        ids = [i for i, _ in q["options"]]
        labels = dict(q["options"])
        st.radio(t("quiz.choose_one"), ids, format_func=labels.get, index=ids.index(resp) if resp in ids else None,
                 key=key, on_change=_save_from, args=(key, item.item_id, save), disabled=disabled,
                 label_visibility="collapsed")
    elif q["type"] == "multiple_choice":
        # keys (and so the browser's element ids) carry display positions only; the bank index of
        # each option stays here on the server and is mapped back when the answer is saved
        chosen = set(resp or [])
        keys = [f"{key}_{n}" for n in range(len(q["options"]))]

        def _save_multi() -> None:
            save(item.item_id, [i for (i, _), k in zip(q["options"], keys) if st.session_state.get(k)])
        for (i, text), k in zip(q["options"], keys):
            st.checkbox(text, value=i in chosen, key=k, on_change=_save_multi, disabled=disabled)
    elif q["type"] == "true_false":
        st.radio(t("quiz.true_false"), [True, False], format_func=lambda v: t("quiz.true") if v else t("quiz.false"),
                 index=None if resp is None else (0 if resp else 1), key=key, horizontal=True,
                 on_change=_save_from, args=(key, item.item_id, save), disabled=disabled, label_visibility="collapsed")
    elif q["type"] == "fill_blank" and live:
        live_text(t("quiz.your_answer"), value=resp or "", key=key, height=68, disabled=disabled,
                  on_save=lambda v, _id=item.item_id: save(_id, v))
    elif q["type"] in ("fill_blank", "numerical"):
        st.text_input(t("quiz.your_answer"), value=resp or "", key=key, on_change=_save_from,
                      args=(key, item.item_id, save), disabled=disabled)
    elif q["type"] == "matching":
        current = dict(resp or {})
        rights = [""] + sorted(set(q["rights"]))

        def _save_match() -> None:
            save(item.item_id, {left: st.session_state.get(f"{key}_{n}") or "" for n, left in enumerate(q["lefts"])})
        for n, left in enumerate(q["lefts"]):
            val = current.get(left, "")
            st.selectbox(left, rights, index=rights.index(val) if val in rights else 0, key=f"{key}_{n}",
                         format_func=lambda r: r or t("quiz.pick"), on_change=_save_match, disabled=disabled)
    elif q["type"] == "essay" and live:
        live_text(t("quiz.your_answer"), value=resp or "", key=key, height=200, disabled=disabled,
                  on_save=lambda v, _id=item.item_id: save(_id, v))
    elif q["type"] == "essay":
        st.text_area(t("quiz.your_answer"), value=resp or "", key=key, on_change=_save_from,
                     args=(key, item.item_id, save), disabled=disabled, height=200)


def review_block(item) -> None:
    """After the review policy allows it: the learner's answer, and the score, key and explanation only
    when the item carries them (item.score None = hidden or waiting for a grader)."""
    q = item.question
    scored = item.score is not None
    with st.container(border=True):
        if getattr(item, "pending", False):
            icon = ":orange[:material/hourglass_top:]"
        elif scored:
            ok = item.score >= item.points - 1e-9
            icon = ":green[:material/check_circle:]" if ok else ":red[:material/cancel:]"
        else:
            icon = ":gray[:material/help:]"
        st.markdown(f"{icon} **{item.position}.** {q['text']}")
        if getattr(item, "pending", False):
            st.caption(t("quiz.pending_item"))
        elif scored:
            st.caption(t("quiz.score_line", score=f"{item.score:g}", points=f"{item.points:g}"))
        _answer_line(t("quiz.your_answer"), q, item.response)
        if item.key is not None:      # keys only once the review policy allows (services/attempts.review_policy)
            _answer_line(t("quiz.correct_answer"), q, item.key)
        if item.explanation:
            st.info(item.explanation)
        if getattr(item, "comment", None):
            st.caption(t("player.grader_comment"))
            st.text(item.comment)


def _answer_line(label: str, q: dict, value: Any) -> None:
    """A learner's (or the key's) answer: choice labels are the bank's; typed text stays text."""
    if q["type"] == "essay" and isinstance(value, str) and value.strip():
        st.markdown(label + ":")
        st.text(value)
    else:
        st.markdown(label + ": " + md_text(_describe(q, value)))


def _describe(q: dict, value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if q["type"] == "single_choice":
        return dict(q["options"]).get(value, "—")
    if q["type"] == "multiple_choice":
        labels = dict(q["options"])
        return "；".join(labels.get(i, "?") for i in value)
    if q["type"] == "true_false":
        return t("quiz.true") if value else t("quiz.false")
    if q["type"] == "matching":
        return "；".join(f"{k} → {v or '—'}" for k, v in value.items())
    if isinstance(value, list):      # a key with several accepted answers
        return " / ".join(str(v) for v in value)
    return str(value)
