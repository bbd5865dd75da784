"""Sign in. After success the browser trades a one-time ticket for an HttpOnly session cookie."""
import streamlit as st

from services import auth
from services.errors import ServiceError
from ui.guard import show_error
from ui.i18n import t
from ui.session import complete_sign_in, current_path, db

# Public page: offered by app.py only to visitors who are not signed in.
_, mid, _ = st.columns([1, 2, 1])
with mid:
    st.title(t("login.title"))
    st.caption(t("login.subtitle"))
    with st.form("login_form"):
        username = st.text_input(t("field.username"), key="login_username")
        password = st.text_input(t("field.password"), type="password", key="login_password")
        submitted = st.form_submit_button(t("auth.sign_in"), type="primary", width="stretch")
    if submitted:
        try:
            with db() as s:
                result = auth.authenticate(s, username=username, password=password)
            complete_sign_in(result.user_id, current_path())
        except ServiceError as exc:
            show_error(exc)
    st.caption(t("login.help"))
