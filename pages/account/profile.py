"""My account: change password (forced after an admin created or reset it), language."""
import streamlit as st

from services import auth
from services import users as user_service
from services.errors import ServiceError
from services.org import unit_labels as org_unit_labels
from ui.fmt import local_time, md_text
from ui.guard import guard, show_error
from ui.i18n import t
from ui.session import db, session_token

actor = guard()
if st.session_state.pop("profile_go_home", False) and actor.has("learner"):
    st.switch_page("pages/learner/home.py")   # the forced change is done: on to the learner's home
with db() as s:
    me = user_service.get_user(s, actor, user_id=actor.id)
    unit_labels = org_unit_labels(s)

st.title(t("profile.title"))
if me.must_change_password:
    st.warning(t("profile.must_change"))
else:
    c1, c2, c3 = st.columns(3)
    # st.metric renders its value as Markdown: people's names and unit names go in as text
    c1.metric(t("field.username"), md_text(me.username))
    c2.metric(t("field.name"), md_text(me.name))
    c3.metric(t("field.unit"), md_text(unit_labels.get(me.unit_id, "—")) if me.unit_id else "—")
    st.caption(t("profile.roles", roles=", ".join(t(f"role.{r}") for r in actor.roles))
               + " · " + t("profile.last_login", at=local_time(me.last_login_at)))

st.subheader(t("profile.change_password"))
with st.form("profile_password_form", clear_on_submit=True):
    current = st.text_input(t("field.current_password"), type="password")
    new1 = st.text_input(t("field.new_password"), type="password", help=t("auth.password_rule"))
    new2 = st.text_input(t("field.password_again"), type="password")
    ok = st.form_submit_button(t("profile.save_password"), type="primary")
if ok:
    if new1 != new2:
        st.error(t("error.password_mismatch"))
    else:
        try:
            with db() as s:
                auth.change_password(s, actor, current=current, new=new1, keep_token=session_token())
            st.session_state["profile_flash"] = t("profile.password_changed")
            st.session_state["profile_go_home"] = me.must_change_password
            st.rerun()
        except ServiceError as exc:
            show_error(exc)
if msg := st.session_state.pop("profile_flash", None):
    st.success(msg)
