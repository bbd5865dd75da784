"""AppTest runs the scripts in this process: show full error messages here (users never see them: the
server's config says showErrorDetails = "none", which the browser tests check)."""
import pytest
from streamlit import config as st_config


@pytest.fixture(autouse=True)
def _full_error_details():
    old = st_config.get_option("client.showErrorDetails")
    st_config.set_option("client.showErrorDetails", "full")
    yield
    st_config.set_option("client.showErrorDetails", old)


@pytest.fixture(autouse=True)
def _no_sign_in_failures_left_over(database):
    """AppTest has no client address, so every sign-in on these pages comes from the same "client": the
    failures other tests made on purpose must not count against this one's (the 30-per-client limit)."""
    from sqlmodel import delete

    from models import SignInThrottle
    from models.db import session_scope
    with session_scope() as s:
        s.exec(delete(SignInThrottle).where(SignInThrottle.scope == "client"))
    yield


@pytest.fixture(autouse=True)
def _in_process_sign_in(monkeypatch):
    """AppTest signs in inside the session (ui.session.complete_sign_in's st.rerun); the browser's
    /auth/session path is taken only when server.py has said it serves those routes. A test that imports
    server.py sets that flag for the process: it must not change what these pages do."""
    from ui.session import AUTH_ROUTES_ENV
    monkeypatch.delenv(AUTH_ROUTES_ENV, raising=False)
