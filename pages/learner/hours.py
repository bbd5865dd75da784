"""My study hours (学时): this year against the target — online self-study and offline training apart
and together — by course, my offline classes, every ledger entry, and my training record to download."""
import altair as alt
import pandas as pd
import streamlit as st

from services import ledger, offline, record
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
    rec = record.training_record(s, actor, user_id=actor.id, year=year)
    classes = offline.my_classes(s, actor, year=year)

by_source = rec.hours
c1, c2, c3, c4 = st.columns(4)
c1.metric(t("hours.this_year", year=year), hours(summary.total), help=t("hours.all_sources.help"))
c2.metric(t("hours.online"), hours(by_source["online"]), help=t("hours.online.help"))
c3.metric(t("hours.offline"), hours(by_source["offline"]), help=t("hours.offline.help"))
c4.metric(t("hours.target"), hours(summary.target))
online_pct = rec.percent(by_source["online"])
st.progress(online_pct / 100, text=t("hours.progress_online", percent=f"{online_pct:.0f}"))
st.progress(summary.percent / 100, text=t("hours.progress", percent=f"{summary.percent:.0f}"))
# by course: the hours of required and of elective courses (offline classes have no course)
required = rec.courses.loc[rec.courses["required"].astype(bool), "hours"].sum() if not rec.courses.empty else 0.0
elective = rec.courses.loc[~rec.courses["required"].astype(bool), "hours"].sum() if not rec.courses.empty else 0.0
st.caption(t("hours.split", required=hours(round(float(required), 2)), elective=hours(round(float(elective), 2)),
             exam=hours(by_source["exam"]), other=hours(by_source["other"])))



def _record(build):
    """The training record of the selected year, built only when its button is clicked."""
    def make() -> bytes:
        with db() as s:
            return build(s, actor, user_id=actor.id, year=year)
    return make


d1, d2, _ = st.columns([1, 1, 2])
d1.download_button(t("hours.download_pdf"), _record(record.record_pdf),
                   record.file_name(rec, "pdf"), mime="application/pdf", icon=":material/picture_as_pdf:",
                   on_click="ignore", key="hours_record_pdf", help=t("hours.record.help"))
d2.download_button(t("hours.download_xlsx"), _record(record.record_xlsx),
                   record.file_name(rec, "xlsx"), icon=":material/table_view:", on_click="ignore",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="hours_record_xlsx",
                   help=t("hours.record.help"))

if entries.empty:
    st.info(t("hours.none"))
else:
    by_course = (entries.assign(course=entries["course"].fillna(
                     entries["source_type"].map(lambda k: t("hours.offline") if k == "offline" else t("hours.other"))))
                 .groupby("course", as_index=False)["hours"].sum().sort_values("hours", ascending=False))
    st.subheader(t("hours.by_course"))
    chart = alt.Chart(by_course).mark_bar().encode(
        x=alt.X("hours:Q", title=t("hours.unit")), y=alt.Y("course:N", sort="-x", title=None, axis=alt.Axis(labelLimit=260)),
        tooltip=[alt.Tooltip("course:N", title=t("field.course")), alt.Tooltip("hours:Q", title=t("hours.unit"))])
    st.altair_chart(chart, width="stretch")

if classes:
    st.subheader(t("hours.offline_classes"))
    st.dataframe(pd.DataFrame([{
        t("offline.col.name"): c.name, t("offline.col.organiser"): c.organiser,
        t("offline.col.dates"): c.start_date.isoformat() if c.start_date == c.end_date
        else f"{c.start_date.isoformat()} – {c.end_date.isoformat()}",
        t("offline.col.hours"): c.hours} for c in classes]), hide_index=True, width="stretch")

if not entries.empty:
    st.subheader(t("hours.entries"))
    view = pd.DataFrame({
        t("field.time"): entries["created_at"].map(local_time),
        t("hours.unit"): entries["hours"],
        t("field.source"): entries["source_type"].map(lambda k: t(f"ledger.source.{k}")),
        t("field.reason"): entries["reason"],
    })
    st.dataframe(view, hide_index=True, width="stretch")
    st.caption(t("hours.explain"))
