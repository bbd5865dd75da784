"""Question bank: what the bank holds per course and type; browse and inspect questions."""
import streamlit as st

from services import bank
from services.interchange import QUESTION_TYPES
from ui.guard import fetch, guard
from ui.i18n import t
from ui.session import db

actor = guard("trainer")
st.title(t("bank.title"))
with db() as s:
    stats = bank.bank_stats(s, actor)
    course_list = bank.courses(s, actor)
if stats.empty:
    st.info(t("bank.empty"))
    st.stop()
st.subheader(t("bank.by_course"))
st.dataframe(stats.rename(columns=lambda c: t("qtype." + c)).rename_axis(t("field.course")), width="stretch")

st.subheader(t("bank.browse"))
titles = dict(course_list)
c1, c2, c3, c4 = st.columns([2, 1, 1, 2])
course_id = c1.selectbox(t("field.course"), [""] + list(titles), format_func=lambda c: titles.get(c, t("bank.all_courses")),
                         key="bank_course")
qtype = c2.selectbox(t("bank.type"), [""] + list(QUESTION_TYPES), format_func=lambda q: t(f"qtype.{q}") if q else t("bank.all_types"),
                     key="bank_type")
diff = c3.slider(t("bank.difficulty"), 1, 5, (1, 5), key="bank_difficulty")
text = c4.text_input(t("bank.search"), key="bank_search")
with db() as s:
    df = bank.list_questions(s, actor, course_id=course_id or None, qtype=qtype or None, text=text, difficulty=diff)
st.caption(t("bank.count", n=len(df)))
shown = df.assign(type=df["type"].map(lambda q: t("qtype." + q)), usage=df["usage"].map(lambda u: t("usage." + u))).rename(columns=lambda c: t(f"bank.col.{c}"))
# the table's key follows the filters: a selection never outlives the rows it was made on
event = st.dataframe(shown, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                     key=f"bank_table_{course_id}_{qtype}_{diff}_{text}")
rows = [i for i in (event.selection.rows if event and event.selection else []) if i < len(df)]
if rows:
    qid = df.iloc[rows[0]]["id"]
    rec = fetch(lambda s: bank.question_record(s, actor, question_id=qid))
    with st.container(border=True):
        type_label = t("qtype." + rec["type"])
        st.markdown(f"**{qid}** · v{rec['_version']} ({t('bank.versions', n=rec['_versions'])}) · {type_label}")
        st.markdown(rec["text"])
        for o in rec.get("options", []):
            st.markdown((":material/check_box: " if o["fraction"] > 0 else ":material/check_box_outline_blank: ")
                        + f"{o['text']}  `{o['fraction']:g}`")
        if "answer" in rec:
            st.markdown(t("quiz.correct_answer") + ": " + (t("quiz.true") if rec["answer"] else t("quiz.false")))
        for a in rec.get("answers", []):
            st.markdown("- " + (a.get("text") or f"{a['value']} ± {a.get('tolerance', 0)}") + f"  `{a['fraction']:g}`")
        for p in rec.get("pairs", []):
            st.markdown(f"- {p['left'] or '—'} → {p['right']}")
        for r in rec.get("rubric", []):
            st.markdown(f"- {r['criterion']} ({r['points']:g})")
        if rec.get("explanation"):
            st.info(rec["explanation"])
        if rec.get("legal_basis"):
            lb = rec["legal_basis"]
            st.caption(t("bank.legal_basis", law=lb["law"], effective=lb["effective"]))
        st.caption(t("bank.meta", category=rec["category"], difficulty=rec["difficulty"], usage=t("usage." + rec["usage"]),
                     tags=", ".join(rec.get("tags", []))))
