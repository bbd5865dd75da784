"""Users: search and filter by unit; create; edit; roles and scopes; reset password; deactivate."""
import pandas as pd
import streamlit as st

from models.user import ROLES
from services import ledger, org
from services import users as user_service
from services.errors import ServiceError
from services.text import clean_text
from ui.fmt import local_time, md_text
from ui.guard import act, guard, show_error
from ui.i18n import t
from ui.session import db

actor = guard("admin")
st.title(t("users.title"))
with db() as s:
    labels = org.unit_labels(s)
    unit_ids = [u.id for u in org.list_units(s)]

if msg := st.session_state.pop("users_flash", None):
    st.success(msg)
if secret := st.session_state.pop("users_secret", None):
    st.warning(t("users.password_once", username=md_text(secret[0])))
    st.code(secret[1], language=None)

with st.expander(t("users.create"), icon=":material/person_add:"), st.form("users_create", clear_on_submit=True):
    c1, c2 = st.columns(2)
    username = c1.text_input(t("field.username"), help=t("users.username.help"))
    name = c2.text_input(t("field.name"))
    unit = c1.selectbox(t("field.unit"), unit_ids, format_func=labels.get, index=None, placeholder=t("users.pick_unit"),
                        key="users_create_unit")
    roles = c2.multiselect(t("field.roles"), ROLES, default=["learner"], format_func=lambda r: t(f"role.{r}"))
    phone = c1.text_input(t("field.phone"))
    email = c2.text_input(t("field.email"))
    if st.form_submit_button(t("users.create_submit"), type="primary"):
        try:
            grants = [user_service.Grant(role=r, scope_unit_id=unit if r in ("trainer", "hr") else None) for r in roles]
            with db() as s:
                u, pw = user_service.create_user(s, actor, user_in=user_service.UserCreate(
                    username=username, name=name, unit_id=unit, phone=phone or None, email=email or None, grants=grants))
            st.session_state["users_flash"] = t("users.created", username=md_text(u.username))
            st.session_state["users_secret"] = (u.username, pw)
            st.rerun()
        except ServiceError as exc:
            show_error(exc)

f1, f2, f3, f4 = st.columns([2, 2, 1, 1])
text = f1.text_input(t("users.search"), key="users_search", placeholder=t("users.search.placeholder"))
unit_filter = f2.selectbox(t("field.unit"), [None] + unit_ids, format_func=lambda i: labels[i] if i else t("users.all_units"),
                           key="users_unit")
role_filter = f3.selectbox(t("field.role"), [None, *ROLES], format_func=lambda r: t(f"role.{r}") if r else t("users.all_roles"),
                           key="users_role")
page_no = f4.number_input(t("users.page"), 1, 10_000, 1, key="users_page")
PAGE = 100
with db() as s:
    rows, total = user_service.search_users(s, actor, text=text, unit_id=unit_filter, role=role_filter,
                                            limit=PAGE, offset=(page_no - 1) * PAGE)
st.caption(t("users.count", total=total, pages=max(1, -(-total // PAGE))))
table = pd.DataFrame([{
    t("field.username"): r.username, t("field.name"): r.name, t("field.unit"): r.unit_name or "—",
    t("field.roles"): ", ".join(t(f"role.{x}") for x in r.roles.split(",") if x),
    t("users.status"): t("users.inactive") if not r.active else (t("users.locked") if r.locked else t("users.active")),
    t("users.last_login"): local_time(r.last_login_at),
} for r in rows])
# the table's key follows the filters: a selection never outlives the rows it was made on
event = st.dataframe(table, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                     key=f"users_table_{text}_{unit_filter}_{role_filter}_{page_no}")
picked = [i for i in (event.selection.rows if event and event.selection else []) if i < len(rows)]
if not picked:
    st.caption(t("users.pick_row"))
    st.stop()

row = rows[picked[0]]
with db() as s:
    user = user_service.get_user(s, actor, user_id=row.id)
st.subheader(t("users.edit", username=md_text(user.username)))
edit, roles_tab, account, hours_tab = st.tabs([t("users.tab.profile"), t("users.tab.roles"), t("users.tab.account"),
                                              t("users.tab.hours")])
with edit, st.form("users_edit"):
    name = st.text_input(t("field.name"), value=user.name)
    unit = st.selectbox(t("field.unit"), unit_ids, format_func=labels.get,
                        index=unit_ids.index(user.unit_id) if user.unit_id in unit_ids else None)
    phone = st.text_input(t("field.phone"), value=user.phone or "")
    email = st.text_input(t("field.email"), value=user.email or "")
    if st.form_submit_button(t("users.save"), type="primary"):
        act(lambda s: user_service.update_user(s, actor, user_id=user.id, name=name, unit_id=unit, phone=phone or None,
                                         email=email or None, employee_no=user.employee_no), flash_key="users_flash", flash=t("users.saved"))
with roles_tab, st.form("users_roles"):
    current = dict(row.grants)
    new_grants = []
    for r in ROLES:
        has = st.checkbox(t(f"role.{r}"), value=r in current, key=f"users_role_{user.id}_{r}")
        scope = None
        if r in ("trainer", "hr"):
            choices = [None] + unit_ids
            # an existing grant keeps its scope; a new one starts at the person's own unit, never "whole city"
            preset = current.get(r) if r in current else user.unit_id
            scope = st.selectbox(t("users.scope", role=t(f"role.{r}")), choices, key=f"users_scope_{user.id}_{r}",
                                 index=choices.index(preset) if preset in choices else 0,
                                 format_func=lambda i: labels[i] if i else t("users.scope_all"))
        if has:
            new_grants.append(user_service.Grant(role=r, scope_unit_id=scope))
    if st.form_submit_button(t("users.save_roles"), type="primary"):
        act(lambda s: user_service.set_grants(s, actor, user_id=user.id, grants=new_grants),
            flash_key="users_flash", flash=t("users.saved"))
with account:
    c1, c2 = st.columns(2)
    if c1.button(t("users.reset_password"), icon=":material/key:", key="users_reset"):
        try:
            with db() as s:
                pw = user_service.reset_password(s, actor, user_id=user.id)
            st.session_state["users_secret"] = (user.username, pw)
            st.rerun()
        except ServiceError as exc:
            show_error(exc)
    label = t("users.deactivate") if user.active else t("users.activate")
    if c2.button(label, key="users_active"):
        act(lambda s: user_service.set_active(s, actor, user_id=user.id, active=not user.active),
            flash_key="users_flash", flash=t("users.saved"))
with hours_tab:
    with db() as s:
        entries = ledger.entries_of(s, actor, user_id=user.id)
    st.caption(t("users.hours_total", total=f"{entries['hours'].sum():g}" if not entries.empty else "0"))
    if not entries.empty:
        st.dataframe(pd.DataFrame({t("field.time"): entries["created_at"].map(local_time), t("hours.unit"): entries["hours"],
                                   t("field.source"): entries["source_type"].map(lambda k: t(f"ledger.source.{k}")),
                                   t("field.reason"): entries["reason"]}), hide_index=True, width="stretch")
    with st.form("users_adjust", clear_on_submit=True):
        st.caption(t("users.adjust.help"))
        c1, c2 = st.columns([1, 3])
        delta = c1.number_input(t("users.adjust.hours"), -100.0, 100.0, 0.0, step=0.5)
        reason = c2.text_input(t("field.reason"))
        if st.form_submit_button(t("users.adjust.submit")):
            # the reason is checked here too until ledger.adjust checks it itself (control characters, length)
            act(lambda s: ledger.adjust(s, actor, user_id=user.id, hours=delta,
                                        reason=clean_text(reason, field=t("field.reason"), max_length=400)),
                flash_key="users_flash", flash=t("users.saved"))
