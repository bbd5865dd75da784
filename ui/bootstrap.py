"""Once per server process: upgrade the schema and load the curriculum (idempotent)."""
import logging

import streamlit as st

from models.db import session_scope
from models.migrate import upgrade_db
from services.content import load_bank
from services.errors import ValidationFailed

log = logging.getLogger(__name__)


@st.cache_resource(show_spinner=False)
def bootstrap() -> dict:
    upgrade_db()
    try:
        with session_scope() as s:
            report = load_bank(s)
    except ValidationFailed as exc:   # keep serving what the database holds; admins see the errors
        log.error("question bank not loaded: %s", exc.params.get("errors"))
        return {"errors": exc.params.get("errors", [])}
    log.info("content loaded: %s", report)
    return {"errors": [], **report.__dict__}
