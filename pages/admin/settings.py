"""Settings: 学时 crediting rule, annual targets (default and per unit), demo data, content status."""
import pandas as pd
import streamlit as st
from pydantic import ValidationError

from services import demo as demo_service
from services import org, settings
from services.errors import ServiceError
from ui.bootstrap import bootstrap
from ui.guard import act, guard, show_error
from ui.i18n import t
from ui.session import db

actor = guard("admin")
st.title(t("settings.title"))
if msg := st.session_state.pop("settings_flash", None):
    st.success(msg)

with db() as s:
    rule = settings.credit_rule(s)
    default_target = settings.default_target(s)
    targets = settings.unit_targets(s)
    labels = org.unit_labels(s)
    unit_ids = [u.id for u in org.list_units(s)]
    demo_loaded = demo_service.demo_loaded(s)
    leave_days = settings.notebook_leave_days(s)

st.subheader(t("settings.credit_rule"))
st.caption(t("settings.credit_rule.help"))
with st.form("settings_rule"):
    c1, c2 = st.columns(2)
    long_minutes = c1.number_input(t("settings.long_minutes"), 1, 600, rule.long_minutes)
    long_hours = c2.number_input(t("settings.long_hours"), 0.0, 20.0, rule.long_hours, step=0.25)
    mid_minutes = c1.number_input(t("settings.mid_minutes"), 1, 600, rule.mid_minutes)
    mid_hours = c2.number_input(t("settings.mid_hours"), 0.0, 20.0, rule.mid_hours, step=0.25)
    short_hours = c1.number_input(t("settings.short_hours"), 0.0, 20.0, rule.short_hours, step=0.25)
    quiz_bonus = c2.number_input(t("settings.quiz_bonus"), 0.0, 20.0, rule.quiz_bonus, step=0.25)
    min_ratio = c1.slider(t("settings.min_study_ratio"), 0, 100, int(rule.min_study_ratio * 100), step=5,
                          help=t("settings.min_study_ratio.help"), format="%d%%")
    if st.form_submit_button(t("settings.save"), type="primary"):
        try:
            new_rule = settings.CreditRule(long_minutes=long_minutes, long_hours=long_hours, mid_minutes=mid_minutes,
                                           mid_hours=mid_hours, short_hours=short_hours, quiz_bonus=quiz_bonus,
                                           min_study_ratio=min_ratio / 100)
            with db() as s:
                settings.set_credit_rule(s, actor, rule=new_rule)
            st.session_state["settings_flash"] = t("settings.saved")
            st.rerun()
        except ValidationError:
            st.error(t("error.rule_order"))
        except ServiceError as exc:
            show_error(exc)

st.subheader(t("settings.targets"))
with st.form("settings_default_target"):
    hours = st.number_input(t("settings.default_target"), 1.0, 500.0, default_target, step=1.0, help=t("settings.default_target.help"))
    if st.form_submit_button(t("settings.save"), type="primary"):
        act(lambda s: settings.set_default_target(s, actor, hours=hours),
            flash_key="settings_flash", flash=t("settings.saved"))
if targets:
    st.dataframe(pd.DataFrame([{t("field.unit"): labels.get(u, u), t("hours.target"): h} for u, h in targets.items()]),
                 hide_index=True, width="stretch")
with st.form("settings_unit_target"):
    c1, c2, c3 = st.columns([3, 1, 1])
    unit = c1.selectbox(t("field.unit"), unit_ids, format_func=labels.get, index=None, placeholder=t("users.pick_unit"))
    unit_hours = c2.number_input(t("hours.target"), 1.0, 500.0, 50.0, step=1.0)
    remove = c3.checkbox(t("settings.remove_target"))
    if st.form_submit_button(t("settings.save_unit_target")):
        if unit is None:
            st.error(t("users.pick_unit"))
        else:
            act(lambda s: settings.set_unit_target(s, actor, unit_id=unit, hours=None if remove else unit_hours),
                flash_key="settings_flash", flash=t("settings.saved"))

st.subheader(t("settings.notebook"))
with st.form("settings_notebook"):
    days = st.number_input(t("settings.notebook_leave_days"), 1, 3650, leave_days, step=1,
                           help=t("settings.notebook_leave_days.help"))
    if st.form_submit_button(t("settings.save"), type="primary"):
        act(lambda s: settings.set_notebook_leave_days(s, actor, days=days),
            flash_key="settings_flash", flash=t("settings.saved"))

st.subheader(t("settings.content"))
status = bootstrap()
if status.get("errors"):
    st.error(t("settings.content_errors", n=len(status["errors"])))
    st.code("\n".join(status["errors"][:50]), language=None)
else:
    st.caption(t("settings.content_ok", courses=status.get("courses", 0), lessons=status.get("lessons", 0),
                 new=status.get("questions_new", 0), versions=status.get("questions_new_version", 0),
                 same=status.get("questions_unchanged", 0)))

if not demo_loaded:
    st.subheader(t("settings.demo"))
    n = st.number_input(t("setup.demo_learners"), 0, 5000, 300, step=50, key="settings_demo_n")
    if st.button(t("setup.load_demo"), key="settings_demo"):
        try:
            with db() as s, st.spinner(t("setup.demo_loading")):
                result = demo_service.load_demo(s, actor, learners=int(n))
            st.warning(t("setup.passwords_once"))
            st.dataframe([{t("field.username"): u, t("field.role"): t(f"role.{r}"), t("field.password"): p}
                          for u, r, p in result.accounts] +
                         [{t("field.username"): "wh00001…", t("field.role"): t("role.learner"),
                           t("field.password"): result.learner_password}], hide_index=True)
        except ServiceError as exc:
            show_error(exc)
