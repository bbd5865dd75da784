"""Learner home: what to do next."""
import streamlit as st

from services import learning, ledger, notebook, notices
from ui.fmt import hours, local_time, md_text
from ui.guard import guard
from ui.i18n import t
from ui.session import db
from ui.widgets import course_title, open_course

actor = guard("learner")
with db() as s:
    summary = ledger.my_summary(s, actor)
    steps = learning.next_steps(s, actor)
    offer = learning.catalogue_offer(s, actor)
    unread = notices.my_notices(s, actor, unread_only=True, limit=5)
    due_reviews = notebook.due_count(s, actor)

st.title(t("home.title", name=md_text(actor.name)))
for note in unread:   # notices from HR: sender named, text shown as text, read on click
    with st.container(border=True, key=f"home_notice_{note.id}"):
        st.caption(t("home.notice_from", sender=md_text(note.sender_name) if note.sender_name else t("home.notice_system"), time=local_time(note.created_at)))
        st.text(note.text)
        if st.button(t("home.notice_read"), key=f"home_notice_read_{note.id}", icon=":material/done:"):
            with db() as s:
                notices.mark_read(s, actor, notice_id=note.id)
            st.rerun()
c1, c2, c3 = st.columns(3)
c1.metric(t("hours.this_year", year=summary.year), hours(summary.total), help=t("hours.total.help"))
c2.metric(t("hours.target"), hours(summary.target))
c3.metric(t("hours.remaining"), hours(max(0.0, summary.target - summary.total)))
st.progress(summary.percent / 100, text=t("hours.progress", percent=f"{summary.percent:.0f}"))
st.caption(t("home.available", hours=hours(offer.available)))

left, reviews, right = st.columns([2, 1, 2])
with reviews:   # the mistake notebook's reviews due today, next to "continue learning"
    st.subheader(t("home.due_reviews"))
    with st.container(border=True, key="home_due_reviews"):
        st.metric(t("home.due_reviews_count"), due_reviews)
        if due_reviews:
            if st.button(t("home.review_button"), type="primary", icon=":material/psychology:", key="home_review"):
                st.switch_page("pages/learner/notebook.py")
        else:
            st.caption(t("home.no_reviews"))
            if st.button(t("home.practise_button"), icon=":material/exercise:", key="home_practise"):
                st.switch_page("pages/learner/practice.py")
with left:
    st.subheader(t("home.continue"))
    step = steps.continue_at
    if step and step.action == "quiz":       # every lesson done: the quiz is what is left
        st.text(step.label)
        st.caption(t("home.take_quiz"))
        if st.button(t("home.take_quiz_button"), type="primary", icon=":material/quiz:", key="home_continue"):
            open_course(step.course_id, section="quiz")
    elif step:                               # the first unfinished lesson of the course studied last
        st.text(step.label)
        if st.button(t("home.continue_button"), type="primary", icon=":material/play_arrow:", key="home_continue"):
            open_course(step.course_id, step.lesson_id)
    else:
        st.caption(t("home.nothing_started"))
        if st.button(t("home.browse"), key="home_browse"):
            st.switch_page("pages/learner/catalogue.py")
with right:
    st.subheader(t("home.required_open", n=len(steps.required_open)))
    if not steps.required_open:
        st.success(t("home.required_all_done"))
    for card in steps.required_open:
        with st.container(border=True):
            st.markdown(f"**{md_text(course_title(card))}**")     # a course title typed by a trainer, as text
            st.progress(card.progress, text=t("catalogue.lessons_done", done=card.lessons_done, total=card.lessons_total))
            if card.status == "take_quiz":
                if st.button(t("catalogue.take_quiz"), key=f"home_quiz_{card.id}", icon=":material/quiz:"):
                    open_course(card.id, section="quiz")
            elif st.button(t("catalogue.open"), key=f"home_open_{card.id}"):
                open_course(card.id, card.next_lesson_id)
