"""A course: objectives, lessons (Markdown, rendered without raw HTML), what is left, the study-time
countdown, and the course quiz — whose open or last attempt and history come from the database, so a
refresh, a new sign-in or a server restart finds them again."""
from datetime import datetime, UTC

import pandas as pd
import streamlit as st

from services import learning
from services.errors import ServiceError
from ui.fmt import duration, hours, local_time
from ui.guard import fetch, guard, show_error
from ui.attempt_player import play
from ui.i18n import t
from ui.session import db
from ui.lesson_extras import lesson_extras
from ui.widgets import countdown_text, course_title

actor = guard("learner")
course_id = st.query_params.get("course") or st.session_state.get("course_id")
if not course_id:
    st.title(t("nav.course"))
    st.info(t("course.pick_first"))
    if st.button(t("home.browse")):
        st.switch_page("pages/learner/catalogue.py")
    st.stop()
st.session_state["course_id"] = course_id
st.query_params["course"] = course_id

detail = fetch(lambda s: learning.course_detail(s, actor, course_id=course_id))
card = detail.card

st.title(course_title(card))
badge = t("course.required") if card.required else t("course.elective")
st.caption(f"{badge} · {card.category} · {t('catalogue.meta', minutes=card.minutes, hours=hours(card.credit_hours))}")

# what is left (before the section control, so "take the quiz" can switch to it in this run)
if nxt := st.session_state.pop("course_section_next", None):
    st.session_state["course_section"] = nxt
left = [ls for ls in detail.lessons if not ls.done]
if card.completed:
    st.success(t("course.completed"))
elif card.status == "take_quiz":
    st.info(t("course.take_quiz_hint", bonus=hours(detail.quiz_bonus)), icon=":material/quiz:")
    if st.session_state.get("course_section") != "quiz" and st.button(
            t("course.take_quiz"), type="primary", icon=":material/quiz:", key="course_take_quiz"):
        st.session_state["course_section_next"] = "quiz"
        st.rerun()
elif left and not detail.legacy_credit:
    st.caption(t("course.left_lessons", n=len(left), hours=hours(sum(ls.credit_hours for ls in left))))
if detail.legacy_credit:
    st.caption(t("course.legacy_credit"))
st.progress(card.progress, text=t("catalogue.lessons_done", done=card.lessons_done, total=card.lessons_total))
with st.expander(t("course.objectives"), expanded=card.lessons_done == 0):
    st.write(card.summary)
    for o in detail.objectives:
        st.markdown(f"- {o}")

# a keyed control rather than st.tabs: the chosen section survives reruns (e.g. after submitting the quiz)
section = st.segmented_control(t("course.section"), ["lessons", "quiz"], key="course_section", default="lessons",
                               format_func=lambda k: t(f"course.{k}"), label_visibility="collapsed") or "lessons"


def _mark_done(lesson_id: str) -> None:
    try:
        with db() as s:
            outcome = learning.complete_lesson(s, actor, lesson_id=lesson_id)
    except ServiceError as exc:
        show_error(exc)
        return
    nxt = next((ls.id for ls in detail.lessons if not ls.done and ls.id != lesson_id), None)
    if nxt:
        st.session_state["course_lesson_next"] = nxt
    flash = t("course.lesson_credited", hours=hours(outcome.hours)) if outcome.hours else t("course.lesson_done")
    if outcome.course_completed:
        flash += " " + t("course.just_completed")
        st.session_state["course_balloons"] = True
    st.session_state["course_flash"] = flash
    st.rerun()


def _done_button(lesson_id: str, *, disabled: bool) -> bool:
    return st.button(t("course.mark_done"), type="primary", icon=":material/task_alt:", key=f"course_done_{lesson_id}",
                     disabled=disabled)


if section == "lessons":
    nav, body = st.columns([1, 3])
    ids = [ls.id for ls in detail.lessons]
    if nxt := st.session_state.pop("course_lesson_next", None):
        st.session_state["course_lesson"] = nxt
    if st.session_state.get("course_lesson") not in ids:
        st.session_state["course_lesson"] = card.next_lesson_id or (ids[0] if ids else None)
    labels = {ls.id: (":material/check_circle: " if ls.done else ":material/radio_button_unchecked: ")
              + f"{ls.position}. {ls.title}" for ls in detail.lessons}
    with nav:
        lesson_id = st.radio(t("course.lessons"), ids, format_func=labels.get, key="course_lesson",
                             label_visibility="collapsed")
    if msg := st.session_state.pop("course_flash", None):
        if st.session_state.pop("course_balloons", False):
            st.balloons()
        st.success(msg)
    if lesson_id:
        with db() as s:
            progress = learning.record_study(s, actor, lesson_id=lesson_id)
            lesson = learning.lesson_body(s, actor, lesson_id=lesson_id)
            gate = learning.study_gate(s, actor, lesson_id=lesson_id)
        item = next(ls for ls in detail.lessons if ls.id == lesson_id)
        with body:
            with st.container(border=True):
                st.markdown(lesson.body_md)   # our own content; Markdown only: Streamlit escapes raw HTML
            lesson_extras(actor, lesson_id)
            st.caption(t("course.lesson_meta", minutes=lesson.minutes, spent=duration(progress.seconds_spent))
                       + ("" if detail.legacy_credit else " · " + t("course.lesson_hours", hours=hours(item.credit_hours))))
            if item.done:
                st.success(t("course.lesson_done"))
            elif gate.remaining > 0:
                ready_at = gate.ready_at

                # the minimum study time as a countdown (display only: complete_lesson checks the stored
                # time on the server); when it is up the whole page reruns, which stores the time studied
                # and shows the button enabled
                @st.fragment(run_every=1)
                def _countdown() -> None:
                    remaining = int((ready_at - datetime.now(UTC)).total_seconds() + 0.999)
                    if remaining <= 0:
                        st.rerun()
                    st.info(t("course.countdown", time=countdown_text(remaining)), icon=":material/hourglass_top:")
                    _done_button(lesson_id, disabled=True)
                _countdown()
            elif _done_button(lesson_id, disabled=False):
                _mark_done(lesson_id)

else:
    if not detail.quiz:
        st.info(t("course.no_quiz"))
        st.stop()
    if detail.quiz_passed:
        st.success(t("course.quiz_passed"))
    all_done = card.lessons_done == card.lessons_total
    st.caption(t("course.quiz_rules", n=sum(r["count"] for r in detail.quiz["draw"]),
                 pass_percent=f"{detail.quiz['pass_percent']:g}"))

    state = fetch(lambda s: learning.quiz_state(s, actor, course_id=course_id))
    view = state.current

    def _history() -> None:
        """Every closed attempt, newest first (date, score, passed)."""
        if not state.history:
            return
        st.subheader(t("quiz.history"))

        def _verdict(h) -> str:
            if h.status == "pending_grading":
                return t("quiz.pending_grading")
            return t("quiz.passed") if h.passed else t("quiz.failed")
        st.dataframe(pd.DataFrame({
            t("field.time"): [local_time(h.submitted_at or h.started_at) for h in state.history],
            t("quiz.col.score"): [f"{(h.score or 0):g}/{h.max_score:g}" for h in state.history],
            t("quiz.col.result"): [_verdict(h) for h in state.history],
        }), hide_index=True, width="stretch")

    if view is not None and view.status == "in_progress":
        # the one attempt player (ui/attempt_player.py); a course quiz is short: all questions on one page
        play(actor, view.attempt_id, prefix="course_quiz", one_per_page=False)
        _history()
    else:
        # the next step first, then the last attempt's result and review (it can be long)
        label = t("course.quiz_retake") if detail.quiz_passed else t("course.quiz_start")
        if not all_done:
            st.info(t("course.quiz_after_lessons"))
        if st.button(label, disabled=not all_done, key="course_quiz_start",
                     type="secondary" if detail.quiz_passed else "primary"):
            try:
                with db() as s:
                    learning.start_quiz(s, actor, course_id=course_id)
            except ServiceError as exc:
                show_error(exc)
            else:
                st.rerun()
        _history()
        if view is not None:
            st.subheader(t("quiz.last_result"))
            if view.status == "submitted" and view.passed is False:
                st.info(t("quiz.failed_hint"))
            play(actor, view.attempt_id, prefix="course_quiz")
