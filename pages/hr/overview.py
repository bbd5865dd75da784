"""HR: 学时 compliance by department in my scope."""
import altair as alt
import pandas as pd
import streamlit as st

from services import reports
from models.db import local_year
from ui.guard import fetch, guard
from ui.i18n import t
from ui.session import db

actor = guard("hr")
st.title(t("hr.title"))
this_year = local_year()
year = st.columns([1, 4])[0].selectbox(t("hours.year"), [this_year, this_year - 1], key="hr_year")
with db() as s:
    df = reports.hours_by_unit(s, actor, year=year)
if df.empty:
    st.info(t("hr.none"))
    st.stop()
people = int(df["people"].sum())
reached = int(df["reached"].sum())
c1, c2, c3, c4 = st.columns(4)
c1.metric(t("hr.people"), people)
c2.metric(t("hr.avg_hours"), f"{df['hours'].sum() / people:.1f}")
c3.metric(t("hr.reached"), reached)
c4.metric(t("hr.rate"), f"{100 * reached / people:.1f}%")

st.subheader(t("hr.by_unit"))
st.caption(t("hr.chart_help"))
chart_df = df.sort_values("avg_hours")
order = list(chart_df["label"])
bars = alt.Chart(chart_df).mark_bar().encode(
    x=alt.X("avg_hours:Q", title=t("hr.avg_hours")),
    y=alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=260, labelOverlap=False)),
    color=alt.condition(alt.datum.avg_hours < alt.datum.target * 0.5, alt.value("#c0392b"), alt.value("#1f5fa8")),
    tooltip=[alt.Tooltip("label:N", title=t("field.unit")), alt.Tooltip("parent:N", title=t("hr.parent")),
             alt.Tooltip("people:Q", title=t("hr.people")), alt.Tooltip("avg_hours:Q", title=t("hr.avg_hours")),
             alt.Tooltip("target:Q", title=t("hours.target")), alt.Tooltip("reached:Q", title=t("hr.reached"))])
target_rule = alt.Chart(chart_df).mark_tick(color="#555", thickness=2, size=14).encode(
    x="target:Q", y=alt.Y("label:N", sort=order))
st.altair_chart((bars + target_rule).properties(height=max(220, 22 * len(chart_df))), width="stretch")
view = pd.DataFrame({t("field.unit"): df["label"], t("hr.parent"): df["parent"], t("hr.people"): df["people"],
                     t("hr.hours"): df["hours"], t("hr.avg_hours"): df["avg_hours"], t("hours.target"): df["target"],
                     t("hr.reached"): df["reached"], t("hr.rate_pct"): (df["rate"] * 100).round(1)})
st.dataframe(view, hide_index=True, width="stretch")

st.subheader(t("hr.people_title"))
units = dict(zip(df["unit_id"], df["label"]))
c1, c2 = st.columns([3, 1])
unit_id = c1.selectbox(t("field.unit"), [None, *units], format_func=lambda u: units.get(u, t("hr.all_in_scope")),
                       key="hr_people_unit")
below = c2.checkbox(t("hr.below_only"), value=True, key="hr_people_below")
people = fetch(lambda s: reports.people(s, actor, year=year, unit_id=unit_id, below_target_only=below))
st.caption(t("hr.people_count", n=len(people)))
columns = {"username": t("field.username"), "name": t("field.name"), "unit": t("field.unit"),
           "hours": t("hr.hours"), "target": t("hours.target"), "gap": t("hr.gap"),
           "required_done": t("hr.required_done")}
if not people.empty:
    st.dataframe(people[list(columns)].rename(columns=columns), hide_index=True, width="stretch")
    st.download_button(t("hr.export"), reports.people_xlsx(people, columns), f"学时统计-{year}.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       icon=":material/download:", on_click="ignore", key="hr_export")
