"""A course: objectives, lessons (Markdown, rendered without raw HTML), progress, course quiz."""
import streamlit as st

from services import learning
from services.errors import ServiceError
from ui.fmt import duration, hours
from ui.guard import fetch, guard, show_error
from ui.i18n import t
from ui.questions import answer_widget, review_block
from ui.session import db
from ui.widgets import course_title

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
if card.completed:
    st.success(t("course.completed"))
st.progress(card.progress, text=t("catalogue.lessons_done", done=card.lessons_done, total=card.lessons_total))
with st.expander(t("course.objectives"), expanded=card.lessons_done == 0):
    st.write(card.summary)
    for o in detail.objectives:
        st.markdown(f"- {o}")

# a keyed control rather than st.tabs: the chosen section survives reruns (e.g. after submitting the quiz)
section = st.segmented_control(t("course.section"), ["lessons", "quiz"], key="course_section", default="lessons",
                               format_func=lambda k: t(f"course.{k}"), label_visibility="collapsed") or "lessons"
if section == "lessons":
    nav, body = st.columns([1, 3])
    ids = [ls.id for ls in detail.lessons]
    if nxt := st.session_state.pop("course_lesson_next", None):
        st.session_state["course_lesson"] = nxt
    if st.session_state.get("course_lesson") not in ids:
        st.session_state["course_lesson"] = next((ls.id for ls in detail.lessons if not ls.done), ids[0] if ids else None)
    labels = {ls.id: (":material/check_circle: " if ls.done else ":material/radio_button_unchecked: ")
              + f"{ls.position}. {ls.title}" for ls in detail.lessons}
    with nav:
        lesson_id = st.radio(t("course.lessons"), ids, format_func=labels.get, key="course_lesson",
                             label_visibility="collapsed")
    if lesson_id:
        with db() as s:
            progress = learning.record_study(s, actor, lesson_id=lesson_id)
            lesson = learning.lesson_body(s, actor, lesson_id=lesson_id)
        with body:
            with st.container(border=True):
                st.markdown(lesson.body_md)   # Markdown only: Streamlit escapes raw HTML
            item = next(ls for ls in detail.lessons if ls.id == lesson_id)
            st.caption(t("course.lesson_meta", minutes=lesson.minutes, spent=duration(progress.seconds_spent)))
            if item.done:
                st.success(t("course.lesson_done"))
            elif st.button(t("course.mark_done"), type="primary", icon=":material/task_alt:", key=f"course_done_{lesson_id}"):
                try:
                    with db() as s:
                        finished = learning.complete_lesson(s, actor, lesson_id=lesson_id)
                except ServiceError as exc:
                    show_error(exc)
                else:
                    nxt = next((ls.id for ls in detail.lessons if not ls.done and ls.id != lesson_id), None)
                    if nxt:
                        st.session_state["course_lesson_next"] = nxt
                    if finished:
                        st.session_state["course_flash"] = t("course.just_completed", hours=hours(card.credit_hours))
                    st.rerun()
    if msg := st.session_state.pop("course_flash", None):
        st.balloons()
        st.success(msg)

else:
    if not detail.quiz:
        st.info(t("course.no_quiz"))
    elif detail.quiz_passed:
        st.success(t("course.quiz_passed"))
    all_done = card.lessons_done == card.lessons_total
    if detail.quiz:
        st.caption(t("course.quiz_rules", n=sum(r["count"] for r in detail.quiz["draw"]), pass_percent=f"{detail.quiz['pass_percent']:g}"))
        attempt_id = st.session_state.get(f"course_quiz_{course_id}")
        if attempt_id is None:   # after a refresh or re-login: back to the open attempt, answers intact
            with db() as s:
                attempt_id = next((a.id for a in learning.quiz_history(s, actor, course_id=course_id)
                                   if a.status == "in_progress"), None)
        if attempt_id is None:
            label = t("course.quiz_retake") if detail.quiz_passed else t("course.quiz_start")
            if not all_done:
                st.info(t("course.quiz_after_lessons"))
            if st.button(label, disabled=not all_done, key="course_quiz_start"):
                try:
                    with db() as s:
                        st.session_state[f"course_quiz_{course_id}"] = learning.start_quiz(s, actor, course_id=course_id)
                    st.rerun()
                except ServiceError as exc:
                    show_error(exc)
        else:
            with db() as s:
                view = learning.quiz_view(s, actor, attempt_id=attempt_id)

            def _save(item_id, response):
                try:
                    with db() as s2:
                        learning.save_answer(s2, actor, item_id=item_id, response=response)
                except ServiceError as exc:
                    st.session_state["course_quiz_error"] = exc
            if view.status == "in_progress":
                answered = sum(1 for i in view.items if i.response not in (None, "", [], {}))
                st.caption(t("quiz.saved_hint", answered=answered, total=len(view.items)))
                for item in view.items:
                    with st.container(border=True):
                        answer_widget(f"course_quiz_{attempt_id}", item, _save)
                if err := st.session_state.pop("course_quiz_error", None):
                    show_error(err)
                if st.button(t("quiz.submit"), type="primary", key="course_quiz_submit"):
                    with db() as s:
                        view = learning.submit_quiz(s, actor, attempt_id=attempt_id)
                    st.rerun()
            else:
                pct = 100 * (view.score or 0) / view.max_score if view.max_score else 0
                (st.success if view.passed else st.error)(
                    t("quiz.result", score=f"{view.score:g}", max=f"{view.max_score:g}", percent=f"{pct:.0f}",
                      verdict=t("quiz.passed") if view.passed else t("quiz.failed")))
                if not view.passed:
                    st.info(t("quiz.failed_hint"))
                for item in view.items:
                    review_block(item)
                if st.button(t("course.quiz_close"), key="course_quiz_close"):
                    del st.session_state[f"course_quiz_{course_id}"]
                    st.rerun()
