"""Question editor: every type, validated live; saving makes a new version (past papers keep theirs);
history with a diff between versions; retire and restore."""
import pandas as pd
import streamlit as st

from services import bank
from services.interchange import QUESTION_TYPES
from ui.guard import act, fetch, guard, show_error
from ui.i18n import t
from ui.question_preview import key_block, learner_preview
from ui.session import db

actor = guard("trainer")
qid = st.query_params.get("q") or None
if msg := st.session_state.pop("qe_flash", None):
    st.success(msg)
rec = fetch(lambda s: bank.question_record(s, actor, question_id=qid)) if qid else None
st.title(t("qedit.title_edit", id=qid, version=rec["_version"]) if rec else t("qedit.title_new"))
if st.button(t("qedit.back"), icon=":material/arrow_back:", key="qe_back"):
    st.switch_page("pages/trainer/bank.py")

def table(rows, columns, text_columns=()):
    """Rows for st.data_editor; text columns as strings (missing feedback would be NaN floats)."""
    df = pd.DataFrame(rows, columns=columns)
    for c in text_columns:
        df[c] = df[c].astype(object).where(df[c].notna(), "").astype(str)   # (an all-None column is float)
    return df


K = f"qe_{qid or 'new'}_{rec['_version'] if rec else 0}"     # widget keys follow the version being edited
base = {k: v for k, v in (rec or {}).items() if not k.startswith("_")}
course_list = fetch(lambda s: bank.courses(s, actor))
titles = dict(course_list)

with st.container(border=True):
    c1, c2, c3 = st.columns([1, 2, 1])
    qtype = c1.selectbox(t("bank.type"), QUESTION_TYPES, format_func=lambda q: t(f"qtype.{q}"), key=f"{K}_type",
                         index=QUESTION_TYPES.index(base.get("type", "single_choice")))
    title = c2.text_input(t("qedit.title_field"), value=base.get("title") or "", key=f"{K}_title")
    course_id = c3.selectbox(t("field.course"), [""] + list(titles), key=f"{K}_course",
                             index=([""] + list(titles)).index(rec["_course_id"]) if rec and rec["_course_id"] in titles else 0,
                             format_func=lambda c: titles.get(c, t("qedit.no_course")), disabled=bool(rec))
    text = st.text_area(t("qedit.text"), value=base.get("text", ""), key=f"{K}_text", height=110,
                        help=t("qedit.text_help"))
    c4, c5, c6, c7 = st.columns([2, 1, 1, 1])
    category = c4.text_input(t("bank.category"), value=base.get("category", ""), key=f"{K}_category",
                             placeholder="信息安全/法律法规")
    difficulty = c5.number_input(t("bank.difficulty"), 1, 5, int(base.get("difficulty", 3)), key=f"{K}_difficulty")
    points = c6.number_input(t("bank.col.points"), 0.5, 100.0, float(base.get("points", 1)), step=0.5, key=f"{K}_points")
    usage = c7.selectbox(t("bank.usage"), ["both", "practice", "exam"], key=f"{K}_usage",
                         index=["both", "practice", "exam"].index(base.get("usage", "both")), format_func=lambda u: t(f"usage.{u}"))
    tags = st.text_input(t("qedit.tags"), value="、".join(base.get("tags", [])), key=f"{K}_tags", help=t("qedit.tags_help"))

    same_type = base.get("type") == qtype
    data = {"type": qtype, "text": text, "category": category, "difficulty": int(difficulty), "points": float(points),
            "usage": usage, "tags": [x.strip() for x in tags.replace("，", "、").replace(",", "、").split("、") if x.strip()]}
    if title.strip():
        data["title"] = title.strip()
    if qid:
        data["id"] = qid
    if base.get("legal_basis"):
        data["legal_basis"] = base["legal_basis"]

    st.markdown("**" + t(f"qedit.part.{qtype}") + "**")
    if qtype in ("single_choice", "multiple_choice"):
        rows = base.get("options") if same_type and base.get("options") else [
            {"text": "", "fraction": 1.0 if qtype == "single_choice" else 0.5, "feedback": ""}, {"text": "", "fraction": 0.0 if qtype == "single_choice" else 0.5, "feedback": ""},
            {"text": "", "fraction": 0.0 if qtype == "single_choice" else -0.5, "feedback": ""}, {"text": "", "fraction": 0.0 if qtype == "single_choice" else -0.5, "feedback": ""}]
        st.caption(t(f"qedit.help.{qtype}"))
        ed = st.data_editor(table(rows, ["text", "fraction", "feedback"], ["text", "feedback"]), num_rows="dynamic", key=f"{K}_{qtype}_options",
                            width="stretch", column_config={
                                "text": st.column_config.TextColumn(t("qedit.option"), required=True, width="large"),
                                "fraction": st.column_config.NumberColumn(t("qedit.fraction"), min_value=-1.0, max_value=1.0, step=0.05, format="%.4g"),
                                "feedback": st.column_config.TextColumn(t("qedit.feedback"))})
        data["options"] = [{"text": str(r["text"] or ""), "fraction": float(r["fraction"] or 0), **({"feedback": r["feedback"]} if r.get("feedback") else {})}
                           for r in ed.to_dict("records") if str(r.get("text") or "").strip() or r.get("fraction")]
    elif qtype == "true_false":
        data["answer"] = st.radio(t("quiz.correct_answer"), [True, False], horizontal=True, key=f"{K}_tf",
                                  index=0 if base.get("answer", True) or not same_type else 1,
                                  format_func=lambda v: t("quiz.true") if v else t("quiz.false"))
    elif qtype == "fill_blank":
        st.caption(t("qedit.help.fill_blank"))
        rows = base.get("answers") if same_type and base.get("answers") else [{"text": "", "fraction": 1.0}]
        ed = st.data_editor(table(rows, ["text", "fraction"], ["text"]), num_rows="dynamic", key=f"{K}_fill", width="stretch",
                            column_config={"text": st.column_config.TextColumn(t("qedit.accepted"), required=True),
                                           "fraction": st.column_config.NumberColumn(t("qedit.fraction"), min_value=0.0, max_value=1.0, step=0.1)})
        data["answers"] = [{"text": str(r["text"]), "fraction": float(r["fraction"] if r["fraction"] is not None else 1)}
                           for r in ed.to_dict("records") if str(r.get("text") or "").strip()]
    elif qtype == "numerical":
        st.caption(t("qedit.help.numerical"))
        rows = base.get("answers") if same_type and base.get("answers") else [{"value": 0.0, "tolerance": 0.0, "fraction": 1.0}]
        ed = st.data_editor(table(rows, ["value", "tolerance", "fraction"]), num_rows="dynamic", key=f"{K}_num",
                            width="stretch", column_config={
                                "value": st.column_config.NumberColumn(t("qedit.value"), required=True, format="%g"),
                                "tolerance": st.column_config.NumberColumn(t("qedit.tolerance"), min_value=0.0, format="%g"),
                                "fraction": st.column_config.NumberColumn(t("qedit.fraction"), min_value=0.0, max_value=1.0, step=0.1)})
        data["answers"] = [{"value": float(r["value"]), "tolerance": float(r["tolerance"] or 0),
                            "fraction": float(r["fraction"] if r["fraction"] is not None else 1)}
                           for r in ed.to_dict("records") if r.get("value") is not None and not pd.isna(r.get("value"))]
    elif qtype == "matching":
        st.caption(t("qedit.help.matching"))
        rows = base.get("pairs") if same_type and base.get("pairs") else [{"left": "", "right": ""}] * 3
        ed = st.data_editor(table(rows, ["left", "right"], ["left", "right"]), num_rows="dynamic", key=f"{K}_pairs", width="stretch",
                            column_config={"left": st.column_config.TextColumn(t("qedit.left")),
                                           "right": st.column_config.TextColumn(t("qedit.right"), required=True)})
        data["pairs"] = [{"left": str(r["left"] or ""), "right": str(r["right"])} for r in ed.to_dict("records")
                         if str(r.get("right") or "").strip()]
    elif qtype == "essay":
        st.caption(t("qedit.help.essay"))
        rows = base.get("rubric") if same_type and base.get("rubric") else [{"criterion": "", "points": float(points)}]
        ed = st.data_editor(table(rows, ["criterion", "points"], ["criterion"]), num_rows="dynamic", key=f"{K}_rubric", width="stretch",
                            column_config={"criterion": st.column_config.TextColumn(t("qedit.criterion"), required=True, width="large"),
                                           "points": st.column_config.NumberColumn(t("qedit.rubric_points"), min_value=0.5, step=0.5)})
        rubric = [{"criterion": str(r["criterion"]), "points": float(r["points"] or 0)} for r in ed.to_dict("records")
                  if str(r.get("criterion") or "").strip()]
        if rubric:
            data["rubric"] = rubric
    explanation = st.text_area(t("bank.explanation"), value=base.get("explanation") or "", key=f"{K}_explanation", height=80)
    if explanation.strip():
        data["explanation"] = explanation

question, problems = bank.validate_question(data)
if problems:
    with st.container(key="qedit_problems"):
        st.warning(t("qedit.invalid", n=len(problems)))
        for p in problems:
            st.text("· " + p)
else:
    st.success(t("qedit.valid"), icon=":material/check_circle:")

if st.button(t("qedit.save"), type="primary", icon=":material/save:", key="qe_save", disabled=bool(problems)):
    try:
        with db() as s:
            new_id, version = bank.save_question(s, actor, data=data, question_id=qid, course_id=course_id or None)
    except Exception as exc:   # a service error is shown; anything else goes to the app's error handler
        from services.errors import ServiceError
        if not isinstance(exc, ServiceError):
            raise
        show_error(exc)
    else:
        st.session_state["qe_flash"] = t("qedit.saved", id=new_id, version=version)
        st.query_params["q"] = new_id      # stay here, now editing what was saved
        st.rerun()

if question is not None:
    with st.expander(t("qedit.preview"), expanded=False, icon=":material/visibility:"):
        left, right = st.columns(2)
        with left:
            learner_preview(question.record(), key=f"{K}_preview")
        with right:
            key_block(question.record())

if rec:
    st.divider()
    h1, h2 = st.columns([2, 1])
    with h1:
        st.subheader(t("qedit.history"))
        versions = fetch(lambda s: bank.history(s, actor, question_id=qid))
        st.dataframe(pd.DataFrame([{"version": v.version, "at": v.created_at, "by": v.created_by or t("qedit.by_bank"),
                                    "text": v.text} for v in versions]).rename(columns=lambda c: t(f"qedit.col.{c}")),
                     hide_index=True, width="stretch")
        if len(versions) > 1:
            nums = [v.version for v in versions]
            d1, d2 = st.columns(2)
            old = d1.selectbox(t("qedit.diff_old"), nums, index=1, key=f"{K}_diff_old")
            new = d2.selectbox(t("qedit.diff_new"), nums, index=0, key=f"{K}_diff_new")
            st.code(fetch(lambda s: bank.diff(s, actor, question_id=qid, old=old, new=new)) or t("qedit.no_diff"), language="diff")
    with h2:
        st.subheader(t("bank.status"))
        st.markdown(t("bank.status.active") if rec["_active"] else t("bank.status.retired"))
        if rec["_active"]:
            if st.button(t("bank.retire"), icon=":material/archive:", key="qe_retire", help=t("qedit.retire_help")):
                act(lambda s: bank.set_active(s, actor, question_ids=[qid], active=False), flash_key="qe_flash", flash=t("bank.retired", n=1))
        elif st.button(t("bank.restore"), icon=":material/unarchive:", key="qe_restore"):
            act(lambda s: bank.set_active(s, actor, question_ids=[qid], active=True), flash_key="qe_flash", flash=t("bank.restored", n=1))
