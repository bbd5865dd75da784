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
