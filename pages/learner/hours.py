"""My study hours (学时): this year vs the target, by course, and every ledger entry."""
import altair as alt
import pandas as pd
import streamlit as st

from services import ledger
from ui.fmt import hours, local_time
from ui.guard import guard
from ui.i18n import t
from ui.session import db

actor = guard("learner")
st.title(t("hours.title"))
with db() as s:
    years = ledger.my_years(s, actor)
year = st.columns([1, 4])[0].selectbox(t("hours.year"), years, key="hours_year")
with db() as s:
    summary = ledger.my_summary(s, actor, year=year)
    entries = ledger.my_entries(s, actor, year=year)

c1, c2, c3, c4 = st.columns(4)
c1.metric(t("hours.this_year", year=year), hours(summary.total))
c2.metric(t("hours.target"), hours(summary.target))
c3.metric(t("hours.required"), hours(summary.required_total))
c4.metric(t("hours.elective"), hours(summary.elective_total))
st.progress(summary.percent / 100, text=t("hours.progress", percent=f"{summary.percent:.0f}"))

if entries.empty:
    st.info(t("hours.none"))
else:
    by_course = (entries.assign(course=entries["course"].fillna(t("hours.other")))
                 .groupby("course", as_index=False)["hours"].sum().sort_values("hours", ascending=False))
    st.subheader(t("hours.by_course"))
    chart = alt.Chart(by_course).mark_bar().encode(
        x=alt.X("hours:Q", title=t("hours.unit")), y=alt.Y("course:N", sort="-x", title=None, axis=alt.Axis(labelLimit=260)),
        tooltip=[alt.Tooltip("course:N", title=t("field.course")), alt.Tooltip("hours:Q", title=t("hours.unit"))])
    st.altair_chart(chart, width="stretch")
    st.subheader(t("hours.entries"))
    view = pd.DataFrame({
        t("field.time"): entries["created_at"].map(local_time),
        t("hours.unit"): entries["hours"],
        t("field.source"): entries["source_type"].map(lambda k: t(f"ledger.source.{k}")),
        t("field.reason"): entries["reason"],
    })
    st.dataframe(view, hide_index=True, width="stretch")
    st.caption(t("hours.explain"))
