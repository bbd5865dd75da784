"""Practice with instant feedback (a practice session is an attempt of kind "practice": it resumes after a
refresh from the database) and mock exams (a course's exam rule set, timed, counting for nothing)."""
import pandas as pd
import streamlit as st

from services import practice
from services.errors import ServiceError
from ui.attempt_player import play, show_result
from ui.fmt import local_time, md_text
from ui.guard import fetch, guard, show_error
from ui.i18n import t
from ui.session import db
from ui.widgets import course_title

actor = guard("learner")
st.title(t("practice.title"))
st.caption(t("practice.intro"))

mode = st.segmented_control(t("practice.mode"), ["practice", "mock"], key="practice_mode", default="practice",
                            format_func=lambda m: t(f"practice.mode.{m}"), label_visibility="collapsed") or "practice"


def _check(s, item_id):
    return practice.check_answer(s, actor, item_id=item_id)


def _prime_checked(prefix: str, attempt_id: int) -> None:
    """After a refresh this browser session has not seen the checks: the player shows the checked items'
    feedback from what the database says (practice_view reveals checked items only)."""
    view = fetch(lambda s: practice.practice_view(s, actor, attempt_id=attempt_id))
    checked = st.session_state.setdefault(f"{prefix}_{attempt_id}_checked", {})
    for item in view.items:
        if item.key is not None and item.position not in checked:
            checked[item.position] = item


def _result(attempt_id: int, forget_key: str, again_label: str) -> None:
    view = fetch(lambda s: practice.practice_view(s, actor, attempt_id=attempt_id))
    st.subheader(t("practice.last_result"))
    if st.button(again_label, type="primary", key=f"{forget_key}_again", icon=":material/replay:"):
        st.session_state.pop(forget_key, None)
        st.rerun()
    show_result(view, base=f"{forget_key}_{attempt_id}")
    if view.kind == "mock":
        st.caption(t("practice.mock_keys_note"))


if mode == "practice":
    open_id = fetch(lambda s: practice.open_practice(s, actor))
    if open_id is not None:
        st.session_state["practice_current"] = open_id
        st.info(t("practice.in_progress"), icon=":material/exercise:")
        _prime_checked("practice", open_id)
        play(actor, open_id, prefix="practice", check=_check)
    elif st.session_state.get("practice_current"):
        _result(st.session_state["practice_current"], "practice_current", t("practice.new"))
    else:
        courses = fetch(lambda s: practice.courses(s, actor))
        cats = fetch(lambda s: practice.categories(s, actor))
        weak = fetch(lambda s: practice.weak_topics(s, actor))
        with st.container(border=True, key="practice_form"):
            st.subheader(t("practice.start_title"))
            scope = st.radio(t("practice.scope"), ["course", "category", "weak"], key="practice_scope", horizontal=True,
                             format_func=lambda x: t(f"practice.scope.{x}"))
            target = None
            if scope == "course":
                by_id = {c.id: c for c in courses}
                target = st.selectbox(t("practice.course"), list(by_id), key="practice_course",
                                      format_func=lambda cid: course_title(by_id[cid]))
            elif scope == "category":
                counts = {c.path: c.questions for c in cats}
                target = st.selectbox(t("practice.category"), list(counts), key="practice_category",
                                      format_func=lambda p: t("practice.category_option", path=p, n=counts[p]))
            elif weak:
                st.caption(t("practice.weak_list", topics="、".join(f"{md_text(w.category)}（{w.percent:g}%）" for w in weak)))
            else:
                st.info(t("practice.no_weak"))
            count = st.number_input(t("practice.count"), min_value=1, max_value=practice.MAX_COUNT, value=10, step=1,
                                    key="practice_count")
            types = st.multiselect(t("practice.types"), list(practice.PRACTICE_TYPES), default=list(practice.PRACTICE_TYPES),
                                   format_func=lambda x: t(f"qtype.{x}"), key="practice_types")
            if st.button(t("practice.start"), type="primary", key="practice_start", icon=":material/play_arrow:",
                         disabled=(scope == "weak" and not weak) or (scope != "weak" and target is None)):
                try:
                    with db() as s:
                        st.session_state["practice_current"] = practice.start_practice(
                            s, actor, course_id=target if scope == "course" else None,
                            category=target if scope == "category" else None, weak=scope == "weak",
                            count=int(count), types=types)
                except ServiceError as exc:
                    show_error(exc)
                else:
                    st.rerun()
else:
    open_id = fetch(lambda s: practice.open_mock(s, actor))
    if open_id is not None:
        st.session_state["mock_current"] = open_id
        st.info(t("practice.mock_in_progress"), icon=":material/timer:")
        play(actor, open_id, prefix="mock")
    elif st.session_state.get("mock_current"):
        _result(st.session_state["mock_current"], "mock_current", t("practice.mock_new"))
    else:
        mocks = fetch(lambda s: practice.mock_courses(s, actor))
        with st.container(border=True, key="mock_form"):
            st.subheader(t("practice.mock_title"))
            st.caption(t("practice.mock_intro"))
            if not mocks:
                st.info(t("practice.no_mock"))
            else:
                by_id = {c.id: c for c in mocks}
                chosen = st.selectbox(t("practice.course"), list(by_id), key="mock_course",
                                      format_func=lambda cid: course_title(by_id[cid]))
                if st.button(t("practice.mock_start"), type="primary", key="mock_start", icon=":material/timer:"):
                    try:
                        with db() as s:
                            st.session_state["mock_current"] = practice.start_mock(s, actor, course_id=chosen)
                    except ServiceError as exc:
                        show_error(exc)
                    else:
                        st.rerun()

past = fetch(lambda s: practice.history(s, actor))
if past:
    st.subheader(t("practice.history"))
    st.dataframe(pd.DataFrame({
        t("field.time"): [local_time(p.submitted_at or p.started_at) for p in past],
        t("practice.col.kind"): [t(f"practice.mode.{p.kind}") for p in past],
        t("practice.col.questions"): [p.questions for p in past],
        t("quiz.col.score"): [f"{(p.score or 0):g}/{p.max_score:g}" for p in past],
    }), hide_index=True, width="stretch")
