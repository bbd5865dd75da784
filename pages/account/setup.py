"""First run: create the administrator (no default password exists), then optionally the demo."""
import streamlit as st

from services import demo as demo_service
from services import users as user_service
from services.errors import ServiceError
from services.permissions import load_actor
from ui.guard import show_error
from ui.i18n import t
from ui.session import complete_sign_in, db

# Public page, reachable only while no account exists (app.py offers it only then).
with db() as s:
    if not user_service.needs_setup(s) and "setup_result" not in st.session_state:
        st.error(t("error.setup_done"))
        st.stop()

st.title(t("setup.title"))
if "setup_result" not in st.session_state:
    st.info(t("setup.intro"))
    with st.form("setup_form"):
        username = st.text_input(t("field.username"), value="admin")
        name = st.text_input(t("field.name"), value="系统管理员")
        pw1 = st.text_input(t("field.password"), type="password", help=t("auth.password_rule"))
        pw2 = st.text_input(t("field.password_again"), type="password")
        demo = st.checkbox(t("setup.load_demo"), value=True, help=t("setup.load_demo.help"))
        learners = st.number_input(t("setup.demo_learners"), 0, 5000, 300, step=50)
        submitted = st.form_submit_button(t("setup.create"), type="primary")
    if submitted:
        if pw1 != pw2:
            st.error(t("error.password_mismatch"))
            st.stop()
        try:
            with db() as s:
                admin = user_service.create_first_admin(s, username=username, name=name, password=pw1)
                result = None
                if demo:
                    with st.spinner(t("setup.demo_loading")):
                        result = demo_service.load_demo(s, load_actor(s, admin.id), learners=int(learners))
            st.session_state["setup_result"] = {"admin_id": admin.id, "demo": result}
            st.rerun()
        except ServiceError as exc:
            show_error(exc)
else:
    res = st.session_state["setup_result"]
    st.success(t("setup.done"))
    demo = res["demo"]
    if demo is not None:
        st.warning(t("setup.passwords_once"))
        rows = [{t("field.username"): u, t("field.role"): t(f"role.{r}"), t("field.password"): p}
                for u, r, p in demo.accounts]
        rows.append({t("field.username"): f"wh00001 … wh{demo.learners:05d}", t("field.role"): t("role.learner"),
                     t("field.password"): demo.learner_password})
        st.dataframe(rows, hide_index=True, width="stretch")
        st.caption(t("setup.demo_summary", units=demo.units, learners=demo.learners))
    if st.button(t("setup.continue"), type="primary"):
        uid = res["admin_id"]
        del st.session_state["setup_result"]
        complete_sign_in(uid, "/")
