"""What follows a lesson's text on the course page: its attached files (PDF to download, video to watch)
and its self-checks with instant feedback."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from services import courses, selfcheck
from services.errors import ServiceError
from ui.guard import fetch, show_error
from ui.i18n import t
from ui.questions import _describe, answer_widget
from ui.session import db


@dataclass
class _Item:
    item_id: int
    position: int
    points: float
    question: dict[str, Any]
    response: Any = None


def lesson_extras(actor, lesson_id: str) -> None:
    files = fetch(lambda s: courses.lesson_files(s, actor, lesson_id=lesson_id))
    for f in files:
        with st.container(border=True):
            if f.kind == "video":
                _, data = fetch(lambda s, fid=f.id: courses.file_bytes(s, actor, file_id=fid))
                st.video(data, format=f.mime)
                st.caption(f.name + (f" · {f.media_minutes:g} {t('courses.minutes_unit')}" if f.media_minutes else ""))
            else:
                # the bytes themselves, not a callable: a deferred download is lost when the page reruns while it
                # is prepared (the study countdown reruns the page when it ends)
                _, data = fetch(lambda s, fid=f.id: courses.file_bytes(s, actor, file_id=fid))
                st.download_button(t("course.download_file", name=f.name), data=data, file_name=f.name, mime=f.mime,
                                   icon=":material/picture_as_pdf:", key=f"course_file_{f.id}", on_click="ignore")
    checks = fetch(lambda s: selfcheck.lesson_checks(s, actor, lesson_id=lesson_id))
    if not checks:
        return
    st.subheader(t("course.self_checks"))
    st.caption(t("course.self_checks_help"))
    for c in checks:
        key = f"selfcheck_{lesson_id}_{c.position}"
        answers = st.session_state.setdefault(f"{key}_answer", {})
        item = _Item(c.position, c.position, 1.0, c.question, answers.get("value"))
        with st.container(border=True):
            answer_widget(key, item, lambda _i, v, a=answers: a.__setitem__("value", v))
            if st.button(t("course.check_answer"), key=f"{key}_check"):
                try:
                    with db() as s:
                        st.session_state[f"{key}_result"] = selfcheck.check_answer(
                            s, actor, lesson_id=lesson_id, question_id=c.question_id, response=answers.get("value"))
                except ServiceError as exc:
                    show_error(exc)
            result = st.session_state.get(f"{key}_result")
            if result is not None:
                if result.correct:
                    st.success(t("course.check_right"), icon=":material/check_circle:")
                else:
                    st.error(t("course.check_wrong", answer=_describe(c.question, result.key)), icon=":material/cancel:")
                if result.explanation:
                    st.info(result.explanation)
