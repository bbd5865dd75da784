"""Bulk user import (.xlsx/.csv): every row validated first; nothing is written unless all are valid."""
import time

import pandas as pd
import streamlit as st

from services import user_import
from services.errors import ServiceError
from ui.guard import guard, show_error
from ui.i18n import t
from ui.session import db

actor = guard("admin")
st.title(t("import.title"))
st.markdown(t("import.intro"))
c1, c2 = st.columns(2)
# the templates are built when their button is clicked, not on every rerun
c1.download_button(t("import.template_xlsx"), user_import.template_xlsx, "用户导入模板.xlsx",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", icon=":material/download:",
                   on_click="ignore", key="import_template_xlsx")
c2.download_button(t("import.template_csv"), user_import.template_csv, "用户导入模板.csv", mime="text/csv",
                   icon=":material/download:", on_click="ignore", key="import_template_csv")

if done := st.session_state.pop("import_done", None):
    st.success(t("import.done", n=done["created"], seconds=f"{done['seconds']:.1f}"))
    if done["credentials"]:
        st.warning(t("import.passwords_once", n=done["credentials"]))
        st.download_button(t("import.download_passwords"), done["xlsx"], "初始密码.xlsx", type="primary",
                           mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                           icon=":material/key:", key="import_passwords", on_click="ignore")

upload = st.file_uploader(t("import.file"), type=["xlsx", "csv"], key="import_file")
if upload is None:
    st.stop()
data = upload.getvalue()
try:
    with db() as s:
        plan = user_import.plan_import(s, actor, filename=upload.name, data=data)
except ServiceError as exc:
    show_error(exc)
    st.stop()

if plan.errors:
    st.error(t("import.has_errors", n=len(plan.errors), rows=len({e.row for e in plan.errors})))
    st.dataframe(pd.DataFrame([{t("import.col.row"): e.row, t("import.col.field"): e.field, t("import.col.value"): e.value,
                                t("import.col.problem"): t(e.code, **e.params)} for e in plan.errors]),
                 hide_index=True, width="stretch")
    st.stop()

st.success(t("import.valid", n=len(plan.rows)))
preview = [{t("import.col.row"): r["row"], t("field.username"): r["username"], t("field.name"): r["name"],
            t("field.unit"): r["unit"], t("field.roles"): "、".join(t(f"role.{x}") for x in r["roles"]),
            t("users.scope_col"): r["scope"], t("field.phone"): r["phone"], t("field.email"): r["email"]}
           for r in plan.rows[:200]]
st.dataframe(pd.DataFrame(preview), hide_index=True, width="stretch")
if len(plan.rows) > 200:
    st.caption(t("import.preview_first", n=200))
st.caption(t("import.initial_password.help"))
if st.button(t("import.confirm", n=len(plan.rows)), type="primary", key="import_confirm"):
    start = time.perf_counter()
    try:
        with db() as s:
            result = user_import.apply_import(s, actor, plan=plan)
        # the generated passwords exist only in this one download (and as hashes)
        st.session_state["import_done"] = {"created": result.created, "credentials": len(result.credentials),
                                           "xlsx": result.credentials_xlsx(), "seconds": time.perf_counter() - start}
        del st.session_state["import_file"]
        st.rerun()
    except ServiceError as exc:
        show_error(exc)
