"""Audit log: who did what, when."""
import json

import pandas as pd
import streamlit as st

from services import audit
from ui.fmt import local_time
from ui.guard import guard
from ui.i18n import t
from ui.session import db

actor = guard("admin")
st.title(t("audit.title"))
prefix = st.selectbox(t("audit.filter"), ["", "auth.", "user.", "org.", "settings.", "ledger.", "demo.", "setup."],
                      format_func=lambda p: p or t("audit.all"), key="audit_prefix")
with db() as s:
    rows = audit.recent(s, actor, action_prefix=prefix)
st.dataframe(pd.DataFrame([{t("field.time"): local_time(at), t("audit.actor"): who or "system", t("audit.action"): action,
                            t("audit.detail"): json.dumps(detail, ensure_ascii=False, default=str)}
                           for at, who, action, detail in rows]), hide_index=True, width="stretch")
