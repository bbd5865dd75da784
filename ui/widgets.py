"""Small shared page pieces."""
import streamlit as st

from ui.i18n import current_locale


def course_title(card) -> str:
    """Course title in the user's language (the curriculum is written in Chinese)."""
    if current_locale() == "en" and getattr(card, "title_en", None):
        return card.title_en
    return card.title


def open_course(course_id: str, lesson_id: str | None = None) -> None:
    st.session_state["course_id"] = course_id
    if lesson_id:
        st.session_state["course_lesson"] = lesson_id
    else:
        st.session_state.pop("course_lesson", None)
    st.switch_page("pages/learner/course.py", query_params={"course": course_id})
