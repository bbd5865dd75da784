"""HR dashboard: KPIs against the previous period, the org tree as the backbone (unit table ranked
among siblings, charts, drill-down unit → sub-units → people → one person), exports on click."""
import re
from datetime import date, datetime

import altair as alt
import pandas as pd
import streamlit as st

from models.db import LOCAL_TZ, local_year
from services import reports
from services.analytics import dashboard as dash
from services.permissions import load_actor
from ui.fmt import hours as fmt_hours
from ui.fmt import local_time
from services.errors import ServiceError
from ui.guard import fetch, guard, show_error
from ui.i18n import t
from ui.session import db

PAGE_SIZE = 100
UNSAFE_FILE_CHARS = re.compile(r'[\\/:*?"<>|\s\x00-\x1f]+')

actor = guard("hr")
st.title(t("hr.title"))
st.caption(t("hr.rules_help"))


@st.cache_data(ttl=3600, max_entries=256, show_spinner=False)
def cached_dashboard(_actor, actor_key: tuple, filters: dash.Filters, version: tuple) -> dash.Dashboard:
    """The whole dashboard for one scope and filter set; `version` (dash.data_version) changes when
    results, people or the org tree change, so a stale figure is never served. actor_key holds the
    id and the HR scope (the actor itself is not hashed)."""
    with db() as s:
        return dash.dashboard(s, _actor, filters)


def actor_key(a) -> tuple:
    return (a.id, tuple(sorted((r, p) for r, p in a.scopes.items())))


with db() as s:
    scope = dash.resolve_scope(s, actor)
    version = dash.data_version(s)
    courses = dash.course_choices(s)
labels = {i: reports.unit_path_label(scope.units, i) for i in scope.ids}
if not scope.ids:
    st.info(t("hr.none"))
    st.stop()

# a click on a bar or a row of the unit table (previous run) opens that unit: applied before the
# unit picker is drawn; the chart and table keys carry the unit shown, so an old click never re-fires
current = st.session_state.get("hr_unit")
for key in (f"hr_bars_{current}", f"hr_units_{current}"):
    event = st.session_state.get(key)
    picked = None
    if key.startswith("hr_bars") and event and event.get("selection", {}).get("pick"):
        picked = event["selection"]["pick"][0].get("unit_id")
    elif key.startswith("hr_units") and event and event.get("selection", {}).get("rows"):
        rows = st.session_state.get(f"hr_rows_{current}") or []
        idx = event["selection"]["rows"][0]
        picked = rows[idx] if idx < len(rows) else None
    if picked is not None and int(picked) in labels and int(picked) != current:
        st.session_state["hr_unit"] = int(picked)
        st.session_state.pop("hr_person", None)
        break


def _record_service():
    """services.record (the training record as PDF / Excel), or None while it is not there."""
    try:
        from services import record
    except ImportError:
        return None
    return record if hasattr(record, "record_pdf") and hasattr(record, "record_xlsx") else None


def go(unit_id):
    st.session_state["hr_unit"] = unit_id
    st.session_state.pop("hr_person", None)


# --- filters
c1, c2, c3, c4 = st.columns([3, 2, 3, 2])
unit_id = c1.selectbox(t("field.unit"), [None, *sorted(labels, key=lambda i: scope.units[i].path)], key="hr_unit",
                       format_func=lambda u: labels.get(u, t("hr.all_in_scope")), help=t("hr.unit_help"))
this_year = local_year()
mode = c2.radio(t("hr.period"), ["year", "range"], format_func=lambda m: t(f"hr.period_{m}"), horizontal=True,
                key="hr_mode")
if mode == "year":
    year = c2.selectbox(t("hours.year"), [this_year, this_year - 1, this_year - 2], key="hr_year")
    filters = dash.Filters(unit_id=unit_id, year=year)
else:
    picked = c2.date_input(t("hr.range"), (date(this_year, 1, 1), datetime.now(LOCAL_TZ).date()), key="hr_range")
    if not isinstance(picked, tuple) or len(picked) != 2:
        st.info(t("hr.range_pick"))
        st.stop()
    filters = dash.Filters(unit_id=unit_id, start=picked[0], end=picked[1])
    year = picked[1].year
course_id = c3.selectbox(t("hr.course"), [None, *courses], format_func=lambda c: courses.get(c, t("hr.all_courses")),
                         key="hr_course")
kind = c4.selectbox(t("hr.kind"), ["all", "required", "elective"], format_func=lambda k: t(f"hr.kind_{k}"),
                    key="hr_kind")
filters = dash.Filters(unit_id=filters.unit_id, year=filters.year, start=filters.start, end=filters.end,
                       course_id=course_id, required={"all": None, "required": True, "elective": False}[kind])
try:
    board = cached_dashboard(actor, actor_key(actor), filters, version)
except ServiceError as exc:
    show_error(exc)
    st.stop()

# --- where we are: the path from the top, each step a way back up
path_ids = [int(x) for x in scope.units[unit_id].path.strip("/").split("/")] if unit_id else []
with st.container(horizontal=True, key="hr_crumbs"):
    st.button(t("hr.all_in_scope"), key="hr_crumb_top", on_click=go, args=(None,), icon=":material/home:",
              disabled=unit_id is None)
    for i in path_ids:
        if i in labels:
            st.button(scope.units[i].name, key=f"hr_crumb_{i}", on_click=go, args=(i,), disabled=i == unit_id)

# --- KPIs with the change against the previous period
prev = board.filters.previous()
prev_label = str(prev.year) if not prev.is_range else f"{prev.start:%Y-%m-%d}–{prev.end:%Y-%m-%d}"
st.caption(t("hr.compare", previous=prev_label))


def pct(v):
    return "—" if v is None else f"{100 * v:.1f}%"


def num(v, digits=1):
    return "—" if v is None else f"{v:.{digits}f}"


def delta(k, *, percent=False, digits=1) -> dict:
    """st.metric's delta arguments: the change against the previous period; no change is grey, not a green arrow."""
    d = board.kpis[k].delta
    if d is None:
        return {"delta": None}
    text = f"{100 * d:+.1f} pp" if percent else f"{d:+.{digits}f}"
    if float(text.split()[0]) == 0:
        return {"delta": "±0" + (" pp" if percent else ""), "delta_color": "off", "delta_arrow": "off"}
    return {"delta": text}


k = board.kpis
row1 = st.columns(4)
row1[0].metric(t("hr.people"), num(k["learners"].value, 0), **delta("learners", digits=0), help=t("hr.people_help"))
row1[1].metric(t("hr.active"), num(k["active"].value, 0), **delta("active", digits=0), help=t("hr.active_help"))
row1[2].metric(t("hr.avg_hours"), num(k["avg_hours"].value), **delta("avg_hours"))
row1[3].metric(t("hr.rate"), pct(k["target_share"].value), **delta("target_share", percent=True),
               help=t("hr.rate_help"))
row2 = st.columns(4)
row2[0].metric(t("hr.completion"), pct(k["completion"].value), **delta("completion", percent=True),
               help=t("hr.completion_help"))
row2[1].metric(t("hr.exam_participation"), pct(k["exam_participation"].value),
               **delta("exam_participation", percent=True))
row2[2].metric(t("hr.exam_pass_rate"), pct(k["exam_pass_rate"].value), **delta("exam_pass_rate", percent=True))
row2[3].metric(t("hr.exam_avg_score"), num(k["exam_avg_score"].value), **delta("exam_avg_score"),
               help=t("hr.exam_help"))

# --- the unit table: most behind first, ranks among siblings; a row opens the unit
units = board.units
st.subheader(t("hr.by_unit"))
if units.empty:
    st.caption(t("hr.no_subunits"))
else:
    shown = units.copy()
    shown["name"] = [t("hr.direct", unit=u) if own else lbl for u, own, lbl in
                     zip(shown["unit"], shown["own"], shown["label"])]
    st.session_state[f"hr_rows_{unit_id}"] = [None if own else int(u) for u, own in zip(shown["unit_id"], shown["own"])]
    view = pd.DataFrame({t("field.unit"): shown["name"], t("hr.rank"): shown["rank"], t("hr.people"): shown["people"],
                         t("hr.active"): shown["active"], t("hr.avg_hours"): shown["avg_hours"],
                         t("hours.target"): shown["target"], t("hr.reached"): shown["reached"],
                         t("hr.rate_pct"): (shown["target_share"] * 100).round(1),
                         t("hr.completion_pct"): (shown["completion"] * 100).round(1)})
    st.caption(t("hr.table_help"))
    st.dataframe(view, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                 key=f"hr_units_{unit_id}")

    # completion by unit: sorted bars with each unit's target; a click drills down
    bars_df = shown[~shown["own"] & shown["people"].gt(0)].sort_values("avg_hours")
    if not bars_df.empty:
        st.subheader(t("hr.chart_units"))
        st.caption(t("hr.chart_help"))
        order = list(bars_df["name"])
        pick = alt.selection_point(name="pick", fields=["unit_id"], on="click")
        base = alt.Chart(bars_df[["unit_id", "name", "avg_hours", "target", "people", "target_share"]])
        bars = base.mark_bar().encode(
            x=alt.X("avg_hours:Q", title=t("hr.avg_hours")),
            y=alt.Y("name:N", sort=order, title=None, axis=alt.Axis(labelLimit=260, labelOverlap=False)),
            color=alt.condition(alt.datum.avg_hours < alt.datum.target, alt.value("#c0392b"), alt.value("#1f5fa8")),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.55)),
            tooltip=[alt.Tooltip("name:N", title=t("field.unit")), alt.Tooltip("people:Q", title=t("hr.people")),
                     alt.Tooltip("avg_hours:Q", title=t("hr.avg_hours")),
                     alt.Tooltip("target:Q", title=t("hours.target")),
                     alt.Tooltip("target_share:Q", title=t("hr.rate"), format=".1%")]).add_params(pick)
        ticks = base.mark_tick(color="#222", thickness=2, size=16).encode(x="target:Q", y=alt.Y("name:N", sort=order))
        st.altair_chart((bars + ticks).properties(height=max(200, 24 * len(bars_df))), width="stretch",
                        on_select="rerun", key=f"hr_bars_{unit_id}")

left, right = st.columns(2)
with left:
    st.subheader(t("hr.chart_dist"))
    dist = board.distribution.copy()
    dist["met"] = dist["bin"] == dash.DIST_BINS[-1]
    st.altair_chart(alt.Chart(dist).mark_bar().encode(
        x=alt.X("bin:N", sort=dash.DIST_BINS, title=t("hr.dist_x")),
        y=alt.Y("people:Q", title=t("hr.people"), axis=alt.Axis(tickMinStep=1, format="d")),
        color=alt.condition(alt.datum.met, alt.value("#2e8b57"), alt.value("#c0392b")),
        tooltip=[alt.Tooltip("bin:N", title=t("hr.dist_x")), alt.Tooltip("people:Q", title=t("hr.people"))]
    ).properties(height=260), width="stretch")
with right:
    st.subheader(t("hr.chart_trend"))
    if board.trend.empty:
        st.caption(t("hr.no_activity"))
    else:
        trend = board.trend.copy()
        trend["week"] = pd.to_datetime(trend["week"])
        base = alt.Chart(trend).encode(x=alt.X("week:T", title=t("hr.week")))
        st.altair_chart(alt.layer(
            base.mark_area(opacity=0.3, color="#1f5fa8", point=True).encode(y=alt.Y("hours:Q", title=t("hr.hours"))),
            base.mark_line(color="#e67e22", point=True).encode(y=alt.Y("entries:Q", title=t("hr.entries"))),
        ).resolve_scale(y="independent").encode(
            tooltip=[alt.Tooltip("week:T", title=t("hr.week")), alt.Tooltip("hours:Q", title=t("hr.hours")),
                     alt.Tooltip("entries:Q", title=t("hr.entries"))]).properties(height=260), width="stretch")

if not board.heatmap.empty:
    st.subheader(t("hr.chart_heat"))
    heat = board.heatmap.dropna(subset=["rate"]).copy()
    if not heat.empty:
        heat["pct"] = (heat["rate"] * 100).round(1)
        unit_order = list(heat.groupby("label")["rate"].mean().sort_values().index)
        st.altair_chart(alt.Chart(heat).mark_rect().encode(
            x=alt.X("course:N", title=None, axis=alt.Axis(labelAngle=-30, labelLimit=160)),
            y=alt.Y("label:N", sort=unit_order, title=None, axis=alt.Axis(labelLimit=240)),
            color=alt.Color("rate:Q", title=t("hr.completion"), scale=alt.Scale(domain=[0, 1], scheme="redyellowgreen")),
            tooltip=[alt.Tooltip("label:N", title=t("field.unit")), alt.Tooltip("course:N", title=t("hr.course")),
                     alt.Tooltip("done:Q", title=t("hr.done")), alt.Tooltip("people:Q", title=t("hr.people")),
                     alt.Tooltip("pct:Q", title=t("hr.completion_pct"))]
        ).properties(height=max(160, 26 * heat["label"].nunique())), width="stretch")

# pass rate by exam: lowest first; the same title twice is told apart by its number
exams = board.exams.dropna(subset=["pass_rate"]).copy()
if not exams.empty:
    st.subheader(t("hr.chart_exams"))
    st.caption(t("hr.chart_exams_help"))
    twice = exams["exam"].duplicated(keep=False)
    exams["name"] = [f"{e} #{i}" if d and i is not None and not pd.isna(i) else e
                     for e, i, d in zip(exams["exam"], exams["exam_id"], twice)]
    exams["pct"] = (exams["pass_rate"] * 100).round(1)
    st.altair_chart(alt.Chart(exams).mark_bar().encode(
        x=alt.X("pass_rate:Q", title=t("hr.exam_pass_rate"), scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        y=alt.Y("name:N", sort=list(exams["name"]), title=None, axis=alt.Axis(labelLimit=260, labelOverlap=False)),
        color=alt.condition(alt.datum.pass_rate < 0.6, alt.value("#c0392b"), alt.value("#1f5fa8")),
        tooltip=[alt.Tooltip("name:N", title=t("hr.exam")), alt.Tooltip("attempts:Q", title=t("hr.attempts")),
                 alt.Tooltip("people:Q", title=t("hr.people")), alt.Tooltip("passed:Q", title=t("hr.passed")),
                 alt.Tooltip("pct:Q", title=t("hr.exam_pass_rate")),
                 alt.Tooltip("avg_score:Q", title=t("hr.exam_avg_score"))]
    ).properties(height=max(120, 26 * len(exams))), width="stretch")

# --- people of the unit shown (the year of the period), largest gap first; a row opens the record
st.subheader(t("hr.people_title") + (f" · {labels[unit_id]}" if unit_id else ""))
p1, p2 = st.columns([1, 1])
below = p1.checkbox(t("hr.below_only"), value=True, key="hr_people_below")
total = fetch(lambda s: reports.people_count(s, actor, year=year, unit_id=unit_id, below_target_only=below))
pages = max(1, -(-total // PAGE_SIZE))
page = p2.number_input(t("hr.page"), 1, pages, 1, key=f"hr_people_page_{year}_{unit_id}_{below}")
people = fetch(lambda s: reports.people(s, actor, year=year, unit_id=unit_id, below_target_only=below,
                                        limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE))
st.caption(t("hr.people_count", n=total) + " · " + t("hr.people_page", page=page, pages=pages,
                                                      first=(page - 1) * PAGE_SIZE + 1 if total else 0,
                                                      last=min(total, page * PAGE_SIZE)))
columns = {"username": t("field.username"), "name": t("field.name"), "unit": t("field.unit"),
           "hours": t("hr.hours"), "target": t("hours.target"), "gap": t("hr.gap"),
           "required_done": t("hr.required_done")}


def _open_row(key: str, ids: list[int]) -> None:
    """A row of the people table was clicked: open that person (once, not on every later rerun)."""
    rows = (st.session_state.get(key) or {}).get("selection", {}).get("rows") or []
    if rows and rows[0] < len(ids):
        st.session_state["hr_person"] = ids[rows[0]]


def _open_picked(key: str) -> None:
    if st.session_state.get(key) is not None:
        st.session_state["hr_person"] = int(st.session_state[key])


if not people.empty:
    ids = [int(i) for i in people["user_id"]]
    table_key = f"hr_people_{year}_{unit_id}_{below}_{page}"
    st.dataframe(people[list(columns)].rename(columns=columns), hide_index=True, width="stretch",
                 on_select=lambda: _open_row(table_key, ids), selection_mode="single-row", key=table_key)
    # the same by keyboard: pick a person of this page to open their record
    names = {int(i): f"{n}（{u}） · {lbl}" for i, n, u, lbl in
             zip(people["user_id"], people["name"], people["username"], people["unit"])}
    pick_key = f"hr_person_pick_{year}_{unit_id}_{below}_{page}"
    st.selectbox(t("hr.open_person"), [None, *ids], key=pick_key, on_change=_open_picked, args=(pick_key,),
                 format_func=lambda i: t("hr.pick_person") if i is None else names[i])

person_id = st.session_state.get("hr_person")
if person_id is not None:
    rec = fetch(lambda s: dash.person_record(s, actor, user_id=person_id, year=year))
    with st.container(border=True, key="hr_person_record"):
        st.subheader(t("hr.person_title", name=rec.name, username=rec.username))
        st.text(t("hr.person_path", path=rec.path))
        m1, m2, m3 = st.columns(3)
        m1.metric(t("hours.this_year", year=rec.year), fmt_hours(rec.total))
        m2.metric(t("hours.target"), fmt_hours(rec.target))
        m3.metric(t("hr.required_done"), int(rec.courses[rec.courses["required"] & rec.courses["completed_at"].notna()]
                                             .shape[0]) if not rec.courses.empty else 0)
        if not rec.by_source.empty:
            st.dataframe(rec.by_source.rename(columns={"source_type": t("hr.source"), "hours": t("hr.hours")}),
                         hide_index=True)
        if not rec.courses.empty:
            cv = rec.courses.assign(completed_at=rec.courses["completed_at"].map(
                lambda v: local_time(v) if v is not None and not pd.isna(v) else "—"))
            st.dataframe(cv.drop(columns=["course_id"]).rename(columns={
                "course": t("hr.course"), "required": t("hr.kind_required"), "completed_at": t("hr.completed_at"),
                "hours": t("hr.hours")}), hide_index=True, width="stretch")
        r1, r2, r3 = st.columns([1, 1, 1])
        record = _record_service()
        if record is not None:      # the training record (培训档案) of the year shown, built when clicked
            def _record(build):
                def make() -> bytes:
                    with db() as s:
                        return build(s, load_actor(s, actor.id), user_id=person_id, year=year)
                return make
            stem = "培训档案-" + (UNSAFE_FILE_CHARS.sub("_", rec.name)[:40] or rec.username) + f"-{year}"
            r1.download_button(t("hr.record_pdf"), _record(record.record_pdf), f"{stem}.pdf", mime="application/pdf",
                               icon=":material/picture_as_pdf:", on_click="ignore", key="hr_record_pdf")
            r2.download_button(t("hr.record_xlsx"), _record(record.record_xlsx), f"{stem}.xlsx",
                               mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                               icon=":material/table_view:", on_click="ignore", key="hr_record_xlsx")
        if r3.button(t("hr.person_close"), key="hr_person_close", icon=":material/arrow_upward:"):
            st.session_state.pop("hr_person", None)
            st.rerun()

# --- exports, built only when clicked
with db() as s:
    scope_list = reports.scope_names(s, actor)
unit_name = labels[unit_id] if unit_id is not None else t("hr.all_in_scope")
scope_name = "、".join(scope_list) if scope_list else t("hr.scope_all")
period_label = str(filters.year) if not filters.is_range else f"{filters.start:%Y-%m-%d}–{filters.end:%Y-%m-%d}"
filter_rows = [(t("hr.scope"), scope_name), (t("field.unit"), unit_name), (t("hr.period"), period_label),
               (t("hr.course"), courses.get(course_id, t("hr.all_courses"))), (t("hr.kind"), t(f"hr.kind_{kind}")),
               (t("hr.people_title"), t("hr.below_only") if below else t("hr.everyone"))]
unit_headers = {"label": t("field.unit"), "path": t("hr.path"), "rank": t("hr.rank"), "people": t("hr.people"),
                "active": t("hr.active"), "avg_hours": t("hr.avg_hours"), "target": t("hours.target"),
                "reached": t("hr.reached"), "target_share": t("hr.rate"), "completion": t("hr.completion")}
file_unit = re.sub(r'[\\/:*?"<>|\s]+', "_", unit_name if unit_id is not None else scope_name)[:60]


def _everyone():
    with db() as s:   # the grants as they are now, not as they were when the page was drawn
        return reports.people(s, load_actor(s, actor.id), year=year, unit_id=unit_id, below_target_only=below)


exam_headers = {"exam": t("hr.exam"), "attempts": t("hr.attempts"), "people": t("hr.people"),
                "passed": t("hr.passed"), "pass_rate": t("hr.exam_pass_rate") + " %",
                "avg_score": t("hr.exam_avg_score")}
sheet_names = {"filters": t("hr.sheet_filters"), "units": t("hr.sheet_units"), "people": t("hr.sheet_people"),
               "heat": t("hr.sheet_heat"), "dist": t("hr.sheet_dist"), "trend": t("hr.sheet_trend"),
               "exams": t("hr.sheet_exams")}


def export_xlsx() -> bytes:
    stamp = datetime.now(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    return dash.dashboard_xlsx(board, _everyone(), filter_rows=filter_rows + [(t("hr.exported_at"), stamp)],
                               unit_headers=unit_headers, people_headers=columns, exam_headers=exam_headers,
                               sheet_names=sheet_names, title=t("hr.export_title", unit=unit_name, year=period_label))


def _pct_of(df: pd.DataFrame, column: str) -> pd.DataFrame:
    return df.assign(**{column: (df[column] * 100).round(1)}) if not df.empty else df


e1, e2, e3 = st.columns(3)
e1.download_button(t("hr.export"), export_xlsx, f"{t('hr.export_file')}-{file_unit}-{period_label}.xlsx",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                   icon=":material/download:", on_click="ignore", key="hr_export", help=t("hr.export_help", n=total))
e2.download_button(t("hr.export_units_csv"), lambda: reports.table_csv(units, unit_headers),
                   f"{t('hr.export_file')}-{t('hr.sheet_units')}-{file_unit}-{period_label}.csv", mime="text/csv",
                   icon=":material/table:", on_click="ignore", key="hr_export_units_csv")
e3.download_button(t("hr.export_people_csv"), lambda: reports.table_csv(_everyone(), columns),
                   f"{t('hr.export_file')}-{t('hr.sheet_people')}-{file_unit}-{period_label}.csv", mime="text/csv",
                   icon=":material/group:", on_click="ignore", key="hr_export_people_csv")
# the other tables as CSV too (the same columns as their sheets)
more = {"heat": (lambda: _pct_of(board.heatmap, "rate"),
                 {"label": t("field.unit"), "course": t("hr.course"), "done": t("hr.done"), "people": t("hr.people"),
                  "rate": t("hr.completion_pct")}),
        "dist": (lambda: board.distribution, {"bin": t("hr.dist_x"), "people": t("hr.people")}),
        "trend": (lambda: board.trend, {"week": t("hr.week"), "hours": t("hr.hours"), "entries": t("hr.entries")}),
        "exams": (lambda: _pct_of(board.exams, "pass_rate"), exam_headers)}
for col_, (key, (frame, headers)) in zip(st.columns(len(more)), more.items()):
    col_.download_button(t("hr.export_table_csv", table=sheet_names[key]),
                         lambda frame=frame, headers=headers: reports.table_csv(frame(), headers),
                         f"{t('hr.export_file')}-{sheet_names[key]}-{file_unit}-{period_label}.csv", mime="text/csv",
                         icon=":material/table:", on_click="ignore", key=f"hr_export_{key}_csv")
