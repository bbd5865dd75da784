"""One exam's results (?exam=ID): every attempt with status, score, time used and 切屏 count; filters; the
Excel export (the one safe writer); regrading every attempt of a question after its key was corrected, with
the audit rows of the regrades."""
import pandas as pd
import streamlit as st

from services import exams
from ui.fmt import local_time, md_text
from ui.guard import act, fetch, guard
from ui.i18n import t
from ui.session import db

actor = guard("trainer")
raw = st.query_params.get("exam")
exam_id = int(raw) if raw and str(raw).isdigit() else None
if exam_id is None:
    st.title(t("tresults.title"))
    rows = fetch(lambda s: exams.exam_rows(s, actor))
    if not rows:
        st.info(t("texams.none"))
        st.stop()
    titles = {r.exam.id: r.exam.title for r in rows}
    pick = st.selectbox(t("tgrading.exam"), [0] + list(titles), key="tresults_pick",
                        format_func=lambda i: titles.get(i, t("tresults.pick")) if i else t("tresults.pick"))
    if pick:
        st.query_params["exam"] = str(pick)
        st.rerun()
    st.stop()

res = fetch(lambda s: exams.results(s, actor, exam_id=exam_id))
e = res.exam
st.title(t("tresults.title_exam", title=md_text(e.title)))
if msg := st.session_state.pop("tresults_flash", None):
    st.success(msg)
b1, b2, b3, _ = st.columns([1, 1, 1, 3])
if b1.button(t("texedit.back"), icon=":material/arrow_back:", key="tresults_back"):
    st.switch_page("pages/trainer/exams.py")
if b2.button(t("texams.view"), icon=":material/edit:", key="tresults_edit"):
    st.switch_page("pages/trainer/exam_edit.py", query_params={"exam": str(exam_id)})
pending = sum(1 for a in res.attempts if a.status == "pending_grading")
if b3.button(t("texams.grading", n=pending), icon=":material/rate_review:", key="tresults_grading"):
    st.switch_page("pages/trainer/grading.py", query_params={"exam": str(exam_id)})
st.caption(t("tresults.status_line", status=t(f"texams.status.{e.status}"), pass_percent=f"{e.pass_percent:g}",
             limit=e.time_limit_minutes))

counted = [a for a in res.attempts if a.counted]
m1, m2, m3, m4, m5 = st.columns(5)
m1.metric(t("tresults.m_attempts"), len(res.attempts))
m2.metric(t("tresults.m_learners"), res.learners)
m3.metric(t("tresults.m_passed"), res.passed)
m4.metric(t("tresults.m_pending"), pending)
scored = [100 * a.score / a.max_score for a in counted if a.score is not None and a.max_score]
m5.metric(t("tresults.m_average"), f"{sum(scored) / len(scored):.1f}%" if scored else "—")


def _export() -> bytes:          # built when clicked
    with db() as s:
        return exams.results_xlsx(s, actor, exam_id=exam_id)


st.download_button(t("tresults.export"), data=_export, file_name=f"exam-{exam_id}-results.xlsx", key="tresults_export",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", icon=":material/download:",
                   disabled=not res.attempts, on_click="ignore")

if not res.attempts:
    st.info(t("tresults.none"))
else:
    STATUSES = ["in_progress", "pending_grading", "submitted"]
    f1, f2, f3, f4 = st.columns([2, 2, 1, 2])
    statuses = f1.multiselect(t("tresults.f_status"), STATUSES, key="tresults_f_status", placeholder=t("tresults.all"),
                              format_func=lambda s: t(f"tresults.status.{s}"))
    units = sorted({a.unit for a in res.attempts if a.unit})
    unit = f2.selectbox(t("field.unit"), [""] + units, key="tresults_f_unit", format_func=lambda u: u or t("tresults.all_units"))
    outcome = f3.selectbox(t("tresults.f_passed"), ["", "passed", "failed", "open"], key="tresults_f_passed",
                           format_func=lambda o: t(f"tresults.outcome.{o}") if o else t("tresults.all"))
    text = f4.text_input(t("tresults.f_search"), key="tresults_f_search").strip().lower()
    only_counted = st.toggle(t("tresults.only_counted"), key="tresults_f_counted")
    shown = [a for a in res.attempts
             if (not statuses or a.status in statuses) and (not unit or a.unit == unit)
             and (not outcome or (outcome == "passed" and a.passed is True) or (outcome == "failed" and a.passed is False)
                  or (outcome == "open" and a.passed is None))
             and (not text or text in a.username.lower() or text in (a.name or "").lower())
             and (not only_counted or a.counted)]

    def _used(sec):
        if sec is None:
            return "—"
        return f"{sec // 60}:{sec % 60:02d}"
    df = pd.DataFrame([{"username": a.username, "name": a.name, "unit": a.unit or "", "status": t(f"tresults.status.{a.status}"),
                        "score": a.score, "max_score": a.max_score,
                        "passed": "—" if a.passed is None else (t("tresults.yes") if a.passed else t("tresults.no")),
                        "started_at": local_time(a.started_at), "submitted_at": local_time(a.submitted_at),
                        "time_used": _used(a.time_used_seconds), "answered": f"{a.answered}/{a.questions}",
                        "tab_switches": a.tab_switches, "auto": t("tresults.yes") if a.auto_submitted else "",
                        "counted": "✔" if a.counted else ""} for a in shown],
                      columns=["username", "name", "unit", "status", "score", "max_score", "passed", "started_at",
                               "submitted_at", "time_used", "answered", "tab_switches", "auto", "counted"])
    st.caption(t("tresults.shown", n=len(shown), total=len(res.attempts)))
    st.dataframe(df.rename(columns=lambda c: t(f"tresults.col.{c}")), hide_index=True, width="stretch", key="tresults_table")

# ---- regrade after a key fix -------------------------------------------------------------------------------
st.subheader(t("tresults.regrade"))
st.caption(t("tresults.regrade_help"))
questions = fetch(lambda s: exams.paper_questions(s, actor, exam_id=exam_id))
if not questions:
    st.caption(t("tresults.regrade_none"))
else:
    qlabels = {q.question_id: f"{q.question_id} · v{q.version} · {t('qtype.' + q.type)} · {q.text[:40]}" for q in questions}
    qid = st.selectbox(t("tresults.regrade_question"), list(qlabels), format_func=qlabels.get, key="tresults_regrade_q")
    if st.button(t("tresults.regrade_do"), key="tresults_regrade", icon=":material/published_with_changes:"):
        st.session_state["tresults_confirm"] = qid
    if st.session_state.get("tresults_confirm") == qid:
        st.warning(t("tresults.regrade_confirm", question=md_text(qid)))
        c1, c2 = st.columns([1, 4])
        if c1.button(t("tresults.regrade_confirm_do"), type="primary", key="tresults_regrade_do"):
            st.session_state.pop("tresults_confirm", None)

            def _regrade(s):
                rep = exams.regrade_exam(s, actor, exam_id=exam_id, question_id=qid)
                st.session_state["tresults_report"] = (exam_id, rep)
            act(_regrade, flash_key="tresults_flash", flash=t("tresults.regraded", question=md_text(qid)))
        if c2.button(t("texams.cancel"), key="tresults_regrade_cancel"):
            st.session_state.pop("tresults_confirm", None)
            st.rerun()
shown_report = st.session_state.get("tresults_report")
if shown_report is not None and shown_report[0] == exam_id:
    rep = shown_report[1]
    st.info(t("tresults.report", question=md_text(rep.question_id), version=rep.version, attempts=rep.attempts,
              items=rep.items, changed=len(rep.changed)))
    if rep.changed:
        st.dataframe(pd.DataFrame(rep.changed).rename(columns=lambda c: t(f"tresults.change.{c}")), hide_index=True,
                     key="tresults_changes")

audit_rows = fetch(lambda s: exams.exam_audit(s, actor, exam_id=exam_id, actions=("exam.regrade",)))
if audit_rows:
    st.markdown("**" + t("tresults.audit") + "**")
    st.dataframe(pd.DataFrame([{"at": local_time(r.at, "%Y-%m-%d %H:%M:%S"), "who": r.username or "system",
                                "question": r.detail.get("question"), "items": r.detail.get("items"),
                                "changed": r.detail.get("changed")} for r in audit_rows])
                 .rename(columns=lambda c: t(f"tresults.acol.{c}")), hide_index=True, key="tresults_audit")
