"""Item analysis of one exam or one course quiz, live from the database, within the trainer's scope.

What is analysed (the page's help says the same):
- Graded attempts only: status "submitted" (every item scored). Attempts still open or waiting for an
  essay grade are left out. By default every graded attempt counts, as Moodle's statistics report does
  with "all graded attempts"; `which="first"` keeps each learner's first graded attempt only.
- One row per attempt x question: the item's score and its points on that paper (a rule-based paper
  draws different questions per attempt, so each question has its own n). An unanswered item scored 0
  counts as 0.
- The formulas are those of services/analytics/item_stats.py (Moodle's quiz statistics plus the
  upper-lower 27 % index D and the point-biserial), computed here on numpy arrays from one SQL query:
  item_stats.analyse on the same marks gives the same numbers (tests/unit/test_item_report.py), this
  path is just fast enough to run live (5,000 attempts x 100 questions well under a second).
- Flags follow design.md §2 (item_stats: too_hard / too_easy outside P 0.3-0.7, D bands, discriminative
  efficiency below 15 %, CIC below 75 % / 64 %), and fewer than 30 attempts adds the caution.
- Distractor analysis (`option_analysis`): for a choice or true/false question, how often each option
  was chosen by the top and the bottom 27 % of the attempts that had the question (ranked by total, the
  same groups as D), and by everyone; options are those of the question's newest version used.

Scope: an exam only when the trainer manages it (its audience inside their scope, services/exams); a
course quiz when the course's audience reaches into their scope (everyone, or a unit inside it or
above it), counting only attempts of learners whose unit lies inside the scope.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from sqlalchemy import or_
from sqlmodel import Session, col, func, select

from models import Attempt, AttemptItem, Course, OrgUnit, Question, QuestionVersion, User
from models.learning import ATTEMPT_DONE
from services import exams as exam_service
from services.analytics import item_stats
from services.analytics.item_stats import FEW_ATTEMPTS, ItemAnalysis, ItemStats, TestStats
from services.errors import NotFound, PermissionDenied, ValidationFailed
from services.permissions import ALL, Actor, require_role, scope_paths

Which = Literal["all", "first"]
WHICH = ("all", "first")
CHOICE_TYPES = ("single_choice", "multiple_choice", "true_false")
# the order "worst first": a wrong key, then no discrimination, then weak, then good ones
BAND_ORDER = {"check_key": 0, "discard": 1, "revise": 2, "good": 3, "very_good": 4, None: 5}


# ---- the maths on arrays ---------------------------------------------------------------------------

@dataclass
class Groups:
    """Per question: the attempt ids analysed, and those of its bottom and top 27 % (by total, as for D)."""
    members: dict[str, np.ndarray] = field(default_factory=dict)
    low: dict[str, np.ndarray] = field(default_factory=dict)
    high: dict[str, np.ndarray] = field(default_factory=dict)


def analyse_arrays(attempt_ids: np.ndarray, question_ids: Sequence[str], q_index: np.ndarray, marks: np.ndarray,
                   max_marks: np.ndarray) -> tuple[ItemAnalysis, Groups]:
    """The statistics of item_stats.analyse from long arrays (one entry per attempt x question):
    attempt_ids (int, attempts in order of first appearance), q_index (int, index into question_ids),
    marks and max_marks (float). Same definitions, same order of questions (as given), same Nones."""
    groups = Groups()
    if len(marks) == 0:
        return ItemAnalysis(TestStats(0, 0, None, None, None, None, None, None, None, None, ["no_attempts"]), []), groups
    if np.all(attempt_ids[1:] >= attempt_ids[:-1]):     # grouped by attempt (the database's order): no sort
        starts = np.flatnonzero(np.r_[True, attempt_ids[1:] != attempt_ids[:-1]])
        attempts = attempt_ids[starts]
        a_index = np.cumsum(np.r_[True, attempt_ids[1:] != attempt_ids[:-1]]) - 1
    else:
        uniq, first = np.unique(attempt_ids, return_index=True)
        order = np.argsort(first, kind="stable")        # attempts in order of first appearance
        attempts = uniq[order]
        rank = np.empty(len(uniq), dtype=np.int64)
        rank[order] = np.arange(len(uniq))
        a_index = rank[np.searchsorted(uniq, attempt_ids)]
    n_a, n_q = len(attempts), len(question_ids)
    totals = np.bincount(a_index, weights=marks, minlength=n_a)
    # per question: its rows in attempt order (a stable sort keeps the input order inside a question)
    by_q = np.lexsort((a_index, q_index))
    bounds = np.searchsorted(q_index[by_q], np.arange(n_q + 1))
    items: list[ItemStats] = []
    covs: list[float | None] = []
    item_vars: list[float] = []
    for j, qid in enumerate(question_ids):
        rows = by_q[bounds[j]:bounds[j + 1]]
        x = marks[rows]
        ai = a_index[rows]
        t = totals[ai]
        covs.append(item_stats._cov(x, t))
        vx = item_stats._var(x)
        if vx is not None:
            item_vars.append(vx)
        it, low, high = item_stats.item_from_arrays(qid, x, t, float(max_marks[rows].max()) if len(rows) else 0.0)
        groups.members[qid] = attempts[ai]
        if low is not None:
            groups.low[qid] = attempts[ai[low]]
            groups.high[qid] = attempts[ai[high]]
        items.append(it)
    total = sum(math.sqrt(c) for c in covs if c is not None and c >= 0)
    for it, c in zip(items, covs, strict=True):
        it.effective_weight = None if c is None or c < 0 else (100 * math.sqrt(c) / total if total else 0.0)
        it.flags = item_stats._flags(it)
    return ItemAnalysis(item_stats.whole_test(totals, n_q, item_vars), items), groups


# ---- what a trainer may analyse ---------------------------------------------------------------------

@dataclass
class SourceOption:
    kind: str               # exam | quiz
    id: str                 # exam id (as text) or course id
    title: str
    attempts: int           # graded attempts in scope

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


def _scope_filter(actor: Actor):
    """A condition on OrgUnit.path: the learner's unit inside the trainer's scope (None: everything)."""
    paths = scope_paths(actor, "trainer")
    if ALL in paths:
        return None
    return or_(*[col(OrgUnit.path).startswith(p) for p in paths])


def _course_in_scope(session: Session, actor: Actor, course: Course,
                     unit_paths: dict[int, str] | None = None) -> bool:
    """The course's audience reaches into the trainer's scope (everyone, or a unit inside it or above it).
    `unit_paths`: the audience units' paths read beforehand (a list of courses in one statement)."""
    paths = scope_paths(actor, "trainer")
    if ALL in paths or not course.audience:
        return True
    if unit_paths is None:
        units = session.exec(select(OrgUnit.path).where(col(OrgUnit.id).in_(course.audience))).all()
    else:
        units = [unit_paths[u] for u in course.audience if u in unit_paths]
    return any(u.startswith(p) or p.startswith(u) for u in units for p in paths)


def sources(session: Session, actor: Actor) -> list[SourceOption]:
    """The exams the trainer manages and the course quizzes reaching into their scope, each with its
    number of graded attempts in scope; exams newest first, then quizzes by course order."""
    require_role(actor, "trainer")
    out: list[SourceOption] = []
    managed = exam_service.list_exams(session, actor)
    if managed:
        counts = dict(session.exec(select(Attempt.exam_id, func.count()).where(
            col(Attempt.exam_id).in_([e.id for e in managed]), Attempt.status == ATTEMPT_DONE).group_by(Attempt.exam_id)).all())
        out += [SourceOption("exam", str(e.id), e.title, counts.get(e.id, 0)) for e in managed]
    with_quiz = session.exec(select(Course).where(col(Course.quiz).is_not(None)).order_by(Course.position, Course.title)).all()
    unit_ids = sorted({u for c in with_quiz for u in (c.audience or [])})
    unit_paths = dict(session.exec(select(OrgUnit.id, OrgUnit.path).where(col(OrgUnit.id).in_(unit_ids))).all()) if unit_ids else {}
    courses = [c for c in with_quiz if _course_in_scope(session, actor, c, unit_paths)]
    if courses:
        q = (select(Attempt.course_id, func.count()).join(User, User.id == Attempt.user_id)
             .join(OrgUnit, OrgUnit.id == User.unit_id, isouter=True)
             .where(Attempt.kind == "quiz", col(Attempt.course_id).in_([c.id for c in courses]), Attempt.status == ATTEMPT_DONE)
             .group_by(Attempt.course_id))
        if (cond := _scope_filter(actor)) is not None:
            q = q.where(cond)
        counts = dict(session.exec(q).all())
        out += [SourceOption("quiz", c.id, c.title, counts.get(c.id, 0)) for c in courses]
    return out


def _where(session: Session, actor: Actor, *, exam_id: int | None, course_id: str | None) -> tuple[str, str, list[Any], bool]:
    """(kind, title, conditions on Attempt, needs the scope join) after the scope check."""
    if (exam_id is None) == (course_id is None):
        raise ValidationFailed("error.item_analysis_source")
    if exam_id is not None:
        exam = exam_service.get_exam(session, actor, exam_id=exam_id)    # NotFound / PermissionDenied
        return "exam", exam.title, [Attempt.exam_id == exam_id, Attempt.kind == "exam"], False
    require_role(actor, "trainer")
    course = session.get(Course, course_id)
    if course is None:
        raise NotFound(what="course", id=course_id)
    if not _course_in_scope(session, actor, course):
        raise PermissionDenied("error.out_of_scope")
    return "quiz", course.title, [Attempt.course_id == course_id, Attempt.kind == "quiz", col(Attempt.exam_id).is_(None)], True


# ---- the report ---------------------------------------------------------------------------------------

@dataclass
class ItemRow:
    """One question's statistics with what a trainer needs to act on it."""
    question_id: str
    n: int
    max_mark: float
    facility: float | None
    sd: float | None
    discrimination_index: float | None
    discriminative_efficiency: float | None
    effective_weight: float | None
    d27: float | None
    point_biserial: float | None
    flags: list[str]
    band: str | None            # d27 band of design §2: very_good | good | revise | discard | check_key
    type: str
    category: str
    text: str                   # the stem of the newest version used (plain text, the page shows it as text)
    versions: list[int]         # versions that appeared on the papers analysed
    current_version: int


@dataclass
class ItemReport:
    kind: str                   # exam | quiz
    source_id: str
    title: str
    which: str
    test: TestStats
    items: list[ItemRow]        # worst first
    groups: Groups = field(default_factory=Groups, repr=False)
    version_ids: dict[str, list[int]] = field(default_factory=dict, repr=False)   # question -> version row ids

    @property
    def caution(self) -> bool:
        return self.test.attempts < FEW_ATTEMPTS

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "source_id": self.source_id, "title": self.title, "which": self.which,
                "caution": self.caution, "test": asdict(self.test), "items": [asdict(i) for i in self.items]}


def _worst_key(row: ItemRow) -> tuple:
    def num(v: float | None) -> float:
        return math.inf if v is None else v
    return (BAND_ORDER.get(row.band, 5), num(row.d27), num(row.discrimination_index), row.question_id)


def marks_query(conditions: list[Any], scope_cond: Any | None, *, with_scope_join: bool, with_user: bool = False):
    """attempt_id, question_version_id, score, points (and user_id) of every scored item of graded attempts
    (one statement; no ORDER BY: the rows are sorted in numpy, cheaper than the database's temporary
    B-tree over half a million rows)."""
    cols = [AttemptItem.attempt_id, AttemptItem.question_version_id, AttemptItem.score, AttemptItem.points]
    q = ((select(*cols, Attempt.user_id) if with_user else select(*cols))
         .join(Attempt, Attempt.id == AttemptItem.attempt_id)
         .where(Attempt.status == ATTEMPT_DONE, col(AttemptItem.score).is_not(None), *conditions))
    if with_scope_join and scope_cond is not None:
        q = q.join(User, User.id == Attempt.user_id).join(OrgUnit, OrgUnit.id == User.unit_id).where(scope_cond)
    return q


def fetch_numeric(session: Session, stmt, width: int) -> np.ndarray:
    """Rows of numbers straight from the driver's cursor into a float array (n x width). The ORM's
    Row objects cost about a microsecond each and numpy's conversion of them far more; a plain DBAPI
    cursor gives tuples (SQLite and PostgreSQL alike: the statement is compiled for the dialect)."""
    session.flush()              # the raw cursor bypasses autoflush: pending changes first
    conn = session.connection()
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = tuple(compiled.params[k] for k in compiled.positiontup) if compiled.positional else compiled.params
    cur = conn.connection.dbapi_connection.cursor()
    try:
        cur.execute(str(compiled), params)
        # SQLite: straight from the cursor, no list of half a million tuples first (a quarter of the fetch's
        # time); psycopg has the whole result already and its fetchall beats its row-by-row iteration
        rows = cur.fetchall() if conn.dialect.name == "postgresql" else cur
        flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=float)
    finally:
        cur.close()
    return flat.reshape(-1, width)


def item_report(session: Session, actor: Actor, *, exam_id: int | None = None, course_id: str | None = None,
                which: Which = "all") -> ItemReport:
    """Item analysis of an exam (exam_id) or a course quiz (course_id); see the module docstring."""
    if which not in WHICH:
        raise ValidationFailed("error.item_analysis_which")
    kind, title, conditions, scoped = _where(session, actor, exam_id=exam_id, course_id=course_id)
    scope_cond = _scope_filter(actor) if scoped else None
    first = which == "first"
    stmt = marks_query(conditions, scope_cond, with_scope_join=scoped, with_user=first)
    arr = fetch_numeric(session, stmt, 5 if first else 4)
    if len(arr) and np.any(arr[1:, 0] < arr[:-1, 0]):        # in attempt order (ties of D's ranking follow it)
        arr = arr[np.argsort(arr[:, 0], kind="stable")]
    if len(arr):
        attempt_ids = arr[:, 0].astype(np.int64)
        version_ids = arr[:, 1].astype(np.int64)
        marks, max_marks = arr[:, 2], arr[:, 3]
        if first:
            keep = _first_attempts(attempt_ids, arr[:, 4].astype(np.int64))
            attempt_ids, version_ids, marks, max_marks = attempt_ids[keep], version_ids[keep], marks[keep], max_marks[keep]
    else:
        attempt_ids = version_ids = np.zeros(0, dtype=np.int64)
        marks = max_marks = np.zeros(0)
    used = np.unique(version_ids).tolist()
    info = {vid: (qid, ver, typ, cat, data) for vid, qid, ver, typ, cat, data in session.exec(
        select(QuestionVersion.id, QuestionVersion.question_id, QuestionVersion.version, QuestionVersion.type,
               QuestionVersion.category, QuestionVersion.data).where(col(QuestionVersion.id).in_(used))).all()} if used else {}
    # questions in order of first appearance; each version row maps to its question
    uniq_v, first_v = np.unique(version_ids, return_index=True)
    question_ids: list[str] = []
    q_pos: dict[str, int] = {}
    v_to_q = np.zeros(len(uniq_v), dtype=np.int64)
    for i in np.argsort(first_v, kind="stable"):
        qid = info[int(uniq_v[i])][0]
        if qid not in q_pos:
            q_pos[qid] = len(question_ids)
            question_ids.append(qid)
        v_to_q[i] = q_pos[qid]
    q_index = v_to_q[np.searchsorted(uniq_v, version_ids)] if len(version_ids) else np.zeros(0, dtype=np.int64)
    analysis, groups = analyse_arrays(attempt_ids, question_ids, q_index, marks, max_marks)
    current = dict(session.exec(select(Question.id, Question.current_version).where(col(Question.id).in_(question_ids))).all()) \
        if question_ids else {}
    by_q: dict[str, list[tuple[int, int, str, str, dict]]] = {}
    for vid, (qid, ver, typ, cat, data) in info.items():
        by_q.setdefault(qid, []).append((ver, vid, typ, cat, data))
    items = []
    for it in analysis.items:
        versions = sorted(by_q[it.question_id])
        ver, _vid, typ, cat, data = versions[-1]
        items.append(ItemRow(it.question_id, it.n, it.max_mark, it.facility, it.sd, it.discrimination_index,
                             it.discriminative_efficiency, it.effective_weight, it.d27, it.point_biserial, it.flags,
                             item_stats.d27_band(it.d27), typ, cat, str(data.get("text") or ""), [v[0] for v in versions],
                             current.get(it.question_id, ver)))
    items.sort(key=_worst_key)
    return ItemReport(kind, str(exam_id if exam_id is not None else course_id), title, which, analysis.test, items, groups,
                      {q: [v[1] for v in vs] for q, vs in by_q.items()})


def _first_attempts(attempt_ids: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
    """Mask of the rows of each learner's first graded attempt (the lowest attempt id: ids grow with time)."""
    attempts, at = np.unique(attempt_ids, return_index=True)      # sorted by attempt id
    _, first = np.unique(user_ids[at], return_index=True)          # first occurrence = lowest attempt id
    return np.isin(attempt_ids, attempts[first])


# ---- distractor analysis ------------------------------------------------------------------------------

@dataclass
class OptionRow:
    option: int | None          # index in the question's options (True/False as 1/0 for true/false); None = no answer
    text: str
    correct: bool               # earns credit (fraction > 0; the key of a true/false question)
    high: int                   # chosen by the top 27 %
    low: int                    # chosen by the bottom 27 %
    all: int                    # chosen by everyone analysed


@dataclass
class OptionAnalysis:
    question_id: str
    type: str
    high_n: int                 # attempts in the top group
    low_n: int
    n: int
    rows: list[OptionRow]


def option_analysis(session: Session, actor: Actor, report: ItemReport, question_id: str) -> OptionAnalysis | None:
    """Which option the top and bottom 27 % chose for one question of a report (None for a question
    type without options). The report was made for this actor; the scope is checked again."""
    _where(session, actor, exam_id=int(report.source_id) if report.kind == "exam" else None,
           course_id=report.source_id if report.kind == "quiz" else None)
    row = next((i for i in report.items if i.question_id == question_id), None)
    if row is None:
        raise NotFound(what="question", id=question_id)
    if row.type not in CHOICE_TYPES:
        return None
    vids = report.version_ids.get(question_id, [])
    data = session.exec(select(QuestionVersion.data).where(col(QuestionVersion.id).in_(vids))
                        .order_by(col(QuestionVersion.version).desc())).first() or {}
    kind = "exam" if report.kind == "exam" else "quiz"
    cond = [Attempt.exam_id == int(report.source_id)] if kind == "exam" else [Attempt.course_id == report.source_id,
                                                                              col(Attempt.exam_id).is_(None)]
    responses = dict(session.exec(select(AttemptItem.attempt_id, AttemptItem.response)
                                  .join(Attempt, Attempt.id == AttemptItem.attempt_id)
                                  .where(Attempt.kind == kind, Attempt.status == ATTEMPT_DONE, *cond,
                                         col(AttemptItem.question_version_id).in_(vids))).all())
    high = {int(a) for a in report.groups.high.get(question_id, ())}
    low = {int(a) for a in report.groups.low.get(question_id, ())}
    analysed = [int(a) for a in report.groups.members.get(question_id, ())]
    if row.type == "true_false":
        labels = [(1, "true", bool(data.get("answer")) is True), (0, "false", bool(data.get("answer")) is False)]
    else:
        labels = [(i, str(o.get("text") or ""), float(o.get("fraction") or 0) > 0) for i, o in enumerate(data.get("options") or [])]
    counts = {opt: [0, 0, 0] for opt, _, _ in labels}
    counts[None] = [0, 0, 0]
    for attempt_id in analysed:
        chosen = _chosen(row.type, responses.get(attempt_id))
        for opt in chosen or [None]:
            if opt not in counts:
                continue
            c = counts[opt]
            c[0] += attempt_id in high
            c[1] += attempt_id in low
            c[2] += 1
    rows = [OptionRow(opt, text, correct, *counts[opt]) for opt, text, correct in labels]
    rows.append(OptionRow(None, "", False, *counts[None]))
    return OptionAnalysis(question_id, row.type, len(high), len(low), len(analysed), rows)


def _chosen(qtype: str, response: Any) -> list[int] | None:
    if response is None:
        return None
    if qtype == "true_false":
        return [1 if response else 0] if isinstance(response, bool) else None
    if qtype == "single_choice":
        return [response] if isinstance(response, int) and not isinstance(response, bool) else None
    if isinstance(response, list):
        picked = sorted({i for i in response if isinstance(i, int) and not isinstance(i, bool)})
        return picked or None
    return None


def data_version(session: Session, *, exam_id: int | None = None, course_id: str | None = None) -> tuple:
    """Changes when the graded attempts of an exam or a course quiz change (a new one, a regrade that
    re-totals one): the key for caching a report. Cheap: one aggregate over the attempt rows."""
    q = select(func.count(), func.max(Attempt.id), func.sum(Attempt.score)).where(Attempt.status == ATTEMPT_DONE)
    q = q.where(Attempt.exam_id == exam_id) if exam_id is not None else q.where(
        Attempt.course_id == course_id, Attempt.kind == "quiz", col(Attempt.exam_id).is_(None))
    return tuple(session.exec(q).one())
