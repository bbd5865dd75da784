"""Certificates (admins): find one by serial, holder name or username; revoke it with a reason."""
import pandas as pd
import streamlit as st

from services import certificates
from services.permissions import load_actor
from ui.fmt import local_time
from ui.guard import act, fetch, guard
from ui.i18n import t
from ui.session import db

actor = guard("admin")
st.title(t("certificate_admin.title"))
if flash := st.session_state.pop("certificate_admin_flash", None):
    st.success(flash)

text = st.text_input(t("certificate_admin.search"), key="certificate_admin_search", max_chars=64,
                     placeholder=t("certificate_admin.search_placeholder"))
rows = fetch(lambda s: certificates.search(s, actor, text=text))
if not rows:
    st.info(t("certificate_admin.none"))
    st.stop()

st.dataframe(pd.DataFrame([{
    t("certificate_admin.col.serial"): certificates.display_serial(c.serial),
    t("certificate_admin.col.holder"): c.holder_name,
    t("certificate_admin.col.username"): c.username,
    t("certificate_admin.col.unit"): c.unit_name or "—",
    t("certificate_admin.col.title"): c.title,
    t("certificate_admin.col.score"): f"{certificates.score_text(c.score)} / {certificates.score_text(c.max_score)}",
    t("certificate_admin.col.issued"): local_time(c.issued_at),
    t("certificate_admin.col.status"): t(f"certificate_admin.status.{c.status}"),
    t("certificate_admin.col.reason"): c.revoke_reason or "",
} for c in rows]), hide_index=True, width="stretch")

by_id = {c.id: c for c in rows}
chosen = by_id[st.selectbox(t("certificate_admin.choose"), list(by_id), key="certificate_admin_choice",
                            format_func=lambda i: f"{certificates.display_serial(by_id[i].serial)} · "
                                                  f"{by_id[i].holder_name} · {by_id[i].title}")]


def build_pdf() -> bytes:
    with db() as s:
        return certificates.pdf(s, load_actor(s, actor.id), cert_id=chosen.id)


st.download_button(t("certificates.download"), build_pdf, certificates.pdf_file_name(chosen), mime="application/pdf",
                   icon=":material/download:", on_click="ignore", key=f"certificate_admin_pdf_{chosen.id}")

if chosen.revoked_at:
    st.warning(t("certificates.revoked", date=local_time(chosen.revoked_at, "%Y-%m-%d")))
else:
    with st.form(f"certificate_admin_revoke_{chosen.id}"):
        reason = st.text_area(t("certificate_admin.reason"), max_chars=certificates.REASON_MAX,
                              key=f"certificate_admin_reason_{chosen.id}")
        if st.form_submit_button(t("certificate_admin.revoke"), icon=":material/block:", type="primary"):
            act(lambda s: certificates.revoke(s, actor, serial=chosen.serial, reason=reason),
                flash_key="certificate_admin_flash",
                flash=t("certificate_admin.revoked", serial=certificates.display_serial(chosen.serial)))
