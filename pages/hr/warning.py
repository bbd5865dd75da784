"""HR early warning: who will miss the annual target at their current pace, who has required courses
open, which units are worst; a one-click reminder puts a notice on those learners' home pages."""
import re
from datetime import datetime

import pandas as pd
import streamlit as st

from models.db import LOCAL_TZ, local_year
from services import notices, reports
from services.analytics import dashboard as dash
from services.analytics import forecast
from services.permissions import load_actor
from ui.fmt import local_time
from ui.guard import act, fetch, guard
from ui.i18n import t
from ui.session import db

PAGE_SIZE = 200

actor = guard("hr")
st.title(t("warn.title"))
st.caption(t("warn.help", days=forecast.MIN_DAYS))
if st.session_state.get("warn_flash"):
    st.success(st.session_state.pop("warn_flash"))

with db() as s:
    scope = dash.resolve_scope(s, actor)
labels = {i: reports.unit_path_label(scope.units, i) for i in scope.ids}
if not scope.ids:
    st.info(t("hr.none"))
    st.stop()
c1, c2, c3 = st.columns([3, 1, 1])
unit_id = c1.selectbox(t("field.unit"), [None, *sorted(labels, key=lambda i: scope.units[i].path)], key="warn_unit",
                       format_func=lambda u: labels.get(u, t("hr.all_in_scope")))
this_year = local_year()
year = c2.selectbox(t("hours.year"), [this_year, this_year - 1], key="warn_year")
page_key = f"warn_page_{year}_{unit_id}"
page = int(st.session_state.get(page_key, 1))
w = fetch(lambda s: forecast.early_warning(s, actor, unit_id=unit_id, year=year, limit=PAGE_SIZE,
                                           offset=(page - 1) * PAGE_SIZE))
pages = max(1, -(-w.total // PAGE_SIZE))
if page > pages:                     # fewer pages than the one chosen (people caught up): back to page 1
    st.session_state.pop(page_key, None)
    st.rerun()
page = c3.number_input(t("hr.page"), 1, pages, page, key=page_key)
if not w.forecast:
    st.info(t("warn.too_early", days=forecast.MIN_DAYS))
m1, m2, m3 = st.columns(3)
m1.metric(t("warn.on_list"), w.total)
m2.metric(t("warn.elapsed"), f"{100 * w.share:.0f}%")
m3.metric(t("warn.required_total"), w.required_total)

st.subheader(t("warn.units"))
if w.units.empty:
    st.caption(t("hr.no_subunits"))
else:
    st.dataframe(pd.DataFrame({
        t("field.unit"): w.units["label"], t("hr.people"): w.units["people"], t("warn.at_risk"): w.units["at_risk"],
        t("warn.share_at_risk"): (w.units["share_at_risk"] * 100).round(1), t("warn.projected"): w.units["projected_avg"],
        t("hours.target"): w.units["target"]}), hide_index=True, width="stretch")

st.subheader(t("warn.people"))
people_cols = {"username": t("field.username"), "name": t("field.name"), "unit": t("field.unit"),
               "hours": t("hr.hours"), "projected": t("warn.projected"), "target": t("hours.target"),
               "shortfall": t("warn.shortfall"), "required_missing": t("warn.required_missing")}
st.caption(t("hr.people_count", n=w.total) + " · " + t("hr.people_page", page=page, pages=pages,
                                                        first=(page - 1) * PAGE_SIZE + 1 if w.total else 0,
                                                        last=min(w.total, page * PAGE_SIZE)))
if w.people.empty:
    st.success(t("warn.nobody"))
    st.stop()
st.dataframe(w.people[list(people_cols)].rename(columns=people_cols), hide_index=True, width="stretch")

# one click: a notice to everyone on the list (all pages), naming the sender
with st.form("warn_remind", border=True):
    st.markdown(f"**{t('warn.remind_title', n=w.total)}**")
    text = st.text_area(t("warn.remind_text"), t("warn.remind_default", year=year), max_chars=notices.TEXT_MAX,
                        key="warn_text")
    sent = st.form_submit_button(t("warn.remind", n=w.total), type="primary", icon=":material/notifications:")
if sent:
    def _send(s):
        ids = forecast.warning_user_ids(s, load_actor(s, actor.id), unit_id=unit_id, year=year)
        notices.send(s, load_actor(s, actor.id), user_ids=ids, text=text)
    act(_send, flash_key="warn_flash", flash=t("warn.remind_done", n=w.total))

unit_name = labels[unit_id] if unit_id is not None else t("hr.all_in_scope")
file_unit = re.sub(r'[\\/:*?"<>|\s]+', "_", unit_name)[:60]


def _everyone() -> pd.DataFrame:
    with db() as s:
        return forecast.early_warning(s, load_actor(s, actor.id), unit_id=unit_id, year=year, limit=None).people


def export_xlsx() -> bytes:
    from services import spreadsheets
    stamp = datetime.now(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    df = _everyone()
    cols = [spreadsheets.Column(h, 30 if c == "unit" else 12, "0.00" if c in ("hours", "projected", "target", "shortfall")
                                else None) for c, h in people_cols.items()]
    filters = [(t("field.unit"), unit_name), (t("hours.year"), str(year)), (t("warn.elapsed"), f"{100 * w.share:.0f}%"),
               (t("hr.exported_at"), stamp)]
    title = t("warn.export_title", unit=unit_name, year=year)
    return spreadsheets.workbook_xlsx(
        spreadsheets.Sheet(t("hr.sheet_filters"), [spreadsheets.Column("", 18), spreadsheets.Column("", 50)], filters,
                           title_rows=[title], freeze_header=False),
        spreadsheets.Sheet(t("warn.people"), cols, df[list(people_cols)].itertuples(index=False, name=None),
                           title_rows=[title], auto_filter=True))


e1, e2 = st.columns(2)
e1.download_button(t("hr.export"), export_xlsx, f"{t('warn.export_file')}-{file_unit}-{year}.xlsx",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                   icon=":material/download:", on_click="ignore", key="warn_export")
e2.download_button(t("hr.export_people_csv"), lambda: reports.table_csv(_everyone(), people_cols),
                   f"{t('warn.export_file')}-{file_unit}-{year}.csv", mime="text/csv", icon=":material/table:",
                   on_click="ignore", key="warn_export_csv")

sent_rows = fetch(lambda s: notices.sent_by_me(s, actor, limit=10))
if sent_rows:
    st.subheader(t("warn.sent_title"))
    for n, total, read in sent_rows:
        st.text(t("warn.sent_row", time=local_time(n.created_at), n=total, read=read) + "\n" + n.text)
