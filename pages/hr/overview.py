"""HR: 学时 compliance by department in my scope; the people behind the numbers, page by page, and
an Excel export of all of them built only when the button is clicked."""
import re
from datetime import datetime

import altair as alt
import pandas as pd
import streamlit as st

from models.db import LOCAL_TZ, local_year
from services import reports
from services.permissions import load_actor
from ui.guard import fetch, guard
from ui.i18n import t
from ui.session import db

PAGE_SIZE = 100

actor = guard("hr")
st.title(t("hr.title"))
this_year = local_year()
year = st.columns([1, 4])[0].selectbox(t("hours.year"), [this_year, this_year - 1], key="hr_year")
df = fetch(lambda s: reports.hours_by_unit(s, actor, year=year))
if df.empty:
    st.info(t("hr.none"))
    st.stop()
people_total = int(df["people"].sum())
reached = int(df["reached"].sum())
c1, c2, c3, c4 = st.columns(4)
c1.metric(t("hr.people"), people_total)
c2.metric(t("hr.avg_hours"), f"{df['hours'].sum() / people_total:.1f}")
c3.metric(t("hr.reached"), reached)
c4.metric(t("hr.rate"), f"{100 * reached / people_total:.1f}%")

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
units = {int(k): v for k, v in zip(df["unit_id"], df["label"])}
c1, c2, c3 = st.columns([3, 1, 1])
unit_id = c1.selectbox(t("field.unit"), [None, *units], format_func=lambda u: units.get(u, t("hr.all_in_scope")),
                       key="hr_people_unit")
below = c2.checkbox(t("hr.below_only"), value=True, key="hr_people_below")
total = fetch(lambda s: reports.people_count(s, actor, year=year, unit_id=unit_id, below_target_only=below))
pages = max(1, -(-total // PAGE_SIZE))
# the page number belongs to one filter: a new unit, year or filter starts again at page 1
# (and when fewer pages remain than the one chosen, Streamlit starts the widget again at 1)
page = c3.number_input(t("hr.page"), 1, pages, 1, key=f"hr_people_page_{year}_{unit_id}_{below}")
people = fetch(lambda s: reports.people(s, actor, year=year, unit_id=unit_id, below_target_only=below,
                                        limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE))
st.caption(t("hr.people_count", n=total) + " · " + t("hr.people_page", page=page, pages=pages,
                                                      first=(page - 1) * PAGE_SIZE + 1 if total else 0,
                                                      last=min(total, page * PAGE_SIZE)))
columns = {"username": t("field.username"), "name": t("field.name"), "unit": t("field.unit"),
           "hours": t("hr.hours"), "target": t("hours.target"), "gap": t("hr.gap"),
           "required_done": t("hr.required_done")}
if not people.empty:
    st.dataframe(people[list(columns)].rename(columns=columns), hide_index=True, width="stretch")

    with db() as s:
        scope = reports.scope_names(s, actor)
    unit_name = units[unit_id] if unit_id is not None else t("hr.all_in_scope")
    scope_name = "、".join(scope) if scope else t("hr.scope_all")
    title = t("hr.export_title", unit=unit_name, year=year)
    meta = t("hr.export_meta", scope=scope_name, unit=unit_name, year=year, n=total,
             filter=t("hr.below_only") if below else t("hr.everyone"), time="{time}")

    def export() -> bytes:
        """Runs when the button is clicked (Streamlit calls it on another thread): every person of
        the filter, not only this page, stamped with the time of the export."""
        with db() as s:   # the grants as they are now, not as they were when the page was drawn
            everyone = reports.people(s, load_actor(s, actor.id), year=year, unit_id=unit_id,
                                      below_target_only=below)
        stamp = datetime.now(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
        return reports.people_xlsx(everyone, columns, title_rows=[title, meta.replace("{time}", stamp)])

    file_unit = re.sub(r'[\\/:*?"<>|\s]+', "_", unit_name if unit_id is not None else scope_name)[:60]
    st.download_button(t("hr.export"), export, f"{t('hr.export_file')}-{file_unit}-{year}.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       icon=":material/download:", on_click="ignore", key="hr_export",
                       help=t("hr.export_help", n=total))
