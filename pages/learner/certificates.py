"""My certificates (我的证书): every certificate issued to me; each PDF is built when its button is clicked."""
import streamlit as st

from services import certificates
from services.permissions import load_actor
from ui.fmt import local_time, md_text
from ui.guard import fetch, guard
from ui.i18n import t
from ui.session import db

actor = guard("learner")
st.title(t("certificates.title"))
mine = fetch(lambda s: certificates.my_certificates(s, actor))
if not mine:
    st.info(t("certificates.none"))


def pdf_of(cert_id: int):
    def build() -> bytes:
        """Runs when the button is clicked (on another thread): the holder as they are now."""
        with db() as s:
            return certificates.pdf(s, load_actor(s, actor.id), cert_id=cert_id)
    return build


for cert in mine:
    with st.container(border=True, key=f"certificates_card_{cert.id}"):
        st.markdown(f"**{md_text(cert.title)}**")
        c1, c2, c3 = st.columns(3)
        c1.caption(t("certificates.score", score=certificates.score_text(cert.score),
                     max=certificates.score_text(cert.max_score)))
        c2.caption(t("certificates.issued", date=local_time(cert.issued_at, "%Y-%m-%d")))
        c3.caption(t("certificates.serial", serial=certificates.display_serial(cert.serial)))
        if cert.revoked_at:
            st.warning(t("certificates.revoked", date=local_time(cert.revoked_at, "%Y-%m-%d")))
        st.download_button(t("certificates.download"), pdf_of(cert.id), certificates.pdf_file_name(cert),
                           mime="application/pdf", icon=":material/download:", on_click="ignore",
                           key=f"certificates_pdf_{cert.id}")
if mine:
    st.caption(t("certificates.verify_hint"))
