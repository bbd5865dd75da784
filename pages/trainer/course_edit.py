"""One course: its fields and audience, lessons (Markdown with a preview, honest minutes, self-checks,
PDF and video attachments), the course quiz with a live "the bank can satisfy this" check, and export."""
import pandas as pd
import streamlit as st

from services import courses
from ui.fmt import md_text
from ui.guard import act, fetch, guard
from ui.i18n import t
from ui.session import db

actor = guard("trainer")
course_id = st.query_params.get("course")
if not course_id:
    st.title(t("courses.title"))
    st.info(t("courses.pick_first"))
    if st.button(t("courses.back"), key="ce_back_empty"):
        st.switch_page("pages/trainer/courses.py")
    st.stop()
c = fetch(lambda s: courses.course_for_edit(s, actor, course_id=course_id))
st.title(c.title)
if msg := st.session_state.pop("ce_flash", None):
    st.success(msg)
if st.button(t("courses.back"), icon=":material/arrow_back:", key="ce_back"):
    st.switch_page("pages/trainer/courses.py")
if c.from_package:
    st.caption(t("courses.from_package"))

# a keyed control rather than st.tabs: the chosen section survives the reruns its own buttons cause
section = st.segmented_control(t("courses.section"), ["course", "lessons", "quiz", "export"], key=f"ce_section_{course_id}",
                               default="course", format_func=lambda k: t(f"courses.tab.{k}"),
                               label_visibility="collapsed") or "course"
if section == "course":
    choices, everyone = fetch(lambda s: courses.audience_choices(s, actor))
    labels = dict(choices)
    with st.form(f"ce_course_{course_id}"):
        title = st.text_input(t("courses.col.title"), value=c.title)
        title_en = st.text_input(t("courses.title_en"), value=c.title_en or "")
        category = st.text_input(t("courses.col.category"), value=c.category)
        required = st.toggle(t("course.required"), value=c.required)
        summary = st.text_area(t("courses.summary"), value=c.summary)
        objectives = st.text_area(t("courses.objectives"), value="\n".join(c.objectives), help=t("courses.objectives_help"))
        audience = st.multiselect(t("courses.audience"), list(labels), default=[u for u in c.audience if u in labels],
                                  format_func=labels.get, help=t("courses.audience_help" if everyone else "courses.audience_scoped"))
        active = st.toggle(t("courses.active"), value=c.active)
        save = st.form_submit_button(t("courses.save"), type="primary")
    if save:
        act(lambda s: courses.update_course(s, actor, course_id=course_id, course_in=courses.CourseIn(
            title, category, required, summary, objectives.splitlines(), audience, title_en, active)),
            flash_key="ce_flash", flash=t("courses.saved"))

elif section == "lessons":
    active_lessons = [ls for ls in c.lessons if ls.active]
    retired = [ls for ls in c.lessons if not ls.active]
    if active_lessons:
        st.dataframe(pd.DataFrame([{"position": ls.position, "title": ls.title, "minutes": ls.minutes, "estimate": ls.estimate,
                                    "checks": len(ls.checks), "files": len(ls.files)} for ls in active_lessons])
                     .rename(columns=lambda k: t(f"courses.lcol.{k}")), hide_index=True, width="stretch")
    ids = ["__new__"] + [ls.id for ls in active_lessons] + [ls.id for ls in retired]
    by_id = {ls.id: ls for ls in c.lessons}
    pick = st.selectbox(t("courses.lesson"), ids, key=f"ce_lesson_{course_id}",
                        format_func=lambda i: t("courses.lesson_new") if i == "__new__" else
                        f"{by_id[i].position}. {by_id[i].title}" + ("" if by_id[i].active else f" ({t('bank.status.retired')})"))
    current = by_id.get(pick)
    body0 = fetch(lambda s: courses.lesson_body(s, actor, lesson_id=pick).body_md) if current else "# \n\n## 小结\n"
    K = f"ce_{pick}"
    ltitle = st.text_input(t("courses.lesson_title"), value=current.title if current else "", key=f"{K}_title")
    edit, preview = st.columns(2)
    body = edit.text_area(t("courses.lesson_body"), value=body0, height=420, key=f"{K}_body", help=t("courses.lesson_body_help"))
    with preview, st.container(border=True, height=450):
        st.markdown(body)            # trainers' own Markdown; Streamlit never renders raw HTML
    checks = st.text_input(t("courses.checks"), value=", ".join(current.checks) if current else "", key=f"{K}_checks",
                           help=t("courses.checks_help"))
    check_ids = [x.strip() for x in checks.replace("，", ",").split(",") if x.strip()]
    est, cap = courses.max_minutes(body, len(check_ids), current.media_minutes if current else 0)
    minutes = st.number_input(t("courses.minutes"), 1, max(cap, 1), min(max(round(est), 1), cap) if not current else
                              min(max(current.minutes, 1), cap), key=f"{K}_minutes",
                              help=t("courses.minutes_help", estimate=f"{est:g}", cap=cap))
    st.caption(t("courses.estimate_line", estimate=f"{est:g}", cap=cap))
    b1, b2, b3, b4 = st.columns(4)
    if b1.button(t("courses.lesson_save"), type="primary", key=f"{K}_save"):
        act(lambda s: courses.save_lesson(s, actor, course_id=course_id, lesson_id=current.id if current else None,
                                          title=ltitle, body_md=body, minutes=int(minutes), checks=check_ids),
            flash_key="ce_flash", flash=t("courses.lesson_saved"))
    if current and current.active:
        if b2.button(t("courses.up"), icon=":material/arrow_upward:", key=f"{K}_up"):
            act(lambda s: courses.move_lesson(s, actor, lesson_id=current.id, delta=-1), flash_key="ce_flash", flash=t("courses.moved"))
        if b3.button(t("courses.down"), icon=":material/arrow_downward:", key=f"{K}_down"):
            act(lambda s: courses.move_lesson(s, actor, lesson_id=current.id, delta=1), flash_key="ce_flash", flash=t("courses.moved"))
        if b4.button(t("courses.retire_lesson"), icon=":material/archive:", key=f"{K}_retire", help=t("courses.retire_lesson_help")):
            act(lambda s: courses.set_lesson_active(s, actor, lesson_id=current.id, active=False), flash_key="ce_flash",
                flash=t("courses.lesson_retired"))
    elif current and b2.button(t("bank.restore"), key=f"{K}_restore"):
        act(lambda s: courses.set_lesson_active(s, actor, lesson_id=current.id, active=True), flash_key="ce_flash",
            flash=t("courses.lesson_restored"))
    if current:
        st.markdown("**" + t("courses.files") + "**")
        for f in current.files:
            f1, f2 = st.columns([4, 1])
            f1.text(f"{f['name']} · {t('courses.kind.' + f['kind'])} · {f['size'] / 1024 / 1024:.1f} MB"
                    + (f" · {f['media_minutes']:g} {t('courses.minutes_unit')}" if f["media_minutes"] else ""))
            if f2.button(t("courses.remove_file"), key=f"{K}_rm_{f['id']}"):
                act(lambda s, fid=f["id"]: courses.remove_file(s, actor, file_id=fid), flash_key="ce_flash", flash=t("courses.file_removed"))
        up = st.file_uploader(t("courses.attach"), type=["pdf", "mp4", "webm"], key=f"{K}_upload", help=t("courses.attach_help"))
        vmin = st.number_input(t("courses.video_minutes"), 0.0, 240.0, 0.0, step=1.0, key=f"{K}_vmin", help=t("courses.video_minutes_help"))
        if up is not None and st.button(t("courses.attach_do"), key=f"{K}_attach"):
            act(lambda s: courses.attach_file(s, actor, lesson_id=current.id, name=up.name, data=up.getvalue(),
                                              media_minutes=vmin or None), flash_key="ce_flash", flash=t("courses.attached", name=md_text(up.name)))

elif section == "quiz":
    q = c.quiz or {"title": f"{c.title} 课程测验", "pass_percent": 60, "draw": [{"type": "single_choice", "count": 4}]}
    qtitle = st.text_input(t("courses.quiz_title"), value=q.get("title", ""), key=f"ce_quiz_title_{course_id}")
    qpass = st.number_input(t("courses.pass_percent"), 1, 100, int(q.get("pass_percent", 60)), key=f"ce_quiz_pass_{course_id}")
    rules = pd.DataFrame([{"type": r["type"], "count": r["count"], "category": r.get("category") or "",
                           "difficulty_min": (r.get("difficulty") or [None, None])[0], "difficulty_max": (r.get("difficulty") or [None, None])[1]}
                          for r in q.get("draw", [])], columns=["type", "count", "category", "difficulty_min", "difficulty_max"])
    rules["category"] = rules["category"].fillna("").astype(str)
    from services.interchange import QUESTION_TYPES
    ed = st.data_editor(rules, num_rows="dynamic", key=f"ce_quiz_rules_{course_id}", width="stretch", column_config={
        "type": st.column_config.SelectboxColumn(t("bank.type"), options=[x for x in QUESTION_TYPES if x != "essay"], required=True),
        "count": st.column_config.NumberColumn(t("courses.count"), min_value=1, max_value=100, step=1, required=True),
        "category": st.column_config.TextColumn(t("bank.category")),
        "difficulty_min": st.column_config.NumberColumn(t("courses.dmin"), min_value=1, max_value=5, step=1),
        "difficulty_max": st.column_config.NumberColumn(t("courses.dmax"), min_value=1, max_value=5, step=1)})
    draw = []
    for r in ed.to_dict("records"):
        if not r.get("type") or not r.get("count") or pd.isna(r.get("count")):
            continue
        rule = {"type": r["type"], "count": int(r["count"])}
        if str(r.get("category") or "").strip():
            rule["category"] = str(r["category"]).strip()
        lo, hi = r.get("difficulty_min"), r.get("difficulty_max")
        if lo is not None and hi is not None and not pd.isna(lo) and not pd.isna(hi):
            rule["difficulty"] = [int(lo), int(hi)]
        draw.append(rule)
    problems = fetch(lambda s: courses.quiz_problems(s, actor, course_id=course_id, draw=draw))
    if problems:
        st.warning(t("courses.quiz_unsatisfiable"))
        for p in problems:
            st.text("· " + p)
    else:
        st.success(t("courses.quiz_ok", n=sum(r["count"] for r in draw)), icon=":material/check_circle:")
    q1, q2 = st.columns(2)
    if q1.button(t("courses.quiz_save"), type="primary", disabled=bool(problems), key=f"ce_quiz_save_{course_id}"):
        act(lambda s: courses.set_quiz(s, actor, course_id=course_id, title=qtitle, pass_percent=qpass, draw=draw),
            flash_key="ce_flash", flash=t("courses.quiz_saved"))
    if c.quiz and q2.button(t("courses.quiz_remove"), key=f"ce_quiz_remove_{course_id}"):
        act(lambda s: courses.set_quiz(s, actor, course_id=course_id, title="", pass_percent=60, draw=None),
            flash_key="ce_flash", flash=t("courses.quiz_removed"))

else:
    st.caption(t("courses.export_help"))

    def _package() -> bytes:     # built when clicked
        with db() as s:
            return courses.export_package(s, actor, course_id=course_id)
    st.download_button(t("courses.export_do"), data=_package, file_name=f"{course_id}.zip", mime="application/zip",
                       icon=":material/download:", key=f"ce_export_{course_id}", on_click="ignore")
