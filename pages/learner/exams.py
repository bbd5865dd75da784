"""The learner's exams: the lobby (in progress — resume; available; upcoming; finished — the result as the
review policy allows), one exam's rules before starting (start needs a confirmation), and the attempt in
the one player (ui/attempt_player.play). The exam is in the address (?exam=ID), so a refresh, closing the
tab or signing in elsewhere comes back to the same attempt with its answers and remaining time."""
import streamlit as st

from services import exams
from services.errors import ServiceError
from ui.attempt_player import play
from ui.fmt import local_time, md_text
from ui.guard import fetch, guard, show_error
from ui.i18n import t
from ui.session import db

actor = guard("learner")


def _exam_id() -> int | None:
    raw = st.query_params.get("exam")
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


def _open(exam_id: int | None) -> None:
    if exam_id is None:
        st.query_params.pop("exam", None)
    else:
        st.query_params["exam"] = str(exam_id)


def _window(card) -> str:
    if card.opens_at is None and card.closes_at is None:
        return t("lobby.window_any")
    return t("lobby.window", opens=local_time(card.opens_at) if card.opens_at else "—",
             closes=local_time(card.closes_at) if card.closes_at else "—")


def _result_line(card) -> str:
    if card.pending and card.score is None:
        return t("lobby.pending")
    if card.result_attempt_id is None:
        return t("lobby.missed") if not card.attempts_used else t("lobby.pending")
    if card.score is None:
        return t("lobby.result_hidden")
    return t("lobby.result", score=f"{card.score:g}", max=f"{card.max_score:g}",
             verdict=t("quiz.passed") if card.passed else t("quiz.failed"))


def _card(card, section: str) -> None:
    with st.container(border=True, key=f"exams_card_{card.exam_id}"):
        st.markdown(f"**{md_text(card.title)}**")   # the trainer's title, as text
        meta = [t("lobby.meta", questions=card.questions, max_score=f"{card.max_score:g}",
                  minutes=card.time_limit_minutes)]
        if section == "in_progress" and card.deadline_at:
            meta.append(t("lobby.deadline", time=local_time(card.deadline_at)))
        elif section == "upcoming" and card.opens_at:
            meta.append(t("lobby.opens_at", time=local_time(card.opens_at)))
        elif section == "available" and card.closes_at:
            meta.append(t("lobby.closes_at", time=local_time(card.closes_at)))
        if section in ("available", "upcoming"):
            meta.append(t("lobby.attempts_left", n=card.attempts_left) if card.attempts_left is not None
                        else t("lobby.attempts_unlimited"))
        st.caption(" · ".join(meta))
        if section == "finished" or (section == "available" and card.attempts_used):
            st.caption(_result_line(card))
        label, kind = {"in_progress": (t("lobby.resume"), "primary"), "available": (t("lobby.open"), "primary"),
                       "upcoming": (t("lobby.open"), "secondary"),
                       "finished": (t("lobby.view_result"), "secondary")}[section]
        st.button(label, key=f"exams_open_{card.exam_id}", type=kind, on_click=_open, args=(card.exam_id,))


def lobby_page() -> None:
    lobby = fetch(lambda s: exams.lobby(s, actor))
    sections = [("in_progress", lobby.in_progress), ("available", lobby.available), ("upcoming", lobby.upcoming),
                ("finished", lobby.finished)]
    if not any(cards for _, cards in sections):
        st.info(t("lobby.none"), icon=":material/event_busy:")
        return
    for section, cards in sections:
        if not cards:
            continue
        st.subheader(t(f"lobby.{section}"))
        for card in cards:
            _card(card, section)


def _rules(card) -> None:
    with st.container(border=True, key="exams_rules"):
        st.markdown("**" + t("lobby.rules") + "**")
        lines = [t("lobby.rule_questions", questions=card.questions, max_score=f"{card.max_score:g}",
                   pass_percent=f"{card.pass_percent:g}"),
                 t("lobby.rule_time", minutes=card.time_limit_minutes), _window(card),
                 t("lobby.rule_attempts", allowed=card.attempts_allowed, used=card.attempts_used)
                 if card.attempts_allowed else t("lobby.rule_attempts_unlimited", used=card.attempts_used),
                 t("lobby.rule_layout_one") if card.one_per_page else t("lobby.rule_layout_all"),
                 t("lobby.rule_save")]
        lines.append(t("lobby.rule_tab", limit=card.tab_switch_limit) if card.tab_switch_limit is not None
                     else t("lobby.rule_tab_count"))
        if not card.allow_copy:
            lines.append(t("lobby.rule_no_copy"))
        for line in lines:
            st.markdown("- " + line)
        if card.description.strip():
            st.text(card.description)     # the trainer's text, as text


def _start(exam_id: int) -> None:
    try:
        with db() as s:
            exams.start_exam(s, actor, exam_id=exam_id)
    except ServiceError as exc:
        show_error(exc)
        return
    st.session_state.pop(f"exams_confirm_{exam_id}", None)
    st.rerun()


def _my_attempts(exam_id: int, card) -> None:
    """The learner's attempts, newest first; the chosen one (default: the latest) shown by the player."""
    mine = fetch(lambda s: exams.my_attempts(s, actor, exam_id=exam_id))
    closed = [v for v in mine if v.closed]
    if not closed:
        return
    st.subheader(t("lobby.my_attempts"))
    ids = [v.attempt_id for v in closed]
    numbers = {v.attempt_id: len(mine) - n for n, v in enumerate(mine)}
    by_id = {v.attempt_id: v for v in closed}

    def label(aid: int) -> str:
        v = by_id[aid]
        text = t("lobby.attempt_label", n=numbers[aid], time=local_time(v.submitted_at or v.started_at),
                 status=t(f"lobby.status.{v.status}"))
        return text + (" · " + t("lobby.counted") if aid == card.result_attempt_id and len(closed) > 1 else "")
    chosen = ids[0]
    if len(ids) > 1:
        chosen = st.selectbox(t("lobby.my_attempts"), ids, format_func=label, key=f"exams_attempt_{exam_id}",
                              label_visibility="collapsed")
    else:
        st.caption(label(chosen))
    play(actor, chosen, prefix=f"exam_{exam_id}")


def exam_page(exam_id: int) -> None:
    st.button(t("lobby.back"), key="exams_back", icon=":material/arrow_back:", on_click=_open, args=(None,))
    # an attempt in progress: straight to the player (every answer reruns this page; the card is read
    # only to find the open attempt, and play() checks it is the learner's own)
    open_key = f"exams_open_attempt_{exam_id}"
    attempt_id = st.session_state.get(open_key)
    card = None
    if attempt_id is None:
        card = fetch(lambda s: exams.exam_card(s, actor, exam_id=exam_id))
        if card.status == "in_progress" and card.open_attempt_id is not None:
            attempt_id = st.session_state[open_key] = card.open_attempt_id
    if attempt_id is not None:
        head = st.empty()
        view = play(actor, attempt_id, prefix=f"exam_{exam_id}")
        head.header(md_text(view.title or ""), anchor=False)
        if not view.closed:
            return
        st.session_state.pop(open_key, None)      # submitted (now, or by time, 切屏 limit, the exam closing)
        st.button(t("lobby.back"), key="exams_back_end", on_click=_open, args=(None,))
        return
    st.header(md_text(card.title), anchor=False)
    _rules(card)
    if card.status == "available":
        confirm_key = f"exams_confirm_{exam_id}"
        if not st.session_state.get(confirm_key):
            st.button(t("lobby.start"), type="primary", key="exams_start", icon=":material/play_arrow:",
                      on_click=lambda: st.session_state.__setitem__(confirm_key, True))
        else:
            with st.container(border=True, key="exams_start_confirm_box"):
                st.warning(t("lobby.start_confirm", minutes=card.time_limit_minutes), icon=":material/timer:")
                with st.container(horizontal=True):
                    if st.button(t("lobby.start_confirm_button"), type="primary", key="exams_start_confirm"):
                        _start(exam_id)
                    st.button(t("lobby.cancel"), key="exams_start_cancel",
                              on_click=lambda: st.session_state.__setitem__(confirm_key, False))
    elif card.status == "upcoming":
        st.info(t("lobby.not_yet", time=local_time(card.opens_at)), icon=":material/event:")
    elif card.attempts_allowed and card.attempts_used >= card.attempts_allowed:
        st.info(t("lobby.no_attempts_left"))
    else:
        st.info(t("lobby.closed"))
    _my_attempts(exam_id, card)


st.title(t("nav.exams"))
exam_id = _exam_id()
if exam_id is None:
    lobby_page()
else:
    exam_page(exam_id)
