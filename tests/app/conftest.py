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
