"""Offline training (线下培训): the classes of the HR scope, a new class, and one class's attendance —
picked among the people in its unit or imported from a list (validated whole first), and removed."""
import re

import pandas as pd
import streamlit as st

from services import offline
from services.errors import ServiceError
from ui.fmt import hours, local_time, md_text
from ui.guard import act, fetch, guard, show_error
from ui.i18n import t
from ui.session import db

actor = guard("hr")
st.title(t("offline.title"))
st.caption(t("offline.intro"))
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PICK_LIMIT = 50

if flash := st.session_state.pop("hr_offline_flash", None):
    st.success(flash)
if (goto := st.session_state.pop("hr_offline_goto", None)) is not None:
    st.session_state["hr_offline_year"], st.session_state["hr_offline_class"] = goto


def _built(build, **kw):
    """A download's bytes, built only when its button is clicked (in a unit of work of its own)."""
    def make() -> bytes:
        with db() as s:
            return build(s, actor, **kw)
    return make


def _safe(name: str) -> str:
    return re.sub(r'[\\/:*?"<>|\s\x00-\x1f]+', "_", name)[:40]


def _dates(c: offline.ClassPublic) -> str:
    start, end = c.start_date.isoformat(), c.end_date.isoformat()
    return start if start == end else f"{start} – {end}"


years = fetch(lambda s: offline.class_years(s, actor))
if st.session_state.get("hr_offline_year") not in years:
    st.session_state.pop("hr_offline_year", None)
year = st.columns([1, 4])[0].selectbox(t("offline.year"), years, key="hr_offline_year")
classes = fetch(lambda s: offline.list_classes(s, actor, year=year))
units = fetch(lambda s: offline.units_for_classes(s, actor))
unit_names = dict(units)


def class_form(key: str, current: offline.ClassPublic | None) -> offline.ClassIn | None:
    """The fields of a class; returns what was submitted (None until then)."""
    with st.form(key):
        name = st.text_input(t("offline.field.name"), value=current.name if current else "", max_chars=offline.NAME_MAX,
                             key=f"{key}_name")
        organiser = st.text_input(t("offline.field.organiser"), value=current.organiser if current else "",
                                  max_chars=offline.ORGANISER_MAX, key=f"{key}_organiser")
        ids = [u for u, _ in units]
        if current and current.unit_id not in ids:
            ids.insert(0, current.unit_id)
        unit = st.selectbox(t("offline.field.unit"), ids, format_func=lambda u: unit_names.get(u, "—"),
                            index=ids.index(current.unit_id) if current else 0, help=t("offline.field.unit.help"),
                            key=f"{key}_unit")
        c1, c2, c3 = st.columns(3)
        today = offline.today()
        start = c1.date_input(t("offline.field.start"), value=current.start_date if current else today,
                              key=f"{key}_start")
        end = c2.date_input(t("offline.field.end"), value=current.end_date if current else today, key=f"{key}_end")
        credit = c3.number_input(t("offline.field.hours"), min_value=0.0, max_value=offline.MAX_HOURS,
                                 value=float(current.hours) if current else 4.0, step=0.5,
                                 help=t("offline.field.hours.help"), key=f"{key}_hours")
        label = t("offline.save") if current else t("offline.create")
        if not st.form_submit_button(label, type="primary"):
            return None
    return offline.ClassIn(name=name, organiser=organiser, start_date=start, end_date=end, hours=credit,
                           unit_id=unit)


with st.expander(t("offline.new"), icon=":material/add:", expanded=not classes):
    if not units:
        st.info(t("offline.no_units"))
    elif (data := class_form("hr_offline_new", None)) is not None:
        try:
            with db() as s:
                made = offline.create_class(s, actor, class_in=data)
            st.session_state["hr_offline_flash"] = t("offline.created", name=md_text(made.name))
            st.session_state["hr_offline_goto"] = (made.year, made.id)
            st.rerun()
        except ServiceError as exc:
            show_error(exc)

st.subheader(t("offline.classes"))
if not classes:
    st.info(t("offline.none"))
    st.stop()
st.dataframe(pd.DataFrame([{t("offline.col.name"): c.name, t("offline.col.organiser"): c.organiser,
                            t("offline.col.dates"): _dates(c), t("offline.col.hours"): c.hours,
                            t("offline.col.unit"): c.unit_name, t("offline.col.attendees"): c.attendees}
                           for c in classes]), hide_index=True, width="stretch")
e1, e2, _ = st.columns([1, 1, 2])
e1.download_button(t("offline.export_xlsx"), _built(offline.classes_xlsx, year=year), f"线下培训班次-{year}.xlsx",
                   mime=XLSX, icon=":material/download:", on_click="ignore", key="hr_offline_classes_xlsx")
e2.download_button(t("offline.export_csv"), _built(offline.classes_csv, year=year), f"线下培训班次-{year}.csv",
                   mime="text/csv", icon=":material/download:", on_click="ignore", key="hr_offline_classes_csv")

by_id = {c.id: c for c in classes}
if st.session_state.get("hr_offline_class") not in by_id:
    st.session_state["hr_offline_class"] = classes[0].id
class_id = st.selectbox(t("offline.pick_class"), list(by_id), key="hr_offline_class",
                        format_func=lambda i: f"{by_id[i].name}（{_dates(by_id[i])}）")
cls = fetch(lambda s: offline.get_class(s, actor, class_id=class_id))

st.subheader(md_text(cls.name))           # names typed by people: shown as text, never as Markdown
st.caption(t("offline.organised_by", organiser=md_text(cls.organiser), unit=md_text(cls.unit_name)))
c1, c2, c3 = st.columns(3)
c1.metric(t("offline.col.dates"), _dates(cls))
c2.metric(t("offline.col.hours"), hours(cls.hours))
c3.metric(t("offline.col.attendees"), cls.attendees)

with st.expander(t("offline.edit"), icon=":material/edit:"):
    if (data := class_form(f"hr_offline_edit_{cls.id}", cls)) is not None:
        act(lambda s: offline.update_class(s, actor, class_id=cls.id, class_in=data),
            flash_key="hr_offline_flash", flash=t("offline.saved"))

started = cls.start_date <= offline.today()
st.markdown(f"#### {t('offline.attendance')}")
if not started:
    st.info(t("error.offline_not_started", start=cls.start_date.isoformat()))
else:
    # stateful tabs: the one in use stays open when an upload or a pick reruns the page
    pick_tab, import_tab = st.tabs([t("offline.tab.pick"), t("offline.tab.import")], key="hr_offline_mode",
                                   on_change="rerun")
    with pick_tab:
        search = st.text_input(t("offline.search"), key=f"hr_offline_search_{cls.id}", max_chars=64)
        options = fetch(lambda s: offline.candidates(s, actor, class_id=cls.id, search=search, limit=PICK_LIMIT))
        labels = {o.user_id: o.label for o in options}
        picked = st.multiselect(t("offline.pick"), list(labels), format_func=lambda u: labels.get(u, f"#{u}"),
                                help=t("offline.pick.help", n=PICK_LIMIT), key=f"hr_offline_pick_{cls.id}")
        if st.button(t("offline.add"), type="primary", disabled=not picked, key=f"hr_offline_add_{cls.id}"):
            try:
                with db() as s:
                    done = offline.add_attendees(s, actor, class_id=cls.id, user_ids=picked)
                st.session_state["hr_offline_att_flash"] = t("offline.added", added=done.added, already=done.already)
                del st.session_state[f"hr_offline_pick_{cls.id}"]
                st.rerun()
            except ServiceError as exc:
                show_error(exc)
    with import_tab:
        st.caption(t("offline.import.intro"))
        d1, d2 = st.columns(2)
        d1.download_button(t("offline.template_xlsx"), offline.template_xlsx, "签到名单模板.xlsx", mime=XLSX,
                           icon=":material/download:", on_click="ignore", key="hr_offline_template_xlsx")
        d2.download_button(t("offline.template_csv"), offline.template_csv, "签到名单模板.csv", mime="text/csv",
                           icon=":material/download:", on_click="ignore", key="hr_offline_template_csv")
        # a new key after each import: the browser then shows an empty uploader (deleting the state does not)
        upload_key = f"hr_offline_file_{cls.id}_{st.session_state.get('hr_offline_uploads', 0)}"
        upload = st.file_uploader(t("offline.file"), type=["xlsx", "csv"], key=upload_key)
        if upload is not None:
            plan = None
            try:
                with db() as s:
                    plan = offline.plan_attendance_import(s, actor, class_id=cls.id, filename=upload.name,
                                                          data=upload.getvalue())
            except ServiceError as exc:
                show_error(exc)
            if plan is not None and plan.errors:
                st.error(t("offline.import.errors", n=len(plan.errors), rows=len({e.row for e in plan.errors})))
                st.dataframe(pd.DataFrame([{t("import.col.row"): e.row, t("import.col.field"): e.field,
                                            t("import.col.value"): e.value, t("import.col.problem"): t(e.code, **e.params)}
                                           for e in plan.errors]), hide_index=True, width="stretch")
            elif plan is not None:
                st.success(t("offline.import.valid", new=len(plan.rows), already=len(plan.already)))
                shown = [{t("import.col.row"): r["row"], t("field.username"): r["username"], t("field.name"): r["name"],
                          t("offline.col.status"): t("offline.status.new")} for r in plan.rows[:200]]
                shown += [{t("import.col.row"): r["row"], t("field.username"): r["username"], t("field.name"): r["name"],
                           t("offline.col.status"): t("offline.status.already")} for r in plan.already[:200]]
                st.dataframe(pd.DataFrame(shown), hide_index=True, width="stretch")
                if not plan.rows:
                    st.info(t("offline.import.nothing_new"))
                elif st.button(t("offline.import.confirm", n=len(plan.rows)), type="primary",
                               key=f"hr_offline_import_{cls.id}"):
                    try:
                        with db() as s:
                            done = offline.apply_attendance_import(s, actor, plan=plan)
                        st.session_state["hr_offline_att_flash"] = t("offline.added", added=done.added,
                                                                     already=done.already)
                        st.session_state["hr_offline_uploads"] = st.session_state.get("hr_offline_uploads", 0) + 1
                        st.rerun()
                    except ServiceError as exc:
                        show_error(exc)

people = fetch(lambda s: offline.attendees(s, actor, class_id=cls.id))
st.markdown(f"#### {t('offline.attendees')}")
if flash := st.session_state.pop("hr_offline_att_flash", None):     # where the HR officer is working
    st.success(flash)
if not people:
    st.info(t("offline.attendees.none"))
    st.stop()
st.caption(t("offline.attendees.count", n=len(people), hours=hours(cls.hours)))
st.dataframe(pd.DataFrame([{t("field.username"): p.username, t("field.name"): p.name,
                            t("offline.col.employee_no"): p.employee_no or "", t("field.unit"): p.unit_name,
                            t("offline.col.added_at"): local_time(p.added_at)} for p in people]),
             hide_index=True, width="stretch")
f1, f2, _ = st.columns([1, 1, 2])
f1.download_button(t("offline.export_xlsx"), _built(offline.attendees_xlsx, class_id=cls.id),
                   f"线下培训-{_safe(cls.name)}-参加人员.xlsx", mime=XLSX, icon=":material/download:",
                   on_click="ignore", key=f"hr_offline_people_xlsx_{cls.id}")
f2.download_button(t("offline.export_csv"), _built(offline.attendees_csv, class_id=cls.id),
                   f"线下培训-{_safe(cls.name)}-参加人员.csv", mime="text/csv", icon=":material/download:",
                   on_click="ignore", key=f"hr_offline_people_csv_{cls.id}")
with st.expander(t("offline.remove"), icon=":material/person_remove:"):
    names = {p.user_id: f"{p.name}（{p.username}）" for p in people}
    who = st.selectbox(t("offline.remove.pick"), list(names), format_func=names.get, index=None,
                       key=f"hr_offline_remove_{cls.id}")
    sure = st.checkbox(t("offline.remove.confirm"), key=f"hr_offline_remove_sure_{cls.id}")
    if st.button(t("offline.remove"), disabled=who is None or not sure, key=f"hr_offline_remove_go_{cls.id}"):
        act(lambda s: offline.remove_attendee(s, actor, class_id=cls.id, user_id=who),
            flash_key="hr_offline_att_flash", flash=t("offline.removed", name=md_text(names.get(who, ""))))
