"""The one attempt player: the course quiz, the exam, practice and the mock exam (pages only choose which
attempt to show).

    view = play(actor, attempt_id, prefix="exam_12", check=None)

- Open attempt (services.attempts.attempt_view, which finalises an overdue attempt first): one question per
  screen with a palette (answered / flagged / unanswered) and previous / next, or all questions on one
  page (`view.one_per_page`); every answer change saved at once (save_answer with the version the page
  showed) with a visible "已保存 HH:MM:SS"; a flag per question; a countdown from the stored deadline in
  a fragment (display only; warns at 5 and 1 minutes; at 0 the page reruns so the service finalises);
  the tab-switch watch for exams (ui/components/tab_watch) with copying blocked when the exam forbids it; submit behind a confirmation that says how many questions are unanswered.
- Closed attempt: the result as the review policy allows (score and pass, pending grading, submitted
  automatically) and the review of every question (keys and explanations only when the view has them).
- `check` (practice only): (session, attempt item id) -> ItemView with key, explanation and score; each
  answered question gets a "核对答案" button, after which it is locked and its review shown at once.

Widget keys: f"{prefix}_{attempt_id}_q{position}..." — display positions only, never a bank id.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import streamlit as st
from sqlmodel import Session

from services import attempts
from services.attempts import AttemptView, ItemView
from services.errors import ServiceError
from services.permissions import Actor
from ui.components.tab_watch import tab_watch
from ui.fmt import local_time
from ui.guard import fetch, show_error
from ui.i18n import t
from ui.questions import answer_widget, review_block
from ui.session import db
from ui.widgets import countdown_text

CheckFn = Callable[[Session, int], ItemView]
LIVE_TYPES = ("fill_blank", "essay")   # ui/questions.answer_widget(live=True): saved while typed
WARN_AT = (300, 60)          # seconds left: the countdown warns (5 and 1 minutes)


def play(actor: Actor, attempt_id: int, *, prefix: str, check: CheckFn | None = None,
         one_per_page: bool | None = None) -> AttemptView:
    """Show attempt `attempt_id` of the acting learner: answering while open, the result and review once
    closed. `prefix`: widget-key prefix unique on the page. `one_per_page`: None = the attempt's setting
    (view.one_per_page). Returns the AttemptView shown."""
    base = f"{prefix}_{attempt_id}"
    _apply_reset(base)
    view = fetch(lambda s: attempts.attempt_view(s, actor, attempt_id=attempt_id))
    if view.closed:
        _forget(base)
        show_result(view, base=base)
        return view
    _Player(actor, view, prefix, base, check, view.one_per_page if one_per_page is None else one_per_page).render()
    return view


# ---- state kept in this browser session ----------------------------------------------------------

def _keys_of(base: str) -> list[str]:
    return [k for k in st.session_state if isinstance(k, str) and (k == base or k.startswith(base + "_"))]


def _forget(base: str) -> None:
    """Drop this attempt's widget and player state (after it closed)."""
    for k in _keys_of(base):
        del st.session_state[k]


def _apply_reset(base: str) -> None:
    """An answer refused in a callback (another window saved it, time up, closed): drop this tab's widget
    state for it, so what is shown is what is stored, and say why."""
    reset = st.session_state.pop(f"{base}_reset", None)
    if reset is None:
        return
    position, code, params = reset
    if position is None:        # the whole attempt (closed, overdue): every question's widgets
        dropped = [k for k in _keys_of(base) if k.startswith(f"{base}_q")]
    else:                       # this question's widgets (its options, flag, live-text state)
        stem = f"{base}_q{position}"
        dropped = [k for k in _keys_of(base) if k == stem or k.startswith(stem + "_")]
    for k in dropped:
        del st.session_state[k]
    (st.warning if code == "error.answer_changed_elsewhere" else st.error)(t(code, **params),
                                                                            icon=":material/sync_problem:")


# ---- the open attempt --------------------------------------------------------------------------

class _Player:
    def __init__(self, actor: Actor, view: AttemptView, prefix: str, base: str, check: CheckFn | None,
                 one_per_page: bool):
        self.actor, self.view, self.prefix, self.base, self.check = actor, view, prefix, base, check
        self.one_per_page = one_per_page and len(view.items) > 1
        # the version of each item this page shows; save_answer names it (a stale tab is refused)
        self.versions: dict[int, int] = st.session_state.setdefault(f"{base}_versions", {})
        self.versions.update({i.item_id: i.version for i in view.items})
        self.checked: dict[int, ItemView] = st.session_state.setdefault(f"{base}_checked", {})

    # -- callbacks (run before the next script run)
    def save(self, item_id: int, response: Any) -> None:
        position = next(i.position for i in self.view.items if i.item_id == item_id)
        try:
            with db() as s:
                self.versions[item_id] = attempts.save_answer(s, self.actor, item_id=item_id, response=response,
                                                              expected_version=self.versions.get(item_id))
        except ServiceError as exc:
            whole = exc.code in ("error.attempt_overdue", "error.attempt_closed")
            st.session_state[f"{self.base}_reset"] = (None if whole else position, exc.code, exc.params)

    def flag(self, item: ItemView, key: str) -> None:
        try:
            with db() as s:
                attempts.set_flag(s, self.actor, item_id=item.item_id, flagged=bool(st.session_state.get(key)))
        except ServiceError as exc:
            st.session_state[f"{self.base}_reset"] = (None, exc.code, exc.params)

    def run_check(self, item: ItemView) -> None:
        try:
            with db() as s:
                self.checked[item.position] = self.check(s, item.item_id)
        except ServiceError as exc:
            st.session_state[f"{self.base}_reset"] = (item.position, exc.code, exc.params)

    def tab_event(self, kind: str) -> None:
        try:
            with db() as s:
                switch = attempts.record_tab_switch(s, self.actor, attempt_id=self.view.attempt_id, kind=kind)
        except ServiceError:
            return
        if switch.warning:
            st.session_state[f"{self.base}_tab_notice"] = (switch.count, switch.limit, switch.submitted)

    def go(self, position: int) -> None:
        n = len(self.view.items)
        position = min(max(1, position), n)
        st.session_state[f"{self.base}_pos"] = position
        st.session_state[f"{self.base}_palette"] = position

    def palette_changed(self) -> None:
        chosen = st.session_state.get(f"{self.base}_palette")
        if chosen is None:      # a click on the current pill deselects it: stay
            st.session_state[f"{self.base}_palette"] = st.session_state.get(f"{self.base}_pos", 1)
        else:
            st.session_state[f"{self.base}_pos"] = chosen

    # -- drawing
    def render(self) -> None:
        view = self.view
        self._watch()
        self._status_bar()
        if self.one_per_page:
            self._one_per_page()
        else:
            for item in view.items:
                self._item(item)
        self._submit()

    def _watch(self) -> None:
        """The tab-switch watch (exams) with its copy block; what the last switch did."""
        view, base = self.view, self.base
        if view.kind == "exam":
            # 切屏检测 and, when the exam forbids it, no copying (ui/components/tab_watch)
            tab_watch(f"{base}_tabwatch", on_event=self.tab_event, block_copy=not view.allow_copy)
        notice = st.session_state.pop(f"{base}_tab_notice", None)
        if notice is not None:
            count, limit, _submitted = notice
            if limit is None:
                st.warning(t("player.tab_left", n=count), icon=":material/tab_unselected:")
            else:
                st.warning(t("player.tab_left_limit", n=count, limit=limit), icon=":material/tab_unselected:")
        elif view.tab_switches and view.tab_switch_limit is not None:
            st.caption(t("player.tab_count", n=view.tab_switches, limit=view.tab_switch_limit))

    def _status_bar(self) -> None:
        view = self.view
        saved = [i.saved_at for i in view.items if i.saved_at is not None]
        with st.container(border=True, key=f"{self.base}_status"):
            if view.deadline_at is not None:
                _countdown(view.deadline_at, self.base)
            line = t("player.progress", answered=view.answered, total=len(view.items))
            if saved:
                line += " · " + t("player.saved_at", time=local_time(max(saved), "%H:%M:%S"))
            st.caption(line)

    def _item(self, item: ItemView) -> None:
        key = f"{self.base}_q{item.position}"
        checked = self.checked.get(item.position)
        with st.container(border=True, key=f"{key}_box"):
            answer_widget(self.prefix, item, self.save, disabled=checked is not None, key=key, live=True)
            if checked is not None:
                review_block(checked)
                return
            with st.container(horizontal=True, vertical_alignment="center"):
                if item.question["type"] in LIVE_TYPES:
                    st.space("stretch")     # the field shows its own "保存中… / 已保存" state
                else:
                    st.caption(t("player.saved_at", time=local_time(item.saved_at, "%H:%M:%S")) if item.saved_at
                               else t("player.not_answered"))
                flag_key = f"{key}_flag"
                if flag_key not in st.session_state:
                    st.session_state[flag_key] = item.flagged
                st.toggle(t("player.flag"), key=flag_key, on_change=self.flag, args=(item, flag_key))
            if self.check is not None and item.answered:
                st.button(t("player.check"), key=f"{key}_check", icon=":material/fact_check:",
                          on_click=self.run_check, args=(item,))

    def _one_per_page(self) -> None:
        view, base = self.view, self.base
        n = len(view.items)
        pos_key, pal_key = f"{base}_pos", f"{base}_palette"
        position = min(max(1, int(st.session_state.get(pos_key, 1))), n)
        st.session_state[pos_key] = position
        if st.session_state.get(pal_key) != position:
            st.session_state[pal_key] = position
        by_pos = {i.position: i for i in view.items}

        def label(p: int) -> str:
            it = by_pos[p]
            if it.flagged:
                return f":material/flag: {p}"
            if it.answered:
                return f":material/check: {p}"
            return str(p)
        st.pills(t("player.palette"), list(range(1, n + 1)), format_func=label, key=pal_key,
                 on_change=self.palette_changed)
        st.caption(t("player.legend"))
        self._item(by_pos[position])
        with st.container(horizontal=True):
            st.button(t("player.previous"), key=f"{base}_prev", icon=":material/chevron_left:", disabled=position <= 1,
                      on_click=self.go, args=(position - 1,))
            st.button(t("player.next"), key=f"{base}_next", icon=":material/chevron_right:", disabled=position >= n,
                      on_click=self.go, args=(position + 1,))

    def _submit(self) -> None:
        view, base = self.view, self.base
        confirm_key = f"{base}_confirm"
        unanswered = len(view.items) - view.answered
        flagged = sum(1 for i in view.items if i.flagged)
        if not st.session_state.get(confirm_key):
            st.button(t("quiz.submit"), type="primary", key=f"{self.prefix}_submit", icon=":material/send:",
                      on_click=lambda: st.session_state.__setitem__(confirm_key, True))
            return
        with st.container(border=True, key=f"{base}_confirm_box"):
            if unanswered:
                st.warning(t("player.confirm_unanswered", n=unanswered, total=len(view.items)),
                           icon=":material/warning:")
            else:
                st.info(t("player.confirm_all_answered", total=len(view.items)))
            if flagged:
                st.caption(t("player.confirm_flagged", n=flagged))
            with st.container(horizontal=True):
                if st.button(t("player.confirm_submit"), type="primary", key=f"{self.prefix}_submit_confirm"):
                    try:
                        with db() as s:
                            attempts.submit_attempt(s, self.actor, attempt_id=view.attempt_id)
                    except ServiceError as exc:
                        show_error(exc)
                        return
                    _forget(base)
                    st.rerun()
                st.button(t("player.keep_answering"), key=f"{self.prefix}_submit_cancel",
                          on_click=lambda: st.session_state.__setitem__(confirm_key, False))


def _countdown(deadline_at: datetime, base: str) -> None:
    """The remaining time from the stored deadline and the server clock, redrawn every second without
    rerunning the page (display only: the service refuses saves after the deadline). At 0 the whole page
    reruns, which finalises the attempt with what was saved."""

    @st.fragment(run_every=1)
    def _tick() -> None:
        left = int((deadline_at - attempts.now()).total_seconds())
        if left <= 0:
            st.rerun(scope="app")
        text = t("player.time_left", time=countdown_text(left))
        if left <= WARN_AT[1]:
            st.error(text, icon=":material/timer:")
        elif left <= WARN_AT[0]:
            st.warning(text, icon=":material/timer:")
        else:
            st.info(text, icon=":material/timer:")
        for limit in WARN_AT:
            flag = f"{base}_warned_{limit}"
            if left <= limit and not st.session_state.get(flag):
                st.session_state[flag] = True
                st.toast(t("player.time_warning", minutes=limit // 60), icon=":material/timer:")
    _tick()


# ---- the closed attempt --------------------------------------------------------------------------

def show_result(view: AttemptView, *, base: str = "attempt") -> None:
    """The result as the review policy allows, then the review of every question."""
    with st.container(border=True, key=f"{base}_result"):
        if view.status == "pending_grading":
            if view.show_score:
                st.info(t("quiz.pending", score=f"{(view.score or 0):g}"), icon=":material/hourglass_top:")
            else:
                st.info(t("player.pending_hidden"), icon=":material/hourglass_top:")
        elif view.show_score and view.score is not None:
            pct = 100 * view.score / view.max_score if view.max_score else 0
            (st.success if view.passed else st.error)(
                t("quiz.result", score=f"{view.score:g}", max=f"{view.max_score:g}", percent=f"{pct:.0f}",
                  verdict=t("quiz.passed") if view.passed else t("quiz.failed")))
        else:
            st.info(t("player.score_hidden"), icon=":material/visibility_off:")
        meta = [t("player.submitted_at", time=local_time(view.submitted_at))] if view.submitted_at else []
        meta.append(t("player.answered_of", answered=view.answered, total=len(view.items)))
        st.caption(" · ".join(meta))
        if view.auto_submitted:
            over_limit = view.tab_switch_limit is not None and view.tab_switches > view.tab_switch_limit
            st.caption(t("player.tab_limit_submitted", n=view.tab_switches) if over_limit else t("quiz.auto_submitted"))
        if view.kind == "exam" and not (view.show_answers or view.show_explanations):
            st.caption(t("player.keys_later"))
    for item in view.items:
        review_block(item)
