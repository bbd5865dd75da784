"""Exams: the trainer's exams (audience inside their scope) with status, window, audience and attempts; a new
exam; publish and close behind a confirmation; links to the builder, the results and the grading queue."""
import pandas as pd
import streamlit as st

from services import exams
from ui.fmt import local_time, md_text
from ui.guard import act, fetch, guard
from ui.i18n import t

actor = guard("trainer")
st.title(t("texams.title"))
if msg := st.session_state.pop("texams_flash", None):
    st.success(msg)

top = st.columns([1, 2, 3])
if top[0].button(t("texams.new"), icon=":material/add:", type="primary", key="texams_new"):
    st.switch_page("pages/trainer/exam_edit.py")
status = top[1].selectbox(t("texams.filter_status"), ["", "draft", "published", "closed"], key="texams_status",
                          format_func=lambda s: t(f"texams.status.{s}") if s else t("texams.all_statuses"))


def _load(s):
    rows = exams.exam_rows(s, actor, status=status or None)
    return rows, exams.audience_labels(s, actor, exams_=[r.exam for r in rows])


rows, audiences = fetch(_load)
if not rows:
    st.info(t("texams.none"))
    st.stop()


def _window(e) -> str:
    if not e.opens_at and not e.closes_at:
        return t("texams.window_always")
    return f"{local_time(e.opens_at) if e.opens_at else '…'} — {local_time(e.closes_at) if e.closes_at else '…'}"


def _audience(exam_id: int) -> str:
    units, people = audiences[exam_id]
    parts = units + people
    if not parts:
        return t("texams.audience_everyone")
    return "；".join(parts[:3]) + (t("texams.audience_more", n=len(parts) - 3) if len(parts) > 3 else "")


df = pd.DataFrame([{"id": r.exam.id, "title": r.exam.title, "status": t(f"texams.status.{r.exam.status}"),
                    "window": _window(r.exam), "minutes": r.exam.time_limit_minutes, "audience": _audience(r.exam.id),
                    "attempts": r.attempts, "learners": r.learners, "in_progress": r.in_progress, "pending": r.pending,
                    "passed": r.passed} for r in rows])
st.dataframe(df.rename(columns=lambda c: t(f"texams.col.{c}")), hide_index=True, width="stretch", key=f"texams_table_{status}")
by_id = {r.exam.id: r for r in rows}
raw = st.query_params.get("exam")
chosen = int(raw) if raw and str(raw).isdigit() and int(raw) in by_id else 0
pick = st.selectbox(t("texams.pick"), [0] + list(by_id), index=([0] + list(by_id)).index(chosen), key=f"texams_pick_{chosen}",
                    format_func=lambda i: f"{i} · {by_id[i].exam.title}" if i else t("texams.pick_hint"))
if pick != chosen:
    if pick:
        st.query_params["exam"] = str(pick)
    else:
        st.query_params.pop("exam", None)
    st.rerun()
if not pick:
    st.stop()

row = by_id[pick]
e = row.exam
with st.container(border=True, key="texams_actions"):
    st.subheader(md_text(e.title))
    st.caption(t("texams.summary", status=t(f"texams.status.{e.status}"), attempts=row.attempts, pending=row.pending))
    b1, b2, b3, b4 = st.columns(4)
    if b1.button(t("texams.edit") if e.status == "draft" else t("texams.view"), icon=":material/edit:", key="texams_edit"):
        st.switch_page("pages/trainer/exam_edit.py", query_params={"exam": str(e.id)})
    if b2.button(t("texams.results"), icon=":material/leaderboard:", key="texams_results"):
        st.switch_page("pages/trainer/exam_results.py", query_params={"exam": str(e.id)})
    if b3.button(t("texams.grading", n=row.pending), icon=":material/rate_review:", key="texams_grading"):
        st.switch_page("pages/trainer/grading.py", query_params={"exam": str(e.id)})
    confirm_key = "texams_confirm"
    if e.status == "draft" and b4.button(t("texams.publish"), icon=":material/publish:", key="texams_publish"):
        st.session_state[confirm_key] = ("publish", e.id)
    if e.status == "published" and b4.button(t("texams.close"), icon=":material/lock:", key="texams_close"):
        st.session_state[confirm_key] = ("close", e.id)
    what = st.session_state.get(confirm_key)
    if what and what[1] == e.id:
        kind = what[0]
        st.warning(t(f"texams.confirm_{kind}", title=md_text(e.title), n=row.in_progress))
        c1, c2 = st.columns([1, 4])
        if c1.button(t(f"texams.confirm_{kind}_do"), type="primary", key=f"texams_{kind}_do"):
            st.session_state.pop(confirm_key, None)
            if kind == "publish":
                act(lambda s: exams.publish_exam(s, actor, exam_id=e.id), flash_key="texams_flash",
                    flash=t("texams.published", title=md_text(e.title)))
            else:
                act(lambda s: exams.close_exam(s, actor, exam_id=e.id), flash_key="texams_flash",
                    flash=t("texams.closed", title=md_text(e.title)))
        if c2.button(t("texams.cancel"), key=f"texams_{kind}_cancel"):
            st.session_state.pop(confirm_key, None)
            st.rerun()
