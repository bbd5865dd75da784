"""Courses: the trainer's list, a new course, and course packages in (.zip, checked like `content check`)."""
import pandas as pd
import streamlit as st

from services import courses
from services.errors import ServiceError
from ui.guard import fetch, guard, show_error
from ui.i18n import t
from ui.session import db

actor = guard("trainer")
st.title(t("courses.title"))
if msg := st.session_state.pop("courses_flash", None):
    st.success(msg)

rows = fetch(lambda s: courses.list_courses(s, actor, include_retired=True))
df = pd.DataFrame(rows)
if not df.empty:
    shown = df.assign(required=df["required"].map(lambda r: t("course.required") if r else t("course.elective")),
                      active=df["active"].map(lambda a: t("bank.status.active") if a else t("bank.status.retired")))
    shown = shown[["id", "title", "category", "required", "lessons", "minutes", "questions", "active"]]
    event = st.dataframe(shown.rename(columns=lambda c: t(f"courses.col.{c}")), hide_index=True, width="stretch",
                         on_select="rerun", selection_mode="single-row", key="courses_table")
    picked = [rows[i]["id"] for i in (event.selection.rows if event and event.selection else []) if i < len(rows)]
    if picked and st.button(t("courses.edit", id=picked[0]), icon=":material/edit:", key="courses_edit"):
        st.switch_page("pages/trainer/course_edit.py", query_params={"course": picked[0]})

left, right = st.columns(2)
with left, st.container(border=True):
    st.subheader(t("courses.new"))
    with st.form("courses_new_form"):
        new_id = st.text_input(t("courses.new_id"), help=t("courses.new_id_help"), key="courses_new_id")
        new_title = st.text_input(t("courses.col.title"), key="courses_new_title")
        new_category = st.text_input(t("courses.col.category"), key="courses_new_category")
        create = st.form_submit_button(t("courses.create"), type="primary")
    if create:
        choices, everyone = fetch(lambda s: courses.audience_choices(s, actor))
        try:
            with db() as s:
                # a trainer of part of the city starts with their own units as the audience
                audience = [] if everyone else [u for u, _ in choices][:1]
                cid = courses.create_course(s, actor, course_id=new_id.strip(), course_in=courses.CourseIn(
                    new_title, new_category, audience=audience))
        except ServiceError as exc:
            show_error(exc)
        else:
            st.switch_page("pages/trainer/course_edit.py", query_params={"course": cid})
with right, st.container(border=True):
    st.subheader(t("courses.import"))
    st.caption(t("courses.import_help"))
    pkg = st.file_uploader(t("courses.package"), type=["zip"], key="courses_package")
    if pkg is not None:
        data = pkg.getvalue()
        report = fetch(lambda s: courses.import_package(s, actor, data=data, dry_run=True))
        if report.ok:
            st.success(t("courses.package_ok", course=report.course_id, lessons=report.lessons, questions=report.questions,
                         files=report.files))
            if st.button(t("courses.import_do"), type="primary", key="courses_import_do"):
                try:
                    with db() as s:
                        done = courses.import_package(s, actor, data=data)
                except ServiceError as exc:
                    show_error(exc)
                else:
                    st.session_state["courses_flash"] = t("courses.imported", course=done.course_id)
                    st.rerun()
        else:
            st.error(t("courses.package_bad", n=len(report.errors)))
            for e in report.errors[:50]:
                st.text("· " + e)
