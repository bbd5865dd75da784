"""Small shared page pieces."""
from collections import Counter
from collections.abc import Callable, Sequence

import streamlit as st

from ui.i18n import current_locale


def course_title(card) -> str:
    """Course title in the user's language (the curriculum is written in Chinese)."""
    if current_locale() == "en" and getattr(card, "title_en", None):
        return card.title_en
    return card.title


def open_course(course_id: str, lesson_id: str | None = None, section: str = "lessons") -> None:
    """Go to a course page at a lesson (default: the course page picks the first unfinished one) or at
    its quiz (section="quiz"). The course page applies the *_next keys before drawing its widgets."""
    st.session_state["course_id"] = course_id
    st.session_state.pop("course_lesson", None)
    if lesson_id:
        st.session_state["course_lesson_next"] = lesson_id
    st.session_state["course_section_next"] = section
    st.switch_page("pages/learner/course.py", query_params={"course": course_id})


def countdown_text(seconds: int) -> str:
    """mm:ss (h:mm:ss from an hour) for a countdown."""
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def category_labels(categories: Sequence[str], all_label: str) -> Callable[[str], str]:
    """A selectbox's labels for a category tree: indented by depth, the last name only, and that name's
    parent path after it when another branch has a category of the same name (两个"子类" would otherwise read
    alike in the list and when typed into the filter). "" is `all_label`."""
    leaves = Counter(c.rsplit("/", 1)[-1] for c in categories)

    def label(c: str) -> str:
        if not c:
            return all_label
        parent, _, leaf = c.rpartition("/")
        return "　" * c.count("/") + leaf + (f"（{parent}）" if parent and leaves[leaf] > 1 else "")
    return label
