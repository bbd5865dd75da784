"""The exam builder (?exam=ID, or a new exam without): title, a rule-based paper (category subtree × type ×
difficulty × count × points, rows added and removed) or a fixed paper picked from a bank search, with the live
check whether the bank can satisfy it without sharing questions and how many distinct papers it can draw;
every setting; save, publish (the paper is frozen from then on and shown read-only) and close."""
from datetime import UTC, datetime, time

import pandas as pd
import streamlit as st

from models.db import LOCAL_TZ
from services import bank, courses, exams
from services.errors import ServiceError
from services.papers import QUESTION_TYPES
from ui.fmt import local_time, md_text
from ui.guard import fetch, guard, show_error
from ui.i18n import t
from ui.session import db
from ui.widgets import category_labels

actor = guard("trainer")
raw = st.query_params.get("exam")
if raw and not str(raw).isdigit():
    st.title(t("texedit.title_new"))
    st.error(t("texedit.bad_id"))
    st.stop()
exam_id = int(raw) if raw else None
exam = fetch(lambda s: exams.get_exam(s, actor, exam_id=exam_id)) if exam_id else None
base = exam.to_input() if exam else exams.ExamIn(title="考试", rules=[])
frozen = exam is not None and exam.frozen
K = f"xe_{exam_id or 'new'}"

st.title(t("texedit.title_edit", title=md_text(exam.title)) if exam else t("texedit.title_new"))
if msg := st.session_state.pop("texedit_flash", None):
    st.success(msg)
if st.button(t("texedit.back"), icon=":material/arrow_back:", key="xe_back"):
    st.switch_page("pages/trainer/exams.py")
if exam:
    st.caption(t("texedit.status_line", status=t(f"texams.status.{exam.status}"), created=local_time(exam.created_at),
                 published=local_time(exam.published_at)))

# ---- the paper -------------------------------------------------------------------------------------------
title = st.text_input(t("texedit.name"), value=exam.title if exam else "", key=f"{K}_title", max_chars=200)
description = st.text_area(t("texedit.description"), value=base.description, key=f"{K}_description", max_chars=4000)

st.subheader(t("texedit.paper"))
if f"{K}_rules" not in st.session_state:
    st.session_state[f"{K}_rules"] = [r.model_dump(mode="json") for r in (base.rules or [])]
if f"{K}_qids" not in st.session_state:
    st.session_state[f"{K}_qids"] = list(base.question_ids or [])
rules: list[dict] = st.session_state[f"{K}_rules"]
qids: list[str] = st.session_state[f"{K}_qids"]
kind = st.radio(t("texedit.paper_kind"), ["rules", "fixed"], index=0 if base.question_ids is None else 1, horizontal=True,
                key=f"{K}_kind", format_func=lambda k: t(f"texedit.kind.{k}"), disabled=frozen)
if frozen:
    st.info(t("texedit.frozen"), icon=":material/lock:")


def _describe(r: dict) -> dict:
    d = r.get("difficulty")
    return {"category": r.get("category") or t("bank.all_categories"), "type": t(f"qtype.{r['type']}"),
            "difficulty": f"{d[0]}–{d[1]}" if d else t("texedit.any_difficulty"), "count": r["count"],
            "points": r.get("points") if r.get("points") is not None else t("texedit.own_points")}


categories = fetch(lambda s: bank.category_tree(s, actor))
if kind == "rules":
    check = fetch(lambda s: exams.check_paper(s, actor, rules=rules))
    if rules:
        by_index = {c["index"]: c for c in check.rules}
        st.markdown("**" + t("texedit.rules") + "**")
        for i, r in enumerate(rules):
            d, c = _describe(r), by_index.get(i)
            cols = st.columns([3, 1.5, 1.2, 1, 1.5, 2, 1.3], vertical_alignment="center")
            cols[0].text(d["category"])
            cols[1].text(d["type"])
            cols[2].text(d["difficulty"])
            cols[3].text(t("texedit.count_n", n=d["count"]))
            cols[4].text(t("texedit.points_each", p=d["points"]) if r.get("points") is not None else d["points"])
            if c is not None:
                cols[5].text(("✔ " if c["ok"] else "✘ ") + t("texedit.available", available=c["available"], pool=c["pool"]))
            if not frozen and cols[6].button(t("texedit.remove"), key=f"{K}_rm_{i}", icon=":material/delete:"):
                rules.pop(i)
                st.rerun()
    else:
        st.caption(t("texedit.no_rules"))
    if not frozen:
        with st.container(key="xe_add_rule_form"), st.form(f"{K}_add_rule", clear_on_submit=False, border=True):
            st.markdown("**" + t("texedit.add_rule") + "**")
            a1, a2, a3 = st.columns([3, 2, 2])
            cat = a1.selectbox(t("bank.category"), [""] + categories, key=f"{K}_new_category",
                               format_func=category_labels(categories, t("bank.all_categories")),
                               help=t("texedit.category_help"))
            qtype = a2.selectbox(t("bank.type"), list(QUESTION_TYPES), key=f"{K}_new_type",
                                 format_func=lambda q: t(f"qtype.{q}"))
            diff = a3.slider(t("bank.difficulty"), 1, 5, (1, 5), key=f"{K}_new_difficulty", help=t("texedit.difficulty_help"))
            a4, a5, _ = st.columns([2, 2, 3])
            count = a4.number_input(t("texedit.count"), 1, 500, 5, key=f"{K}_new_count")
            points = a5.number_input(t("texedit.points"), 0.0, 100.0, 0.0, step=0.5, key=f"{K}_new_points",
                                     help=t("texedit.points_help"))
            if st.form_submit_button(t("texedit.add_rule_do"), icon=":material/add:"):
                rule = {"type": qtype, "count": int(count)}
                if cat:
                    rule["category"] = cat
                if tuple(diff) != (1, 5):
                    rule["difficulty"] = [int(diff[0]), int(diff[1])]
                if points:
                    rule["points"] = float(points)
                rules.append(rule)
                st.rerun()
else:
    check = fetch(lambda s: exams.check_paper(s, actor, question_ids=qids))
    chosen = fetch(lambda s: exams.question_briefs(s, actor, question_ids=qids))
    if chosen:
        st.markdown("**" + t("texedit.fixed_chosen", n=len(chosen)) + "**")
        cdf = pd.DataFrame([{"id": q.question_id, "type": t(f"qtype.{q.type}"), "category": q.category,
                             "points": q.points, "text": q.text} for q in chosen])
        ev = st.dataframe(cdf.rename(columns=lambda c: t(f"bank.col.{c}")), hide_index=True, width="stretch",
                          on_select="rerun" if not frozen else "ignore", selection_mode="multi-row",
                          key=f"{K}_chosen_{len(qids)}")
        gone = [chosen[i].question_id for i in (ev.selection.rows if not frozen and ev and ev.selection else [])]
        if gone and st.button(t("texedit.fixed_remove", n=len(gone)), key=f"{K}_fixed_remove", icon=":material/delete:"):
            st.session_state[f"{K}_qids"] = [q for q in qids if q not in gone]
            st.rerun()
    else:
        st.caption(t("texedit.fixed_empty"))
    if not frozen:
        with st.container(border=True):
            st.markdown("**" + t("texedit.fixed_search") + "**")
            f1, f2, f3 = st.columns([2, 1, 2])
            fcat = f1.selectbox(t("bank.category"), [""] + categories, key=f"{K}_f_category",
                                format_func=lambda c: c or t("bank.all_categories"))
            ftype = f2.selectbox(t("bank.type"), [""] + list(QUESTION_TYPES), key=f"{K}_f_type",
                                 format_func=lambda q: t(f"qtype.{q}") if q else t("bank.all_types"))
            ftext = f3.text_input(t("bank.search"), key=f"{K}_f_text")
            found = fetch(lambda s: bank.search(s, actor, filters=bank.BankFilter(
                category=fcat or None, qtype=ftype or None, text=ftext), page_size=50))
            st.caption(t("texedit.fixed_found", n=found.total, shown=len(found.rows)))
            fdf = pd.DataFrame([{"id": r.id, "type": t(f"qtype.{r.type}"), "category": r.category, "usage": t(f"usage.{r.usage}"),
                                 "points": r.points, "text": r.text} for r in found.rows])
            if not fdf.empty:
                fev = st.dataframe(fdf.rename(columns=lambda c: t(f"bank.col.{c}")), hide_index=True, width="stretch",
                                   on_select="rerun", selection_mode="multi-row", key=f"{K}_found_{fcat}_{ftype}_{ftext}")
                add = [found.rows[i].id for i in (fev.selection.rows if fev and fev.selection else []) if i < len(found.rows)]
                add = [q for q in add if q not in qids]
                if add and st.button(t("texedit.fixed_add", n=len(add)), key=f"{K}_fixed_add", icon=":material/add:"):
                    st.session_state[f"{K}_qids"] = qids + add
                    st.rerun()

with st.container(key="xe_check"):
    if check.ok:
        st.success(t("texedit.paper_ok", questions=check.questions, points=f"{check.max_score:g}", papers=check.papers),
                   icon=":material/check_circle:")
    else:
        st.error(t("texedit.paper_bad"), icon=":material/error:")
        failing = [c for c in check.rules if not c["ok"]]
        for c in failing:
            d = _describe(c["rule"])
            st.text("· " + t("texedit.rule_short", n=c["index"] + 1, count=d["count"], type=d["type"], category=d["category"],
                             difficulty=d["difficulty"], available=c["available"], pool=c["pool"]))
        if not failing:
            for p in check.problems or [t("texedit.paper_empty")]:
                st.text("· " + p)

# ---- the settings --------------------------------------------------------------------------------------


def _local(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(LOCAL_TZ)


def _when_input(label: str, key: str, value: datetime | None, default_time: time) -> datetime | None:
    local = _local(value)
    on = st.toggle(label, value=local is not None, key=f"{key}_on")
    if not on:
        return None
    c1, c2 = st.columns(2)
    d = c1.date_input(t("texedit.date"), value=(local or datetime.now(LOCAL_TZ)).date(), key=f"{key}_date")
    tm = c2.time_input(t("texedit.time"), value=local.time().replace(tzinfo=None) if local else default_time,
                       key=f"{key}_time", step=300)
    return datetime.combine(d, tm).replace(tzinfo=LOCAL_TZ)


st.subheader(t("texedit.settings"))
choices, everyone = fetch(lambda s: courses.audience_choices(s, actor))
unit_names = dict(choices)
course_titles = dict(fetch(lambda s: bank.courses(s, actor)))
WHEN = ["never", "after_submit", "after_close"]
left, right = st.columns(2)
with left, st.container(border=True):
    st.markdown("**" + t("texedit.window") + "**")
    opens_at = _when_input(t("texedit.opens_at"), f"{K}_opens", base.opens_at, time(9, 0))
    closes_at = _when_input(t("texedit.closes_at"), f"{K}_closes", base.closes_at, time(18, 0))
    window_bad = bool(opens_at and closes_at and closes_at <= opens_at)
    if window_bad:
        st.error(t("texedit.window_bad"))
    w1, w2 = st.columns(2)
    limit = w1.number_input(t("texedit.time_limit"), 1, 600, base.time_limit_minutes, key=f"{K}_limit")
    allowed = w2.number_input(t("texedit.attempts"), 0, 100, base.attempts_allowed, key=f"{K}_attempts",
                              help=t("texedit.attempts_help"))
    w3, w4 = st.columns(2)
    method = w3.selectbox(t("texedit.grading_method"), ["highest", "last"], index=["highest", "last"].index(base.grading_method),
                          key=f"{K}_method", format_func=lambda m: t(f"texedit.method.{m}"))
    pass_percent = w4.number_input(t("texedit.pass_percent"), 1.0, 100.0, float(base.pass_percent), step=5.0,
                                   key=f"{K}_pass")
    mc = st.selectbox(t("texedit.mc_scoring"), ["all_or_nothing", "proportional"],
                      index=["all_or_nothing", "proportional"].index(base.mc_scoring), key=f"{K}_mc",
                      format_func=lambda m: t(f"texedit.mc.{m}"), help=t("texedit.mc_help"))
    shuffle_q = st.toggle(t("texedit.shuffle_questions"), value=base.shuffle_questions, key=f"{K}_shuffle_q")
    shuffle_o = st.toggle(t("texedit.shuffle_options"), value=base.shuffle_options, key=f"{K}_shuffle_o")
    one_page = st.toggle(t("texedit.one_per_page"), value=base.one_per_page, key=f"{K}_one_page",
                         help=t("texedit.one_per_page_help"))
with right, st.container(border=True):
    st.markdown("**" + t("texedit.audience") + "**")
    scope_units = [int(p.strip("/").split("/")[-1]) for p in actor.scopes.get("trainer", ()) if p.strip("/")]
    default_units = list(base.audience_units) if exam else ([] if everyone else [u for u in scope_units if u in unit_names][:1])
    units = st.multiselect(t("texedit.audience_units"), list(unit_names), default=[u for u in default_units if u in unit_names],
                           format_func=unit_names.get, key=f"{K}_units", placeholder=t("texedit.units_placeholder"),
                           help=t("texedit.audience_help" if everyone else "texedit.audience_scoped"))
    people_key = f"{K}_people"
    picked_people: list[int] = st.session_state.get(people_key, list(base.audience_users))
    who = st.text_input(t("texedit.people_search"), key=f"{K}_people_q", help=t("texedit.people_help"))
    found_people = fetch(lambda s: exams.audience_people(s, actor, text=who) if who.strip() else [])
    known = {p.id: p.label() for p in fetch(lambda s: exams.audience_people(s, actor, ids=picked_people))}
    known.update({p.id: p.label() for p in found_people})
    people = st.multiselect(t("texedit.audience_people"), list(dict.fromkeys(picked_people + [p.id for p in found_people])),
                            default=picked_people if people_key not in st.session_state else None,
                            format_func=lambda i: known.get(i, str(i)), key=people_key,
                            placeholder=t("texedit.people_placeholder"))
    if not units and not people:
        st.caption(t("texedit.audience_everyone" if everyone else "texedit.audience_needed"))
    st.markdown("**" + t("texedit.review") + "**")
    r1, r2, r3 = st.columns(3)
    review_score = r1.selectbox(t("texedit.review_score"), WHEN, index=WHEN.index(base.review_score), key=f"{K}_rv_score",
                                format_func=lambda w: t(f"texedit.when.{w}"))
    review_answers = r2.selectbox(t("texedit.review_answers"), WHEN, index=WHEN.index(base.review_answers),
                                  key=f"{K}_rv_answers", format_func=lambda w: t(f"texedit.when.{w}"))
    review_expl = r3.selectbox(t("texedit.review_explanations"), WHEN, index=WHEN.index(base.review_explanations),
                               key=f"{K}_rv_expl", format_func=lambda w: t(f"texedit.when.{w}"))
    st.markdown("**" + t("texedit.rewards") + "**")
    g1, g2 = st.columns(2)
    credit = g1.number_input(t("texedit.credit_hours"), 0.0, 50.0, float(base.credit_hours), step=0.5, key=f"{K}_credit",
                             help=t("texedit.credit_help"))
    course_id = g2.selectbox(t("field.course"), [""] + list(course_titles), key=f"{K}_course",
                             index=([""] + list(course_titles)).index(base.course_id) if base.course_id in course_titles else 0,
                             format_func=lambda c: course_titles.get(c, t("texedit.no_course")))
    certificate = st.toggle(t("texedit.certificate"), value=base.certificate, key=f"{K}_certificate")
    st.markdown("**" + t("texedit.integrity") + "**")
    tab_on = st.toggle(t("texedit.tab_limit_on"), value=base.tab_switch_limit is not None, key=f"{K}_tab_on",
                       help=t("texedit.tab_limit_help"))
    tab_limit = st.number_input(t("texedit.tab_limit"), 0, 100, base.tab_switch_limit if base.tab_switch_limit is not None else 3,
                                key=f"{K}_tab_limit", disabled=not tab_on)
    allow_copy = st.toggle(t("texedit.allow_copy"), value=base.allow_copy, key=f"{K}_allow_copy")

data = {"title": title, "description": description, "course_id": course_id or None,
        "rules": None, "question_ids": None,
        "opens_at": opens_at, "closes_at": closes_at, "time_limit_minutes": int(limit), "attempts_allowed": int(allowed),
        "grading_method": method, "pass_percent": float(pass_percent), "shuffle_questions": shuffle_q,
        "shuffle_options": shuffle_o, "one_per_page": one_page, "audience_units": list(units), "audience_users": list(people),
        "review_score": review_score, "review_answers": review_answers, "review_explanations": review_expl,
        "mc_scoring": mc, "credit_hours": float(credit), "certificate": certificate,
        "tab_switch_limit": int(tab_limit) if tab_on else None, "allow_copy": allow_copy}
if frozen:
    data["rules"], data["question_ids"] = exam.rules, exam.question_ids
elif kind == "rules":
    data["rules"] = list(rules)
else:
    data["question_ids"] = list(qids)


def _save(s, *, publish: bool = False) -> int:
    exam_in = exams.parse_exam_in(data)
    if exam_id is None:
        new_id = exams.create_exam(s, actor, exam_in=exam_in)
    else:
        exams.update_exam(s, actor, exam_id=exam_id, exam_in=exam_in)
        new_id = exam_id
    if publish:
        exams.publish_exam(s, actor, exam_id=new_id)
    return new_id


def _run(flash: str, **kw) -> None:
    """One unit of work; on success come back to this exam's own address (a new exam gets its id)."""
    if not data["title"].strip():
        st.error(t("error.exam_title_required"))
        return
    try:
        with db() as s:
            new_id = _save(s, **kw)
    except ServiceError as exc:
        show_error(exc)
        return
    st.session_state["texedit_flash"] = flash
    if exam_id is None:
        for k in [k for k in st.session_state if str(k).startswith("xe_new_")]:
            del st.session_state[k]
        st.query_params["exam"] = str(new_id)        # this page, at the new exam's own address
    st.rerun()


st.divider()
a1, a2, a3, _ = st.columns([1, 1, 1, 2])
status = exam.status if exam else "draft"
if a1.button(t("texedit.save") if status == "draft" else t("texedit.save_settings"), type="primary", key="xe_save",
             icon=":material/save:", disabled=window_bad or (status == "draft" and not check.ok)):
    _run(t("texedit.saved"))
if status == "draft":
    if a2.button(t("texedit.publish"), key="xe_publish", icon=":material/publish:", disabled=window_bad or not check.ok,
                 help=None if check.ok else t("texedit.publish_blocked")):
        st.session_state["xe_confirm"] = ("publish", exam_id)
elif status == "published" and a2.button(t("texams.close"), key="xe_close", icon=":material/lock:"):
    st.session_state["xe_confirm"] = ("close", exam_id)
if exam is not None and a3.button(t("texams.results"), key="xe_results", icon=":material/leaderboard:"):
    st.switch_page("pages/trainer/exam_results.py", query_params={"exam": str(exam_id)})
if not check.ok and status == "draft":
    st.caption(t("texedit.publish_blocked"))

what = st.session_state.get("xe_confirm")
if what and what[1] == exam_id:
    with st.container(border=True, key="xe_confirm_box"):
        if what[0] == "publish":
            st.warning(t("texedit.confirm_publish", questions=check.questions, papers=check.papers))
            c1, c2 = st.columns([1, 4])
            if c1.button(t("texams.confirm_publish_do"), type="primary", key="xe_publish_do"):
                st.session_state.pop("xe_confirm", None)
                _run(t("texedit.published"), publish=True)
        else:
            st.warning(t("texedit.confirm_close", title=md_text(exam.title)))
            c1, c2 = st.columns([1, 4])
            if c1.button(t("texams.confirm_close_do"), type="primary", key="xe_close_do"):
                st.session_state.pop("xe_confirm", None)
                try:
                    with db() as s:
                        n = exams.close_exam(s, actor, exam_id=exam_id)
                except ServiceError as exc:
                    show_error(exc)
                else:
                    st.session_state["texedit_flash"] = t("texedit.closed", n=n)
                    st.rerun()
        if c2.button(t("texams.cancel"), key="xe_confirm_cancel"):
            st.session_state.pop("xe_confirm", None)
            st.rerun()
