"""Import questions (Excel template, CSV, GIFT, Aiken, Moodle XML, our YAML) with a preview report:
every item validated first, errors by line or row, duplicates flagged; all or nothing, or — after seeing
the report — only the valid items."""
import hashlib

import pandas as pd
import streamlit as st

from services import bank
from services.errors import ServiceError
from services.formats import FORMATS, xlsx
from ui.guard import fetch, guard, show_error
from ui.i18n import t
from ui.session import db

actor = guard("trainer")
st.title(t("qimport.title"))
if msg := st.session_state.pop("qimport_flash", None):
    st.success(msg)

with st.container(border=True):
    st.markdown(t("qimport.intro"))
    st.download_button(t("qimport.template"), data=xlsx.template, file_name="题目导入模板.xlsx", icon=":material/download:",
                       key="qimport_template", on_click="ignore", mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

course_list = fetch(lambda s: bank.courses(s, actor))
titles = dict(course_list)
c1, c2, c3 = st.columns(3)
fmt = c1.selectbox(t("qimport.format"), ["auto", *FORMATS], key="qimport_format", format_func=lambda f: t(f"format.{f}"))
course_id = c2.selectbox(t("field.course"), [""] + list(titles), key="qimport_course",
                         format_func=lambda c: titles.get(c, t("qedit.no_course")))
default_category = c3.text_input(t("qimport.category"), key="qimport_category", help=t("qimport.category_help"))
upload = st.file_uploader(t("qimport.file"), type=["xlsx", "csv", "txt", "gift", "xml", "yaml", "yml"], key="qimport_file")
if upload is None:
    st.stop()

data = upload.getvalue()
digest = hashlib.sha256(data + fmt.encode() + default_category.encode()).hexdigest()
if st.session_state.get("qimport_digest") != digest:
    st.session_state["qimport_digest"] = digest
    st.session_state["qimport_preview"] = fetch(lambda s: bank.preview_import(
        s, actor, data=data, name=upload.name, fmt=fmt, category=default_category.strip() or None))
preview: bank.ImportPreview = st.session_state["qimport_preview"]
report = preview.report

m1, m2, m3, m4 = st.columns(4)
m1.metric(t("qimport.valid"), len(report.questions))
m2.metric(t("qimport.errors"), len(report.errors))
m3.metric(t("qimport.duplicates"), len(preview.duplicates))
m4.metric(t("qimport.updates"), len(preview.updates))
st.caption(t("qimport.detected", format=t(f"format.{report.format}")))

if report.errors:
    st.error(t("qimport.has_errors", n=len(report.errors)))
    st.dataframe(pd.DataFrame([e.as_json() for e in report.errors]).rename(columns={"line": t("qimport.line"), "message": t("qimport.reason")}),
                 hide_index=True, width="stretch", key="qimport_error_table")
if report.warnings:
    with st.expander(t("qimport.warnings", n=len(report.warnings))):
        st.dataframe(pd.DataFrame([w.as_json() for w in report.warnings]), hide_index=True, width="stretch")
if report.questions:
    rows = [{"line": p.line, "type": t(f"qtype.{p.question.type}"), "text": p.question.text, "category": p.question.category,
             "note": (t("qimport.dup_of", id=preview.duplicates[i]) if i in preview.duplicates
                      else t("qimport.update_of", id=preview.updates[i]) if i in preview.updates else "")}
            for i, p in enumerate(report.questions)]
    st.dataframe(pd.DataFrame(rows).rename(columns=lambda c: t(f"qimport.col.{c}")), hide_index=True, width="stretch",
                 key="qimport_table")

skip = st.checkbox(t("qimport.skip_duplicates"), value=True, key="qimport_skip", disabled=not preview.duplicates)
b1, b2 = st.columns(2)
do_all = b1.button(t("qimport.import_all", n=len(report.questions)), type="primary", key="qimport_all",
                   disabled=bool(report.errors) or not report.questions)
do_valid = b2.button(t("qimport.import_valid", n=len(report.questions)), key="qimport_valid",
                     disabled=not (report.errors and report.questions), help=t("qimport.import_valid_help"))
if do_all or do_valid:
    bar = st.progress(0.0, text=t("qimport.progress", done=0, total=len(report.questions)))
    try:
        with db() as s:
            result = bank.import_questions(s, actor, preview=preview, course_id=course_id or None, only_valid=do_valid,
                                           skip_duplicates=skip,
                                           progress=lambda d, n: bar.progress(d / n, text=t("qimport.progress", done=d, total=n)))
    except ServiceError as exc:
        show_error(exc)
    else:
        st.session_state.pop("qimport_digest", None)
        st.session_state["qimport_flash"] = t("qimport.done", created=len(result.created), versions=len(result.new_versions),
                                              unchanged=len(result.unchanged), dups=result.skipped_duplicates,
                                              invalid=result.skipped_invalid)
        st.rerun()
