"""Org tree: view, add, rename, move and retire units."""
import pandas as pd
import streamlit as st

from models.org import UNIT_KINDS
from services import org
from ui.fmt import md_text
from ui.guard import act, guard
from ui.i18n import t
from ui.session import db

actor = guard("admin")
st.title(t("org.title"))
with db() as s:
    units = org.list_units(s, with_counts=True)
    retired = [u for u in org.list_units(s, include_retired=True) if not u.active]
    labels = org.unit_labels(s)

if msg := st.session_state.pop("org_flash", None):
    st.success(msg)

tree_col, form_col = st.columns([3, 2])
with tree_col:
    st.subheader(t("org.tree", n=len(units)))
    filt = st.text_input(t("org.filter"), key="org_filter")
    view = pd.DataFrame([{
        t("org.col.name"): "\u3000" * u.depth + ("└ " if u.depth else "") + u.name,
        t("org.col.code"): u.code, t("org.col.kind"): t(f"unit.{u.kind}"), t("org.col.members"): u.members,
    } for u in units if not filt or filt in u.name or filt.lower() in u.code.lower()])
    st.dataframe(view, hide_index=True, width="stretch", height=520)
    if retired:
        with st.expander(t("org.retired", n=len(retired))):
            st.dataframe(pd.DataFrame([{t("org.col.name"): u.name, t("org.col.code"): u.code} for u in retired]),
                         hide_index=True, width="stretch")

ids = [u.id for u in units]
with form_col:
    add, rename, move, retire = st.tabs([t("org.add"), t("org.rename"), t("org.move"), t("org.retire")])
    with add, st.form("org_add", clear_on_submit=True):
        parent = st.selectbox(t("org.parent"), [None] + ids, format_func=lambda i: labels[i] if i else t("org.top_level"))
        code = st.text_input(t("org.col.code"), help=t("org.code.help"))
        name = st.text_input(t("org.col.name"))
        kind = st.selectbox(t("org.col.kind"), UNIT_KINDS, index=UNIT_KINDS.index("unit"), format_func=lambda k: t(f"unit.{k}"))
        if st.form_submit_button(t("org.add"), type="primary"):
            act(lambda s: org.create_unit(s, actor, code=code, name=name, kind=kind, parent_id=parent),
                flash_key="org_flash", flash=t("org.added", name=md_text(name)))
    with rename, st.form("org_rename"):
        uid = st.selectbox(t("org.unit"), ids, format_func=labels.get, key="org_rename_unit")
        new_name = st.text_input(t("org.new_name"))
        if st.form_submit_button(t("org.rename"), type="primary"):
            act(lambda s: org.rename_unit(s, actor, unit_id=uid, name=new_name),
                flash_key="org_flash", flash=t("org.renamed", name=md_text(new_name)))
    with move, st.form("org_move"):
        uid = st.selectbox(t("org.unit"), ids, format_func=labels.get, key="org_move_unit")
        target = st.selectbox(t("org.new_parent"), [None] + ids, format_func=lambda i: labels[i] if i else t("org.top_level"))
        if st.form_submit_button(t("org.move"), type="primary"):
            act(lambda s: org.move_unit(s, actor, unit_id=uid, new_parent_id=target),
                flash_key="org_flash", flash=t("org.moved"))
    with retire, st.form("org_retire"):
        uid = st.selectbox(t("org.unit"), ids, format_func=labels.get, key="org_retire_unit")
        st.caption(t("org.retire.help"))
        if st.form_submit_button(t("org.retire"), type="primary"):
            act(lambda s: org.retire_unit(s, actor, unit_id=uid), flash_key="org_flash", flash=t("org.retired_ok"))
