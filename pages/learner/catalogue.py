"""Course catalogue: required and elective courses, categories, search, my progress."""
import streamlit as st

from services import learning
from ui.fmt import hours
from ui.guard import guard
from ui.i18n import t
from ui.session import db
from ui.widgets import course_title, open_course

actor = guard("learner")
st.title(t("catalogue.title"))

with db() as s:
    cats = learning.categories(s)
    offer = learning.catalogue_offer(s, actor)
st.caption(t("catalogue.offer", courses=offer.courses, hours=hours(offer.hours), required=hours(offer.required_hours)))
f1, f2, f3 = st.columns([2, 1, 1])
text = f1.text_input(t("catalogue.search"), key="catalogue_search", placeholder=t("catalogue.search.placeholder"))
kind = f2.selectbox(t("catalogue.kind"), ["all", "required", "elective"], format_func=lambda k: t(f"catalogue.kind.{k}"),
                    key="catalogue_kind")
cat = f3.selectbox(t("catalogue.category"), [""] + cats, format_func=lambda c: c or t("catalogue.all_categories"),
                   key="catalogue_category")

with db() as s:
    cards = learning.catalogue(s, actor, text=text, category=cat or None,
                               required={"all": None, "required": True, "elective": False}[kind])
if not cards:
    st.info(t("catalogue.none"))
cols = st.columns(2)
for i, card in enumerate(cards):
    with cols[i % 2].container(border=True):
        badge = t("course.required") if card.required else t("course.elective")
        st.markdown(f"**{course_title(card)}**")
        st.caption(f"{badge} · {card.category} · {t('catalogue.meta', minutes=card.minutes, hours=hours(card.credit_hours))}")
        st.write(card.summary)
        status = t(f"catalogue.status.{card.status}")
        st.progress(card.progress, text=f"{status} · " + t("catalogue.lessons_done", done=card.lessons_done, total=card.lessons_total))
        if card.status == "take_quiz":     # every lesson done: what is left is the quiz
            if st.button(t("catalogue.take_quiz"), key=f"catalogue_quiz_{card.id}", icon=":material/quiz:", type="primary"):
                open_course(card.id, section="quiz")
        elif st.button(t("catalogue.open"), key=f"catalogue_open_{card.id}", icon=":material/arrow_forward:"):
            open_course(card.id, card.next_lesson_id)     # at the first unfinished lesson
