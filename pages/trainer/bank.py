"""Question bank: filter (course, category subtree, type, difficulty, tag, usage, status, text), page with the
true total, preview as a learner sees it, bulk retire/restore/move/tag, export, open in the editor."""
import pandas as pd
import streamlit as st

from services import bank
from services.interchange import QUESTION_TYPES
from ui.guard import act, fetch, guard
from ui.i18n import t
from ui.question_preview import key_block, learner_preview
from ui.widgets import category_labels

actor = guard("trainer")
st.title(t("bank.title"))
if msg := st.session_state.pop("bank_flash", None):
    st.success(msg)

top = st.columns([1, 1, 4])
if top[0].button(t("bank.new"), icon=":material/add:", key="bank_new"):
    st.switch_page("pages/trainer/question_edit.py")
if top[1].button(t("bank.import"), icon=":material/upload_file:", key="bank_goto_import"):
    st.switch_page("pages/trainer/question_import.py")

course_list, categories, tag_list = fetch(lambda s: (bank.courses(s, actor), bank.category_tree(s, actor), bank.tags(s, actor)))
titles = dict(course_list)
with st.container(border=True):
    c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
    course_id = c1.selectbox(t("field.course"), [""] + list(titles), key="bank_course",
                             format_func=lambda c: titles.get(c, t("bank.all_courses")))
    category = c2.selectbox(t("bank.category"), [""] + categories, key="bank_category",
                            format_func=category_labels(categories, t("bank.all_categories")))
    qtype = c3.selectbox(t("bank.type"), [""] + list(QUESTION_TYPES), key="bank_type",
                         format_func=lambda q: t(f"qtype.{q}") if q else t("bank.all_types"))
    status = c4.selectbox(t("bank.status"), ["active", "retired", "all"], key="bank_status",
                          format_func=lambda s: t(f"bank.status.{s}"))
    c5, c6, c7, c8 = st.columns([1, 1, 1, 2])
    diff = c5.slider(t("bank.difficulty"), 1, 5, (1, 5), key="bank_difficulty")
    tag = c6.selectbox(t("bank.tag"), [""] + tag_list, key="bank_tag", format_func=lambda x: x or t("bank.all_tags"))
    usage = c7.selectbox(t("bank.usage"), ["", "practice", "exam", "both"], key="bank_usage",
                         format_func=lambda u: t(f"usage.{u}") if u else t("bank.all_usages"))
    text = c8.text_input(t("bank.search"), key="bank_search")

filters = bank.BankFilter(course_id=course_id or None, category=category or None, qtype=qtype or None, difficulty=diff,
                          tag=tag or None, usage=usage or None, status=status, text=text)
fkey = f"{course_id}|{category}|{qtype}|{status}|{diff}|{tag}|{usage}|{text}"
if st.session_state.get("bank_fkey") != fkey:      # new filters start at page 1
    st.session_state["bank_fkey"] = fkey
    st.session_state["bank_page"] = 1
p1, p2, p3 = st.columns([1, 1, 3])
size = p1.selectbox(t("bank.page_size"), bank.PAGE_SIZES, index=1, key="bank_page_size")
result = fetch(lambda s: bank.search(s, actor, filters=filters, page=st.session_state.get("bank_page", 1), page_size=size))
p2.number_input(t("bank.page"), 1, result.pages, key="bank_page")
p3.caption(t("bank.total", n=result.total, page=result.page, pages=result.pages))
if not result.rows:
    st.info(t("bank.no_match"))
    st.stop()


df = pd.DataFrame([{"id": r.id, "version": r.version, "type": t(f"qtype.{r.type}"), "category": r.category,
                    "difficulty": r.difficulty, "usage": t(f"usage.{r.usage}"), "points": r.points, "text": r.text,
                    "status": t("bank.status.active" if r.active else "bank.status.retired")} for r in result.rows])
event = st.dataframe(df.rename(columns=lambda c: t(f"bank.col.{c}")), hide_index=True, width="stretch",
                     on_select="rerun", selection_mode="multi-row", key=f"bank_table_{fkey}_{result.page}_{size}")
picked = [result.rows[i].id for i in (event.selection.rows if event and event.selection else []) if i < len(result.rows)]

with st.container(border=True):
    st.markdown(t("bank.selected", n=len(picked)) if picked else t("bank.select_hint"))
    if picked:
        b1, b2, b3, b4 = st.columns(4)
        if b1.button(t("bank.retire"), icon=":material/archive:", key="bank_retire"):
            act(lambda s: bank.set_active(s, actor, question_ids=picked, active=False), flash_key="bank_flash",
                flash=t("bank.retired", n=len(picked)))
        if b2.button(t("bank.restore"), icon=":material/unarchive:", key="bank_restore"):
            act(lambda s: bank.set_active(s, actor, question_ids=picked, active=True), flash_key="bank_flash",
                flash=t("bank.restored", n=len(picked)))
        with b3.popover(t("bank.move"), icon=":material/drive_file_move:"):
            target = st.text_input(t("bank.move_to"), key="bank_move_to", placeholder="信息安全/法律法规")
            if st.button(t("bank.move_do"), key="bank_move_do", disabled=not target.strip()):
                act(lambda s: bank.bulk_edit(s, actor, question_ids=picked, category=target.strip()),
                    flash_key="bank_flash", flash=t("bank.moved", n=len(picked)))
        with b4.popover(t("bank.tag_edit"), icon=":material/sell:"):
            add = st.text_input(t("bank.tag_add"), key="bank_tag_add")
            remove = st.multiselect(t("bank.tag_remove"), tag_list, key="bank_tag_remove")
            if st.button(t("bank.tag_do"), key="bank_tag_do", disabled=not (add.strip() or remove)):
                act(lambda s: bank.bulk_edit(s, actor, question_ids=picked, add_tags=[x for x in add.replace("，", ",").split(",") if x.strip()],
                                             remove_tags=remove), flash_key="bank_flash", flash=t("bank.tagged", n=len(picked)))

with st.expander(t("bank.export"), icon=":material/download:"):
    e1, e2 = st.columns([1, 2])
    fmt = e1.selectbox(t("bank.export_format"), bank.EXPORT_FORMATS, key="bank_export_format",
                       format_func=lambda f: t(f"format.{f}"))
    scope = e2.radio(t("bank.export_what"), ["selection", "filter"], horizontal=True, key="bank_export_scope",
                     format_func=lambda w: t(f"bank.export_{w}", n=len(picked) if w == "selection" else result.total),
                     index=0 if picked else 1)
    lost = bank.not_carried(fmt)
    if lost:
        st.caption(t("bank.not_carried", fields=", ".join(lost)))
    ids = picked if scope == "selection" else None

    def _export() -> bytes:   # built when clicked, not on every rerun
        from ui.session import db
        with db() as s:
            return bank.export_questions(s, actor, fmt=fmt, question_ids=ids, filters=filters)
    suffix = {"xlsx": "xlsx", "gift": "gift.txt", "moodlexml": "xml", "yaml": "yaml", "csv": "csv", "aiken": "txt"}[fmt]
    st.download_button(t("bank.export_do"), data=_export, file_name=f"questions.{suffix}", key="bank_export_do",
                       icon=":material/download:", disabled=scope == "selection" and not picked, on_click="ignore")

if len(picked) == 1:
    rec = fetch(lambda s: bank.question_record(s, actor, question_id=picked[0]))
    st.subheader(f"{picked[0]} · v{rec['_version']}")
    st.caption(t("bank.versions", n=rec["_versions"]) + " · " + t("bank.meta", category=rec["category"], difficulty=rec["difficulty"],
               usage=t("usage." + rec["usage"]), tags=", ".join(rec.get("tags", [])) or "—"))
    left, right = st.columns(2)
    with left:
        learner_preview(rec, key=f"bank_preview_{picked[0]}_{rec['_version']}")
    with right:
        key_block(rec)
    if st.button(t("bank.edit"), icon=":material/edit:", key="bank_edit"):
        st.switch_page("pages/trainer/question_edit.py", query_params={"q": picked[0]})
