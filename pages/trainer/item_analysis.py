"""Item analysis: pick an exam or a course quiz; the test's figures, every question worst first with its
flags (text and colour) and a link into the editor, the distractors of one question, a facility x
discrimination scatter, the weak topics of the units (heat map), Excel/CSV of the item table.
Ids travel in the address (?exam=12 or ?course=<id>), so a link or a reload opens the same analysis."""
from datetime import datetime

import altair as alt
import pandas as pd
import streamlit as st

from models.db import LOCAL_TZ
from services.analytics import item_report as ir
from services.analytics import weak_topics as wt
from services.errors import ServiceError
from services.spreadsheets import Column, table_csv, table_xlsx
from ui.fmt import md_text
from ui.guard import fetch, guard, show_error
from ui.i18n import t
from ui.session import db

actor = guard("trainer")
st.title(t("ia.title"))
st.caption(t("ia.help"))

BAND_COLOUR = {"check_key": "#f8d7da", "discard": "#f8d7da", "revise": "#fff3cd", "good": "#d4edda",
               "very_good": "#c3e6cb", None: "#eeeeee"}
BAND_CHART = {"check_key": "#8e44ad", "discard": "#c0392b", "revise": "#e67e22", "good": "#27ae60",
              "very_good": "#1e8449", None: "#95a5a6"}


def actor_key(a) -> tuple:
    return (a.id, tuple(sorted((r, p) for r, p in a.scopes.items())))


@st.cache_data(ttl=600, max_entries=32, show_spinner=False)
def cached_report(_actor, key: tuple, kind: str, source_id: str, which: str, version: tuple) -> ir.ItemReport:
    """One report per scope, source and choice of attempts; `version` (ir.data_version) changes when
    an attempt is graded or re-totalled, so choosing a question below does not recompute it."""
    with db() as s:
        return ir.item_report(s, _actor, exam_id=int(source_id) if kind == "exam" else None,
                              course_id=source_id if kind == "quiz" else None, which=which)


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def cached_weak(_actor, key: tuple, depth: int, cat_depth: int, exam_id: int | None, course_id: str | None,
                version: tuple) -> wt.WeakTopics:
    with db() as s:
        return wt.weak_topics(s, _actor, depth=depth, category_depth=cat_depth, exam_id=exam_id, course_id=course_id)


def cached(call):
    """A cached read: a service error (scope, not found) is shown, never cached."""
    try:
        return call()
    except ServiceError as exc:
        show_error(exc)
        st.stop()


def num(v, digits=2, pct=False):
    if v is None:
        return None
    return round(v * 100 if pct else v, digits)


options = fetch(lambda s: ir.sources(s, actor))
if not options:
    st.info(t("ia.no_sources"))
    st.stop()
by_key = {o.key: o for o in options}
wanted = (f"exam:{st.query_params['exam']}" if st.query_params.get("exam")
          else f"quiz:{st.query_params['course']}" if st.query_params.get("course") else None)
keys = list(by_key)
start = keys.index(wanted) if wanted in by_key else 0
if wanted and wanted not in by_key:
    st.warning(t("ia.source_not_found"))
c1, c2 = st.columns([3, 1])
choice = c1.selectbox(t("ia.source"), keys, index=start, key=f"ia_source_{wanted}",
                      format_func=lambda k: t(f"ia.source_{by_key[k].kind}", title=by_key[k].title, n=by_key[k].attempts))
which = c2.radio(t("ia.which"), list(ir.WHICH), horizontal=True, key="ia_which", help=t("ia.which_help"),
                 format_func=lambda w: t(f"ia.which_{w}"))
src = by_key[choice]
param = "exam" if src.kind == "exam" else "course"
if st.query_params.get(param) != src.id or len(st.query_params) != 1:   # the address names what is shown
    st.query_params.from_dict({param: src.id})

version = fetch(lambda s: ir.data_version(s, exam_id=int(src.id) if src.kind == "exam" else None,
                                         course_id=src.id if src.kind == "quiz" else None))
report = cached(lambda: cached_report(actor, actor_key(actor), src.kind, src.id, which, version))
test = report.test

if test.attempts == 0:
    st.info(t("ia.no_attempts"))
else:
    if report.caution:
        st.warning(t("ia.caution", n=test.attempts, min=ir.FEW_ATTEMPTS), icon=":material/warning:")
    # --- the test
    st.subheader(t("ia.test_title"))
    m = st.columns(5)
    m[0].metric(t("ia.attempts"), test.attempts)
    m[1].metric(t("ia.questions"), test.questions)
    m[2].metric(t("ia.mean"), num(test.mean))
    m[3].metric(t("ia.median"), num(test.median))
    m[4].metric(t("ia.sd"), num(test.sd))
    m = st.columns(5)
    m[0].metric(t("ia.skewness"), num(test.skewness, 3), help=t("ia.skewness_help"))
    m[1].metric(t("ia.kurtosis"), num(test.kurtosis, 3), help=t("ia.kurtosis_help"))
    cic_state = "poor" if "cic_poor" in test.flags else "fair" if "cic_fair" in test.flags else "ok" if test.cic is not None else None
    m[2].metric(t("ia.cic"), f"{test.cic:.1f}%" if test.cic is not None else "—", help=t("ia.cic_help"),
                delta=t(f"ia.cic_{cic_state}") if cic_state else None, delta_arrow="off",
                delta_color={"ok": "green", "fair": "orange", "poor": "red"}.get(cic_state, "gray"))
    m[3].metric(t("ia.error_ratio"), f"{test.error_ratio:.1f}%" if test.error_ratio is not None else "—",
                help=t("ia.error_ratio_help"))
    m[4].metric(t("ia.standard_error"), num(test.standard_error), help=t("ia.standard_error_help"))

    # --- the questions, worst first
    st.subheader(t("ia.items_title"))
    st.caption(t("ia.items_help"))

    def flags_text(flags: list[str]) -> str:
        return "、".join(t(f"ia.flag.{f}") for f in flags) if flags else t("ia.flag.none")

    rows = []
    for rank, it in enumerate(report.items, start=1):
        rows.append({"rank": rank, "question_id": it.question_id, "verdict": t(f"ia.band.{it.band or 'none'}"),
                     "text": it.text if len(it.text) <= 60 else it.text[:60] + "…", "type": t(f"qtype.{it.type}"),
                     "category": it.category, "n": it.n, "facility": num(it.facility, 3), "d27": num(it.d27, 3),
                     "discrimination_index": num(it.discrimination_index, 1),
                     "discriminative_efficiency": num(it.discriminative_efficiency, 1),
                     "effective_weight": num(it.effective_weight, 2), "point_biserial": num(it.point_biserial, 3),
                     "sd": num(it.sd, 3), "flags": flags_text(it.flags), "band": it.band,
                     "edit": f"question_edit?q={it.question_id}"})
    table = pd.DataFrame(rows)
    # what a trainer acts on first, the stem last (it is long)
    headers = {k: t(f"ia.col.{k}") for k in ("rank", "question_id", "verdict", "facility", "d27", "flags", "edit", "n",
                                             "discrimination_index", "discriminative_efficiency", "effective_weight",
                                             "point_biserial", "sd", "type", "category", "text")}
    shown = table[list(headers)]
    colours = [BAND_COLOUR.get(b, "#eeeeee") for b in table["band"]]
    digits = {"facility": 3, "d27": 3, "discrimination_index": 1, "discriminative_efficiency": 1, "effective_weight": 2,
              "point_biserial": 3, "sd": 3}
    styled = shown.rename(columns=headers).style.apply(
        lambda col: [f"background-color: {c}" for c in colours], subset=[headers["verdict"]]).format(
        {headers[k]: f"{{:.{d}f}}" for k, d in digits.items()}, na_rep="—")
    st.dataframe(styled, hide_index=True, width="stretch", key=f"ia_items_{choice}_{which}", column_config={
        headers["edit"]: st.column_config.LinkColumn(headers["edit"], display_text=t("ia.open_editor")),
        headers["text"]: st.column_config.TextColumn(headers["text"], width="medium")})

    # --- exports of the item table
    stamp = datetime.now(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    export_cols = [k for k in headers if k != "edit"]
    title_rows = [t("ia.export_title", title=report.title), t("ia.export_sub", which=t(f"ia.which_{which}"),
                                                                n=test.attempts, at=stamp)]
    formats = {"facility": "0.000", "d27": "0.000", "point_biserial": "0.000", "sd": "0.000",
               "discrimination_index": "0.0", "discriminative_efficiency": "0.0", "effective_weight": "0.00"}

    def xlsx() -> bytes:
        full = [{**r, "text": it.text} for r, it in zip(rows, report.items)]
        return table_xlsx(columns=[Column(headers[k], None, formats.get(k)) for k in export_cols],
                          rows=[[r[k] for k in export_cols] for r in full], sheet=t("ia.sheet"), title_rows=title_rows)

    def csv() -> bytes:
        full = [{**r, "text": it.text} for r, it in zip(rows, report.items)]
        return table_csv(columns=[headers[k] for k in export_cols], rows=[[r[k] for k in export_cols] for r in full])
    e1, e2, _ = st.columns([1, 1, 3])
    e1.download_button(t("ia.export_xlsx"), xlsx, f"{t('ia.file')}-{src.kind}-{src.id}.xlsx", icon=":material/download:",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", on_click="ignore",
                       key="ia_export_xlsx")
    e2.download_button(t("ia.export_csv"), csv, f"{t('ia.file')}-{src.kind}-{src.id}.csv", mime="text/csv",
                       icon=":material/table:", on_click="ignore", key="ia_export_csv")

    # --- one question: its distractors and the way into the editor
    st.subheader(t("ia.question_title"))
    items = {it.question_id: it for it in report.items}
    qid = st.selectbox(t("ia.pick_question"), list(items), key=f"ia_question_{choice}_{which}",
                       format_func=lambda q: t("ia.question_label", id=q, verdict=t(f"ia.band.{items[q].band or 'none'}"),
                                               p=num(items[q].facility, 2), d=num(items[q].d27, 2)))
    it = items[qid]
    with st.container(border=True, key="ia_question_box"):
        st.text(it.text)
        st.caption(t("ia.question_meta", type=t(f"qtype.{it.type}"), category=md_text(it.category), n=it.n,
                     flags=flags_text(it.flags), versions=", ".join(f"v{v}" for v in it.versions), current=it.current_version))
        if st.button(t("ia.open_in_editor", id=qid), icon=":material/edit:", key="ia_open_editor"):
            st.switch_page("pages/trainer/question_edit.py", query_params={"q": qid})
        opts = fetch(lambda s: ir.option_analysis(s, actor, report, qid))
        if opts is None:
            st.caption(t("ia.no_options"))
        else:
            st.caption(t("ia.options_help", high=opts.high_n, low=opts.low_n, n=opts.n))

            def verdict(r) -> str:
                if r.option is None:
                    return ""
                if r.correct:
                    return t("ia.opt.key_ok") if r.high >= r.low else t("ia.opt.key_reversed")
                if r.all == 0:
                    return t("ia.opt.unused")
                return t("ia.opt.draws_top") if r.high > r.low else t("ia.opt.works")
            label = {1: t("ia.true"), 0: t("ia.false")} if opts.type == "true_false" else {}
            st.dataframe(pd.DataFrame([{
                t("ia.opt.option"): (label.get(r.option) or chr(65 + r.option)) if r.option is not None else t("ia.opt.none"),
                t("ia.opt.text"): r.text, t("ia.opt.key"): "✓" if r.correct else "",
                t("ia.opt.high"): r.high, t("ia.opt.low"): r.low, t("ia.opt.all"): r.all,
                t("ia.opt.verdict"): verdict(r)} for r in opts.rows]), hide_index=True, width="stretch",
                key=f"ia_options_{choice}_{which}_{qid}")

    # --- facility x discrimination
    st.subheader(t("ia.scatter_title"))
    st.caption(t("ia.scatter_help"))
    pts = table[table["facility"].notna() & table["d27"].notna()][["question_id", "facility", "d27", "verdict", "band", "text"]]
    if pts.empty:
        st.caption(t("ia.scatter_empty"))
    else:
        bands = [b for b in BAND_CHART if b is not None] + [None]
        names = [t(f"ia.band.{b or 'none'}") for b in bands]
        dots = alt.Chart(pts).mark_circle(size=80, opacity=0.85).encode(
            x=alt.X("facility:Q", title=t("ia.col.facility"), scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("d27:Q", title=t("ia.col.d27"), scale=alt.Scale(domain=[-1, 1])),
            color=alt.Color("verdict:N", title=t("ia.col.verdict"),
                            scale=alt.Scale(domain=names, range=[BAND_CHART[b] for b in bands])),
            tooltip=[alt.Tooltip("question_id:N", title=t("ia.col.question_id")), alt.Tooltip("verdict:N", title=t("ia.col.verdict")),
                     alt.Tooltip("facility:Q", title=t("ia.col.facility")), alt.Tooltip("d27:Q", title=t("ia.col.d27")),
                     alt.Tooltip("text:N", title=t("ia.col.text"))])
        guides = pd.DataFrame({"x": [0.3, 0.7]})
        hlines = pd.DataFrame({"y": [0.2, 0.3, 0.4]})
        chart = alt.layer(
            alt.Chart(guides).mark_rule(strokeDash=[4, 4], color="#888").encode(x="x:Q"),
            alt.Chart(hlines).mark_rule(strokeDash=[2, 3], color="#aaa").encode(y="y:Q"),
            dots).properties(height=360)
        st.altair_chart(chart, width="stretch")

# --- weak topics of the units
st.subheader(t("ia.weak_title"))
st.caption(t("ia.weak_help"))
levels = fetch(lambda s: wt.levels(s, actor))
if not levels:
    st.caption(t("ia.weak_empty"))
    st.stop()
w1, w2, w3 = st.columns([2, 1, 1])
level_ids = [d for d, _ in levels]
default_level = min(len(level_ids) - 1, 1)
depth = w1.selectbox(t("ia.weak_level"), level_ids, index=default_level, key="ia_weak_level",
                     format_func=lambda d: t("ia.weak_level_label", depth=d,
                                             kinds="、".join(t(f"unit.{k}") for k in dict(levels)[d])))
cat_depth = w2.selectbox(t("ia.weak_cat_depth"), [1, 2, 3], key="ia_weak_cat_depth")
everything = w3.checkbox(t("ia.weak_all"), key="ia_weak_all", help=t("ia.weak_all_help"))
weak_version = fetch(wt.data_version)
weak = cached(lambda: cached_weak(actor, actor_key(actor), depth, cat_depth,
                                  int(src.id) if src.kind == "exam" and not everything else None,
                                  src.id if src.kind == "quiz" and not everything else None, weak_version))
if not weak.cells:
    st.caption(t("ia.weak_none"))
    st.stop()
heat = pd.DataFrame([{"unit": c.unit, "category": c.category, "facility": round(c.facility, 3) if c.facility is not None else None,
                      "n": c.n, "learners": c.learners} for c in weak.cells])
unit_order = [name for _, name in weak.units]
st.altair_chart(alt.Chart(heat).mark_rect().encode(
    x=alt.X("category:N", title=t("ia.weak_category"), axis=alt.Axis(labelAngle=-30, labelLimit=200)),
    y=alt.Y("unit:N", sort=unit_order, title=None, axis=alt.Axis(labelLimit=240)),
    color=alt.Color("facility:Q", title=t("ia.col.facility"), scale=alt.Scale(domain=[0, 1], scheme="redyellowgreen")),
    tooltip=[alt.Tooltip("unit:N", title=t("field.unit")), alt.Tooltip("category:N", title=t("ia.weak_category")),
             alt.Tooltip("facility:Q", title=t("ia.col.facility"), format=".1%"),
             alt.Tooltip("n:Q", title=t("ia.weak_n")), alt.Tooltip("learners:Q", title=t("ia.weak_learners"))]
).properties(height=max(160, 28 * len(unit_order))), width="stretch")
min_n = st.number_input(t("ia.weak_min_n"), 1, 10_000, 10, key="ia_weak_min_n")
worst = [c for c in weak.weakest(min_n)][:15]
st.dataframe(pd.DataFrame([{t("field.unit"): c.unit, t("ia.weak_category"): c.category,
                            t("ia.col.facility"): round(c.facility, 3) if c.facility is not None else None,
                            t("ia.weak_n"): c.n, t("ia.weak_learners"): c.learners} for c in worst]),
             hide_index=True, width="stretch", key="ia_weak_table")
