"""The essay grading queue (?exam=ID narrows it to one exam): each answered essay of a closed attempt of a
learner in the trainer's scope, scored per rubric item (or with one score) with a comment; a second grader
reviews what another graded; progress per exam (blank answers are scored 0 without a grader)."""
import streamlit as st

from services import attempts, exams
from ui.fmt import md_text
from ui.guard import act, fetch, guard
from ui.i18n import t

actor = guard("trainer")
st.title(t("tgrading.title"))
if msg := st.session_state.pop("tgrading_flash", None):
    st.success(msg)

rows = fetch(lambda s: exams.exam_rows(s, actor))
titles = {r.exam.id: r.exam.title for r in rows}
raw = st.query_params.get("exam")
current = int(raw) if raw and str(raw).isdigit() and int(raw) in titles else None
if raw and current is None:
    st.warning(t("tgrading.no_such_exam"))
options = [0] + [r.exam.id for r in rows]
c1, c2 = st.columns([3, 2])
pick = c1.selectbox(t("tgrading.exam"), options, index=options.index(current or 0), key=f"tgrading_exam_{current or 0}",
                    format_func=lambda i: titles.get(i, t("tgrading.all_exams")) if i else t("tgrading.all_exams"))
if (pick or None) != current:
    if pick:
        st.query_params["exam"] = str(pick)
    else:
        st.query_params.pop("exam", None)
    st.rerun()
mode = c2.segmented_control(t("tgrading.mode"), ["grade", "review"], default="grade", key="tgrading_mode",
                            format_func=lambda m: t(f"tgrading.mode.{m}")) or "grade"

if current:
    p = fetch(lambda s: exams.grading_progress(s, actor, exam_id=current))
    st.progress(p.done_fraction, text=t("tgrading.progress", done=p.essays - p.blank - p.waiting, todo=p.essays - p.blank,
                                          blank=p.blank, reviewed=p.reviewed, pending=p.attempts_pending))

queue = fetch(lambda s: attempts.grading_queue(s, actor, exam_id=current, review=mode == "review"))
if not queue:
    st.info(t("tgrading.empty" if mode == "grade" else "tgrading.empty_review"))
    st.stop()

st.caption(t("tgrading.queue", n=len(queue)))
labels = {task.item_id: t("tgrading.task", exam=task.exam_title or "—", learner=task.learner, n=task.position)
          for task in queue}
item_id = st.selectbox(t("tgrading.pick"), list(labels), format_func=labels.get, key=f"tgrading_pick_{mode}_{current or 0}")
task = next(x for x in queue if x.item_id == item_id)
K = f"tgrading_{task.item_id}_{task.round}"

with st.container(border=True, key="tgrading_task"):
    st.caption(t("tgrading.meta", exam=md_text(task.exam_title or "—"), learner=md_text(task.learner), n=task.position,
                 points=f"{task.points:g}"))
    st.markdown("**" + t("tgrading.question") + "**")
    st.text(task.question)
    st.markdown("**" + t("tgrading.answer") + "**")
    if task.response and str(task.response).strip():
        with st.container(border=True):
            st.text(str(task.response))
    else:
        st.info(t("tgrading.blank"))
    if task.round == 2:
        st.markdown("**" + t("tgrading.first") + "**")
        st.text(t("tgrading.first_line", score=f"{task.first_score:g}" if task.first_score is not None else "—",
                  comment=task.first_comment or "—"))

    rubric_scores = None
    score = None
    if task.rubric:
        full = sum(float(r["points"]) for r in task.rubric) or task.points
        st.markdown("**" + t("tgrading.rubric") + "**")
        rubric_scores = []
        for i, r in enumerate(task.rubric):
            rubric_scores.append(st.number_input(
                t("tgrading.criterion", criterion=md_text(r["criterion"]), points=f"{float(r['points']):g}"), 0.0,
                float(r["points"]), 0.0, step=0.5, key=f"{K}_r{i}"))
        total = min(task.points, round(sum(rubric_scores) * task.points / full, 2))
        st.markdown(t("tgrading.total", score=f"{total:g}", points=f"{task.points:g}"))
    else:
        score = st.number_input(t("tgrading.score", points=f"{task.points:g}"), 0.0, float(task.points), 0.0, step=0.5,
                                key=f"{K}_score")
    comment = st.text_area(t("tgrading.comment"), key=f"{K}_comment", max_chars=4000)
    label = t("tgrading.submit") if task.round == 1 else t("tgrading.submit_review")
    if st.button(label, type="primary", key="tgrading_submit", icon=":material/done:"):
        act(lambda s: attempts.grade_essay(s, actor, item_id=task.item_id, rubric_scores=rubric_scores, score=score,
                                           comment=comment, review=task.round == 2),
            flash_key="tgrading_flash", flash=t("tgrading.saved", learner=md_text(task.learner), n=task.position))
st.caption(t("tgrading.oldest_first"))
