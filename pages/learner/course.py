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
from ui.i18n import t
from ui.questions import answer_widget, review_block
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

    # an answer refused in a callback (another window changed it, time up, closed): drop this tab's widget
    # state for it so that the answer shown is the one stored, and say why
    reset = st.session_state.pop("course_quiz_reset", None)
    if reset is not None:
        prefix, item_id, exc = reset
        bases = [f"{prefix}_{item_id}"] if item_id is not None else [prefix]
        for key in [k for k in st.session_state if isinstance(k, str)]:
            if any(key == b or key.startswith(b + "_") for b in bases):
                del st.session_state[key]
        (st.warning if exc.code == "error.answer_changed_elsewhere" else st.error)(
            t(exc.code, **exc.params), icon=":material/sync_problem:")

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
        prefix = f"course_quiz_{view.attempt_id}"
        versions_key = f"{prefix}_versions"
        st.session_state[versions_key] = {i.item_id: i.version for i in view.items}

        def _save(item_id, response):
            versions = st.session_state.get(versions_key, {})
            try:
                with db() as s2:
                    versions[item_id] = learning.save_answer(s2, actor, item_id=item_id, response=response,
                                                             expected_version=versions.get(item_id))
            except ServiceError as exc:
                whole = exc.code in ("error.attempt_overdue", "error.attempt_closed")
                st.session_state["course_quiz_reset"] = (prefix, None if whole else item_id, exc)
        answered = sum(1 for i in view.items if i.response not in (None, "", [], {}))
        st.caption(t("quiz.saved_hint", answered=answered, total=len(view.items)))
        for item in view.items:
            with st.container(border=True):
                answer_widget(prefix, item, _save)
        if st.button(t("quiz.submit"), type="primary", key="course_quiz_submit"):
            try:
                with db() as s:
                    learning.submit_quiz(s, actor, attempt_id=view.attempt_id)
            except ServiceError as exc:
                show_error(exc)
            else:
                st.rerun()
        _history()
    else:
        if view is not None:
            st.subheader(t("quiz.last_result"))
            if view.status == "pending_grading":
                st.info(t("quiz.pending", score=f"{(view.score or 0):g}"))
            else:
                pct = 100 * (view.score or 0) / view.max_score if view.max_score else 0
                (st.success if view.passed else st.error)(
                    t("quiz.result", score=f"{(view.score or 0):g}", max=f"{view.max_score:g}", percent=f"{pct:.0f}",
                      verdict=t("quiz.passed") if view.passed else t("quiz.failed")))
                if not view.passed:
                    st.info(t("quiz.failed_hint"))
            if view.auto_submitted:
                st.caption(t("quiz.auto_submitted"))
        # the next step first, then the review of the last attempt (it can be long)
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
            for item in view.items:
                if item.pending:     # an essay waiting for a grader: no score yet, not 0
                    with st.container(border=True):
                        st.markdown(f"**{item.position}.** " + item.question["text"])
                        st.caption(t("quiz.pending_item"))
                        st.text(str(item.response or "—"))
                else:
                    review_block(item)

