"""Sign in. After success the browser trades a one-time ticket for an HttpOnly session cookie."""
import streamlit as st

from services import auth
from services.errors import AuthFailed
from ui.guard import show_error
from ui.i18n import t
from ui.session import client_address, complete_sign_in, current_path, db

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
        # one unit of work that commits whatever the answer: a refusal carries the failure count
        with db() as s:
            result = auth.authenticate(s, username=username, password=password, client=client_address())
        if result.ok:
            complete_sign_in(result.user_id, current_path())
        else:
            show_error(AuthFailed(result.error))
    st.caption(t("login.help"))
