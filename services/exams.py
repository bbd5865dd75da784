"""Exams: definitions (trainers, within their scope), publishing, the learner's lobby, starting an attempt,
results and their Excel export, regrading, and the rewards of a pass.

Units of work: these functions flush, never commit; the caller commits once per user action.

- An exam is a rule-based paper (`rules`: category subtree x type x difficulty x count, points per
  question, drawn per attempt by services/papers.py) or a fixed paper (`question_ids`).
- Status draft -> published -> closed. A draft can change freely; a published exam's paper (rules or
  questions) is frozen, its other settings may change; closing finalises every open attempt.
- Audience: org units (each with its subtree) and/or named users; both empty = everyone. A trainer sets
  only an audience inside their scope (services/permissions.scope_paths): every unit and every named
  user's unit inside it, and "everyone" only with a whole-organisation scope; a trainer edits, publishes,
  grades and reads the results only of exams whose audience lies inside their scope.
- Attempts: the deadline is min(start + time limit, close time), stored on the attempt; attempts_allowed
  (0 = unlimited) counts every attempt started; the learner's result is the highest or the last settled
  attempt (grading_method).
- Passing: `credit_hours` 学时 once per exam and learner (ledger source "exam", source_id "exam-<id>")
  and, when `certificate` is on, services.certificates.issue_for_attempt(session, attempt_id) if that
  module exists. A later regrade that takes a pass away keeps what was credited (the ledger is append-only).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlmodel import Session, col, func, select

from models import Attempt, AttemptItem, Course, Exam, OrgUnit, QuestionVersion, User
from models.learning import ATTEMPT_DONE, ATTEMPT_OPEN, ATTEMPT_PENDING
from services import attempts, audit, ledger, papers
from services.errors import NotFound, PermissionDenied, ValidationFailed
from services.interchange import pydantic_errors
from services.papers import DrawRule
from services.permissions import ALL, Actor, require_role, scope_paths
from services.text import clean_text

When = Literal["never", "after_submit", "after_close"]


class ExamIn(BaseModel):
    """What a trainer sets (the builder's form, the CLI's spec after names are resolved to ids)."""
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    course_id: str | None = None
    rules: list[DrawRule] | None = None
    question_ids: list[str] | None = None
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    time_limit_minutes: int = Field(60, gt=0, le=600)
    attempts_allowed: int = Field(1, ge=0, le=100)             # 0 = unlimited
    grading_method: Literal["highest", "last"] = "highest"
    pass_percent: float = Field(60, gt=0, le=100)
    shuffle_questions: bool = True
    shuffle_options: bool = True
    one_per_page: bool = True
    audience_units: list[int] = Field(default_factory=list)
    audience_users: list[int] = Field(default_factory=list)
    review_score: When = "after_submit"
    review_answers: When = "after_close"
    review_explanations: When = "after_close"
    mc_scoring: Literal["all_or_nothing", "proportional"] = "proportional"
    credit_hours: float = Field(0, ge=0, le=50)
    certificate: bool = False
    tab_switch_limit: int | None = Field(None, ge=0, le=100)   # None: counted, never submits
    allow_copy: bool = True

    @model_validator(mode="after")
    def _shape(self) -> ExamIn:
        if (self.rules is None) == (self.question_ids is None):
            raise ValueError("an exam has either rules or a fixed list of questions")
        if self.opens_at and self.closes_at and self.closes_at <= self.opens_at:
            raise ValueError("closes_at must be after opens_at")
        for name in ("opens_at", "closes_at"):
            v = getattr(self, name)
            if v is not None and v.tzinfo is None:
                raise ValueError(f"{name} needs a time zone (e.g. 2026-12-01T09:00:00+08:00)")
        return self


PAPER_FIELDS = ("rules", "question_ids")


def _now() -> datetime:
    return attempts.now()


def _exam(session: Session, exam_id: int) -> Exam:
    exam = session.get(Exam, exam_id)
    if exam is None:
        raise NotFound(what="exam", id=exam_id)
    return exam


def parse_exam_in(data: dict[str, Any]) -> ExamIn:
    try:
        return ExamIn.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed("error.exam_invalid", problems="; ".join(pydantic_errors(exc))) from None


# ---- audience and scope ---------------------------------------------------------------------------

def _check_audience(session: Session, actor: Actor, units: list[int], user_ids: list[int]) -> None:
    """Every unit and every named user's unit inside the trainer's scope; everyone only for a trainer of
    the whole organisation (as services/courses._check_audience)."""
    paths = scope_paths(actor, "trainer")
    whole = ALL in paths

    def inside(path: str | None) -> bool:
        return whole or (path is not None and any(path.startswith(p) for p in paths))
    if not units and not user_ids:
        roots = session.exec(select(OrgUnit.path).where(OrgUnit.parent_id.is_(None), OrgUnit.active)).all()
        if not whole and not all(inside(r) for r in roots):
            raise PermissionDenied("error.exam_audience_scope")
        return
    rows = session.exec(select(OrgUnit.id, OrgUnit.path).where(col(OrgUnit.id).in_(units))).all() if units else []
    if len(rows) != len(set(units)):
        raise NotFound(what="unit", id=",".join(str(u) for u in units))
    if not all(inside(p) for _, p in rows):
        raise PermissionDenied("error.out_of_scope")
    if user_ids:
        found = session.exec(select(User.id, OrgUnit.path).join(OrgUnit, OrgUnit.id == User.unit_id, isouter=True)
                             .where(col(User.id).in_(user_ids))).all()
        if len(found) != len(set(user_ids)):
            raise NotFound(what="user", id=",".join(str(u) for u in user_ids))
        if not all(inside(p) for _, p in found):
            raise PermissionDenied("error.out_of_scope")


def _can_manage(session: Session, actor: Actor, exam: Exam) -> None:
    """A trainer manages an exam whose whole audience lies inside their scope."""
    require_role(actor, "trainer")
    _check_audience(session, actor, list(exam.audience_units or []), list(exam.audience_users or []))


def _unit_path(session: Session, unit_id: int | None) -> str | None:
    return session.exec(select(OrgUnit.path).where(OrgUnit.id == unit_id)).first() if unit_id else None


def _in_audience_of(exam: Exam, user_id: int, unit_path: str | None, unit_paths: dict[int, str]) -> bool:
    """in_audience with the audience units' paths read beforehand (a list of exams in one statement)."""
    units, users = list(exam.audience_units or []), list(exam.audience_users or [])
    if not units and not users:
        return True
    if user_id in users:
        return True
    return bool(units and unit_path) and any(unit_path.startswith(unit_paths[u]) for u in units if u in unit_paths)


def in_audience(session: Session, exam: Exam, user_id: int, unit_path: str | None) -> bool:
    units, users = list(exam.audience_units or []), list(exam.audience_users or [])
    if not units and not users:
        return True
    if user_id in users:
        return True
    if units and unit_path:
        paths = session.exec(select(OrgUnit.path).where(col(OrgUnit.id).in_(units))).all()
        return any(unit_path.startswith(p) for p in paths)
    return False


# ---- the paper ------------------------------------------------------------------------------------

@dataclass
class PaperCheck:
    """The builder's live check."""
    ok: bool
    problems: list[str]
    questions: int
    max_score: float
    papers: str                     # how many distinct papers, for display ("1" for a fixed paper)
    papers_exact: int | None
    papers_log10: float
    rules: list[dict[str, Any]] = field(default_factory=list)   # per rule: {index, rule, pool, available, ok}


def check_paper(session: Session, actor: Actor, *, rules: list[dict[str, Any]] | None = None,
                question_ids: list[str] | None = None) -> PaperCheck:
    """Can the bank satisfy these rules without sharing questions (most specific first), how many
    questions and points on a paper, how many distinct papers; or whether a fixed list is usable."""
    require_role(actor, "trainer")
    if question_ids is not None:
        problems = papers.fixed_problems(session, question_ids, purpose="exam")
        pts = 0.0
        if not problems:
            pts = sum(session.exec(select(QuestionVersion.points).join(
                _current_join(), _current_on()).where(col(QuestionVersion.question_id).in_(question_ids))).all())
        return PaperCheck(not problems, problems, len(question_ids), round(pts, 2), "1" if not problems else "0",
                          1 if not problems else 0, 0.0)
    try:
        parsed = papers.as_rules(rules or [])
    except ValidationError as exc:
        return PaperCheck(False, pydantic_errors(exc), 0, 0.0, "0", 0, 0.0)
    sat = papers.check_rules(session, parsed, purpose="exam")
    return PaperCheck(sat.ok, sat.problems, sat.questions, sat.max_score, str(sat.papers), sat.papers.exact,
                      sat.papers.log10, [{"index": r.index, "rule": r.rule.model_dump(mode="json"), "pool": r.pool,
                                          "available": r.available, "ok": r.ok} for r in sat.rules])


def _current_join():
    from models import Question
    return Question


def _current_on():
    from models import Question
    return (Question.id == QuestionVersion.question_id) & (Question.current_version == QuestionVersion.version)


def _paper_refused(session: Session, actor: Actor, exam_in: ExamIn) -> None:
    chk = check_paper(session, actor, rules=[r.model_dump() for r in exam_in.rules] if exam_in.rules is not None else None,
                      question_ids=exam_in.question_ids)
    if not chk.ok:
        raise ValidationFailed("error.exam_unsatisfiable", problems="; ".join(chk.problems))


# ---- defining -------------------------------------------------------------------------------------

def _clean(exam_in: ExamIn, session: Session) -> ExamIn:
    clean_text(exam_in.title, field="title", max_length=200)
    clean_text(exam_in.description, field="description", multiline=True, max_length=4000)
    for i, rule in enumerate(exam_in.rules or [], start=1):      # stored with the exam, and echoed in refusals
        clean_text(rule.category, field="category", row=i)
    for i, qid in enumerate(exam_in.question_ids or [], start=1):
        clean_text(qid, field="question", row=i)
    if not exam_in.title.strip():
        raise ValidationFailed("error.exam_title_required")
    if exam_in.course_id is not None and session.get(Course, exam_in.course_id) is None:
        raise NotFound(what="course", id=exam_in.course_id)
    return exam_in.model_copy(update={"title": exam_in.title.strip(), "description": exam_in.description.strip(),
                                      "audience_units": sorted(set(exam_in.audience_units)),
                                      "audience_users": sorted(set(exam_in.audience_users))})


def _apply(exam: Exam, exam_in: ExamIn) -> None:
    data = exam_in.model_dump(mode="json", exclude={"opens_at", "closes_at"})
    for k, v in data.items():
        setattr(exam, k, v)
    exam.opens_at, exam.closes_at = exam_in.opens_at, exam_in.closes_at


def create_exam(session: Session, actor: Actor, *, exam_in: ExamIn) -> int:
    """A new draft exam; refused (nothing written) when the bank cannot satisfy its paper or the
    audience lies outside the trainer's scope. Returns the exam id."""
    require_role(actor, "trainer")
    exam_in = _clean(exam_in, session)
    _check_audience(session, actor, exam_in.audience_units, exam_in.audience_users)
    _paper_refused(session, actor, exam_in)
    exam = Exam(title=exam_in.title, created_by=actor.id)
    _apply(exam, exam_in)
    session.add(exam)
    session.flush()
    audit.record(session, actor.id, "exam.create", exam=exam.id, title=exam.title)
    session.flush()
    return exam.id


def update_exam(session: Session, actor: Actor, *, exam_id: int, exam_in: ExamIn) -> None:
    """Change an exam. A published or closed exam's paper (rules / questions) is frozen
    (error.exam_paper_frozen); its other settings may change."""
    exam = _exam(session, exam_id)
    _can_manage(session, actor, exam)
    exam_in = _clean(exam_in, session)
    _check_audience(session, actor, exam_in.audience_units, exam_in.audience_users)
    if exam.status != "draft":
        new = exam_in.model_dump(mode="json")
        if new["rules"] != exam.rules or new["question_ids"] != exam.question_ids:
            raise ValidationFailed("error.exam_paper_frozen")
    else:
        _paper_refused(session, actor, exam_in)
    _apply(exam, exam_in)
    exam.updated_at = _now()
    session.add(exam)
    audit.record(session, actor.id, "exam.update", exam=exam.id)
    session.flush()


def publish_exam(session: Session, actor: Actor, *, exam_id: int) -> None:
    """draft -> published (the bank is checked again; from now on the paper is frozen)."""
    exam = _exam(session, exam_id)
    _can_manage(session, actor, exam)
    if exam.status != "draft":
        raise ValidationFailed("error.exam_not_draft")
    chk = check_paper(session, actor, rules=exam.rules, question_ids=exam.question_ids)
    if not chk.ok:
        raise ValidationFailed("error.exam_unsatisfiable", problems="; ".join(chk.problems))
    exam.status, exam.published_at, exam.updated_at = "published", _now(), _now()
    session.add(exam)
    audit.record(session, actor.id, "exam.publish", exam=exam.id)
    session.flush()


def close_exam(session: Session, actor: Actor, *, exam_id: int) -> int:
    """published -> closed: no new attempts; every open attempt is finalised now with what was saved.
    Returns how many were finalised."""
    exam = _exam(session, exam_id)
    _can_manage(session, actor, exam)
    if exam.status != "published":
        raise ValidationFailed("error.exam_not_published")
    at = _now()
    exam.status, exam.closed_at, exam.updated_at = "closed", at, at
    session.add(exam)
    session.flush()
    n = 0
    for a in session.exec(select(Attempt).where(Attempt.exam_id == exam_id, Attempt.status == ATTEMPT_OPEN)).all():
        n += attempts.finalise(session, a, at=at, auto=True)
    audit.record(session, actor.id, "exam.close", exam=exam.id, finalised=n)
    session.flush()
    return n


@dataclass
class ExamPublic:
    """An exam as its trainer sees it (no table row reaches a page)."""
    id: int
    title: str
    description: str
    course_id: str | None
    status: str
    rules: list[dict[str, Any]] | None
    question_ids: list[str] | None
    opens_at: datetime | None
    closes_at: datetime | None
    time_limit_minutes: int
    attempts_allowed: int
    grading_method: str
    pass_percent: float
    shuffle_questions: bool
    shuffle_options: bool
    one_per_page: bool
    audience_units: list[int]
    audience_users: list[int]
    review_score: str
    review_answers: str
    review_explanations: str
    mc_scoring: str
    credit_hours: float
    certificate: bool
    tab_switch_limit: int | None
    allow_copy: bool
    created_by: int | None
    created_at: datetime
    published_at: datetime | None
    closed_at: datetime | None

    @property
    def frozen(self) -> bool:
        return self.status != "draft"

    def as_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for k in ("opens_at", "closes_at", "created_at", "published_at", "closed_at"):
            out[k] = out[k].isoformat() if out[k] else None
        return out

    def to_input(self) -> ExamIn:
        return ExamIn.model_validate({k: getattr(self, k) for k in ExamIn.model_fields})


def _public(exam: Exam) -> ExamPublic:
    return ExamPublic(exam.id, exam.title, exam.description, exam.course_id, exam.status, exam.rules, exam.question_ids,
                      exam.opens_at, exam.closes_at, exam.time_limit_minutes, exam.attempts_allowed, exam.grading_method,
                      exam.pass_percent, exam.shuffle_questions, exam.shuffle_options, exam.one_per_page,
                      list(exam.audience_units or []), list(exam.audience_users or []), exam.review_score,
                      exam.review_answers, exam.review_explanations, exam.mc_scoring, exam.credit_hours,
                      exam.certificate, exam.tab_switch_limit, exam.allow_copy, exam.created_by, exam.created_at,
                      exam.published_at, exam.closed_at)


def get_exam(session: Session, actor: Actor, *, exam_id: int) -> ExamPublic:
    exam = _exam(session, exam_id)
    _can_manage(session, actor, exam)
    return _public(exam)


def list_exams(session: Session, actor: Actor, *, status: str | None = None) -> list[ExamPublic]:
    """The exams the trainer manages (audience inside their scope), newest first."""
    require_role(actor, "trainer")
    q = select(Exam).order_by(col(Exam.created_at).desc(), col(Exam.id).desc())
    if status:
        q = q.where(Exam.status == status)
    listed = session.exec(q).all()
    return [_public(e) for e in _manageable(session, actor, listed)]


def _manageable(session: Session, actor: Actor, listed: list[Exam]) -> list[Exam]:
    """The exams of `listed` the trainer manages, by the rule of _can_manage, in three statements whatever
    their number (the org roots, the audience units' paths, the named users' units' paths)."""
    paths = scope_paths(actor, "trainer")
    whole = ALL in paths

    def inside(path: str | None) -> bool:
        return whole or (path is not None and any(path.startswith(p) for p in paths))
    unit_ids = sorted({u for e in listed for u in (e.audience_units or [])})
    user_ids = sorted({u for e in listed for u in (e.audience_users or [])})
    unit_path = dict(session.exec(select(OrgUnit.id, OrgUnit.path).where(col(OrgUnit.id).in_(unit_ids))).all()) if unit_ids else {}
    user_path = dict(session.exec(select(User.id, OrgUnit.path).join(OrgUnit, OrgUnit.id == User.unit_id, isouter=True)
                                  .where(col(User.id).in_(user_ids))).all()) if user_ids else {}
    everyone_ok: bool | None = None
    out = []
    for exam in listed:
        units, users = list(exam.audience_units or []), list(exam.audience_users or [])
        if not units and not users:
            if everyone_ok is None:
                roots = session.exec(select(OrgUnit.path).where(OrgUnit.parent_id.is_(None), OrgUnit.active)).all()
                everyone_ok = whole or all(inside(r) for r in roots)
            ok = everyone_ok
        else:
            ok = (all(u in unit_path and inside(unit_path[u]) for u in units)
                  and all(u in user_path and inside(user_path[u]) for u in users))
        if ok:
            out.append(exam)
    return out


# ---- the learner's side -------------------------------------------------------------------------

def _window_open(exam: Exam, at: datetime) -> bool:
    return (exam.status == "published" and (exam.opens_at is None or exam.opens_at <= at)
            and (exam.closes_at is None or at < exam.closes_at))


def _visible(session: Session, actor: Actor, exam: Exam) -> bool:
    return exam.status in ("published", "closed") and in_audience(session, exam, actor.id, _unit_path(session, actor.unit_id))


def _paper_size(session: Session, exam: Exam) -> tuple[int, float]:
    if exam.question_ids is not None:
        pts = session.exec(select(QuestionVersion.points).join(_current_join(), _current_on())
                           .where(col(QuestionVersion.question_id).in_(exam.question_ids))).all()
        return len(exam.question_ids), round(sum(pts), 2)
    rules = papers.as_rules(exam.rules or [])
    n = sum(r.count for r in rules)
    pts = sum(r.points * r.count for r in rules if r.points is not None)
    if any(r.points is None for r in rules):
        pts = papers.check_rules(session, rules, purpose="exam").max_score
    return n, round(pts, 2)


def _paper_sizes(session: Session, listed: list[Exam]) -> dict[int, tuple[int, float]]:
    """_paper_size of many exams: the fixed papers' points in one statement; a rule set whose rules all set
    their points needs none; a rule set taking the questions' own points is sized by papers.check_rules,
    once per distinct rule set."""
    out: dict[int, tuple[int, float]] = {}
    fixed = [e for e in listed if e.question_ids is not None]
    qids = sorted({q for e in fixed for q in e.question_ids})
    points = dict(session.exec(select(QuestionVersion.question_id, QuestionVersion.points).join(_current_join(), _current_on())
                               .where(col(QuestionVersion.question_id).in_(qids))).all()) if qids else {}
    for e in fixed:
        out[e.id] = (len(e.question_ids), round(sum(points[q] for q in set(e.question_ids) if q in points), 2))
    by_rules: dict[str, tuple[int, float]] = {}
    for e in listed:
        if e.question_ids is None:
            k = json.dumps(e.rules or [], sort_keys=True, ensure_ascii=False)
            if k not in by_rules:
                by_rules[k] = _paper_size(session, e)
            out[e.id] = by_rules[k]
    return out


def counted_attempt(attempts_of_learner: list[Attempt], method: str) -> Attempt | None:
    """The attempt that is the learner's result: the highest settled score, or the last settled attempt
    (pending ones count once graded; None while nothing is settled)."""
    settled = [a for a in attempts_of_learner if a.status == ATTEMPT_DONE]
    if not settled:
        return None
    if method == "last":
        return max(settled, key=lambda a: (a.submitted_at, a.id))
    return max(settled, key=lambda a: (a.score or 0, -a.id))


@dataclass
class LobbyCard:
    exam_id: int
    title: str
    description: str
    opens_at: datetime | None
    closes_at: datetime | None
    time_limit_minutes: int
    questions: int
    max_score: float
    pass_percent: float
    attempts_allowed: int          # 0 = unlimited
    attempts_used: int
    tab_switch_limit: int | None
    allow_copy: bool
    one_per_page: bool
    open_attempt_id: int | None = None       # in progress: resume this
    deadline_at: datetime | None = None
    status: str = "available"                # available | upcoming | in_progress | finished
    result_attempt_id: int | None = None     # the counted attempt (grading method)
    score: float | None = None               # per the review policy (None while hidden or pending)
    passed: bool | None = None
    pending: bool = False                    # an attempt waits for essay grading

    @property
    def attempts_left(self) -> int | None:
        return None if self.attempts_allowed == 0 else max(0, self.attempts_allowed - self.attempts_used)


@dataclass
class Lobby:
    available: list[LobbyCard]
    upcoming: list[LobbyCard]
    in_progress: list[LobbyCard]
    finished: list[LobbyCard]


def _card(session: Session, actor: Actor, exam: Exam, mine: list[Attempt], at: datetime,
          size: tuple[int, float] | None = None) -> LobbyCard:
    n, pts = size if size is not None else _paper_size(session, exam)
    card = LobbyCard(exam.id, exam.title, exam.description, exam.opens_at, exam.closes_at, exam.time_limit_minutes, n, pts,
                     exam.pass_percent, exam.attempts_allowed, len(mine), exam.tab_switch_limit, exam.allow_copy,
                     exam.one_per_page)
    open_ = next((a for a in mine if a.status == ATTEMPT_OPEN), None)
    counted = counted_attempt(mine, exam.grading_method)
    card.pending = any(a.status == ATTEMPT_PENDING for a in mine)
    if counted is not None:
        card.result_attempt_id = counted.id
        show_score = attempts.review_policy(session, counted, at)[0]
        card.score, card.passed = (counted.score, counted.passed) if show_score else (None, None)
    if open_ is not None:
        card.status, card.open_attempt_id, card.deadline_at = "in_progress", open_.id, open_.deadline_at
    elif exam.status == "published" and exam.opens_at is not None and at < exam.opens_at:
        card.status = "upcoming"
    elif _window_open(exam, at) and (exam.attempts_allowed == 0 or len(mine) < exam.attempts_allowed):
        card.status = "available"
    else:
        card.status = "finished"
    return card


def lobby(session: Session, actor: Actor) -> Lobby:
    """The acting learner's exams: available to start, upcoming, in progress (resume; an overdue attempt
    is finalised first), finished (the result per the grading method and review policy). Only exams
    whose audience includes the learner; a finished list keeps only exams the learner sat or could have."""
    require_role(actor, "learner")
    at = _now()
    path = _unit_path(session, actor.unit_id)
    listed = session.exec(select(Exam).where(col(Exam.status).in_(("published", "closed")))
                          .order_by(Exam.opens_at, Exam.id)).all()
    unit_ids = sorted({u for e in listed for u in (e.audience_units or [])})
    unit_paths = dict(session.exec(select(OrgUnit.id, OrgUnit.path).where(col(OrgUnit.id).in_(unit_ids))).all()) if unit_ids else {}
    exams = [e for e in listed if _in_audience_of(e, actor.id, path, unit_paths)]
    mine: dict[int, list[Attempt]] = {}
    if exams:
        for a in session.exec(select(Attempt).where(Attempt.user_id == actor.id, col(Attempt.exam_id).in_([e.id for e in exams]))
                              .execution_options(populate_existing=True)).all():
            attempts.finalise_if_overdue(session, a)
            mine.setdefault(a.exam_id, []).append(a)
    out = Lobby([], [], [], [])
    sizes = _paper_sizes(session, exams)
    for e in exams:
        card = _card(session, actor, e, mine.get(e.id, []), at, sizes[e.id])
        if card.status == "finished" and not mine.get(e.id):
            if e.status == "closed" or (e.closes_at and at >= e.closes_at):
                out.finished.append(card)      # missed: shown so the learner knows it is over
            continue
        getattr(out, card.status).append(card)
    return out


def exam_card(session: Session, actor: Actor, *, exam_id: int) -> LobbyCard:
    """What the learner reads before starting (the rules of the exam) or when coming back to it."""
    require_role(actor, "learner")
    exam = _exam(session, exam_id)
    if not _visible(session, actor, exam):
        raise NotFound(what="exam", id=exam_id)
    mine = list(session.exec(select(Attempt).where(Attempt.user_id == actor.id, Attempt.exam_id == exam_id)
                             .execution_options(populate_existing=True)).all())
    for a in mine:
        attempts.finalise_if_overdue(session, a)
    return _card(session, actor, exam, mine, _now())


def my_attempts(session: Session, actor: Actor, *, exam_id: int) -> list[attempts.AttemptView]:
    """Every attempt of the acting learner at this exam, newest first, as the review policy lets them see it."""
    require_role(actor, "learner")
    rows = session.exec(select(Attempt).where(Attempt.user_id == actor.id, Attempt.exam_id == exam_id)
                        .order_by(col(Attempt.started_at).desc(), col(Attempt.id).desc())
                        .execution_options(populate_existing=True)).all()
    out = []
    for a in rows:
        attempts.finalise_if_overdue(session, a)
        out.append(attempts.view(session, a))
    return out


def start_exam(session: Session, actor: Actor, *, exam_id: int) -> int:
    """Resume the learner's open attempt of this exam, or draw a paper and start one: the exam is
    published, its window open, the learner in its audience and attempts are left. The deadline
    min(now + time limit, close time) is stored. Two starts at once make one attempt."""
    require_role(actor, "learner")
    exam = _exam(session, exam_id)
    if not _visible(session, actor, exam):
        raise NotFound(what="exam", id=exam_id)
    mine = list(session.exec(select(Attempt).where(Attempt.user_id == actor.id, Attempt.exam_id == exam_id)
                             .execution_options(populate_existing=True)).all())
    for a in mine:
        if a.status == ATTEMPT_OPEN and not attempts.finalise_if_overdue(session, a):
            return a.id
    at = _now()
    if not _window_open(exam, at):
        raise ValidationFailed("error.exam_not_open")
    if exam.attempts_allowed and len(mine) >= exam.attempts_allowed:
        raise ValidationFailed("error.exam_no_attempts_left", allowed=exam.attempts_allowed)
    seed = papers.new_seed()
    try:
        paper = papers.draw_paper(session, seed=seed, rules=exam.rules, question_ids=exam.question_ids, purpose="exam",
                                  shuffle_questions=exam.shuffle_questions, shuffle_options=exam.shuffle_options)
    except papers.Unsatisfiable as exc:
        raise ValidationFailed("error.exam_unsatisfiable", problems="; ".join(exc.problems)) from None
    deadline = at + timedelta(minutes=exam.time_limit_minutes)
    if exam.closes_at is not None:
        deadline = min(deadline, exam.closes_at)
    return attempts.create_attempt(session, user_id=actor.id, kind="exam", paper=paper, seed=seed,
                                   pass_percent=exam.pass_percent, deadline_at=deadline, exam_id=exam_id, started_at=at)


def reward_pass(session: Session, attempt: Attempt) -> None:
    """An exam attempt settled as passed (services/attempts.settle): 学时 once per exam and learner,
    and the certificate when the exam gives one (services/certificates, when installed)."""
    exam = session.get(Exam, attempt.exam_id)
    if exam is None:
        return
    if exam.credit_hours:
        ledger.credit(session, user_id=attempt.user_id, hours=exam.credit_hours, source_type="exam",
                      source_id=f"exam-{exam.id}", course_id=exam.course_id,
                      reason=f"通过考试《{exam.title}》（{attempt.score:g}/{attempt.max_score:g} 分），计 {exam.credit_hours:g} 学时")
    if exam.certificate:
        issue_certificate(session, attempt.id)


def withdraw_pass(session: Session, attempt: Attempt) -> None:
    """A settled exam attempt is no longer passed (a review, a regrade): its certificate, if any, is
    revoked (services.certificates.withdraw_for_attempt, when installed). The 学时 stay credited (the
    ledger is append-only; an admin adjusts it when needed) and the audit row of the regrade says why."""
    try:
        from services import certificates
    except ImportError:
        return
    withdraw = getattr(certificates, "withdraw_for_attempt", None)
    if withdraw is not None:
        withdraw(session, attempt.id)


def issue_certificate(session: Session, attempt_id: int) -> Any:
    """services.certificates.issue_for_attempt(session, attempt_id) when that module exists (else None)."""
    try:
        from services import certificates
    except ImportError:
        return None
    issue = getattr(certificates, "issue_for_attempt", None)
    return issue(session, attempt_id) if issue is not None else None


# ---- results --------------------------------------------------------------------------------------

@dataclass
class AttemptResult:
    attempt_id: int
    user_id: int
    username: str
    name: str
    unit: str | None
    status: str
    score: float | None
    max_score: float
    passed: bool | None
    started_at: datetime
    submitted_at: datetime | None
    time_used_seconds: int | None
    answered: int
    questions: int
    tab_switches: int
    auto_submitted: bool
    counted: bool          # this attempt is the learner's result (grading method)

    def as_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for k in ("started_at", "submitted_at"):
            out[k] = out[k].isoformat() if out[k] else None
        return out


@dataclass
class ExamResults:
    exam: ExamPublic
    attempts: list[AttemptResult]

    @property
    def learners(self) -> int:
        return len({a.user_id for a in self.attempts})

    @property
    def passed(self) -> int:
        return sum(1 for a in self.attempts if a.counted and a.passed)

    def as_json(self) -> dict[str, Any]:
        return {"exam": self.exam.as_json(), "attempts": [a.as_json() for a in self.attempts]}


def _answered(response: Any) -> bool:
    return response is not None and response != [] and response != {} and not (isinstance(response, str) and not response.strip())


def results(session: Session, actor: Actor, *, exam_id: int) -> ExamResults:
    """Every attempt of the exam with status, score, time used, answered items and tab switches (overdue
    ones are finalised first), ordered by learner then start."""
    exam = _exam(session, exam_id)
    _can_manage(session, actor, exam)
    for a in session.exec(select(Attempt).where(Attempt.exam_id == exam_id, Attempt.status == ATTEMPT_OPEN)).all():
        attempts.finalise_if_overdue(session, a)
    rows = session.exec(select(Attempt, User.username, User.name, OrgUnit.name)
                        .join(User, User.id == Attempt.user_id).join(OrgUnit, OrgUnit.id == User.unit_id, isouter=True)
                        .where(Attempt.exam_id == exam_id).order_by(User.username, Attempt.started_at, Attempt.id)
                        .execution_options(populate_existing=True)).all()
    answered: dict[int, int] = {}
    total: dict[int, int] = {}
    if rows:
        for attempt_id, response in session.exec(select(AttemptItem.attempt_id, AttemptItem.response).join(
                Attempt, Attempt.id == AttemptItem.attempt_id).where(Attempt.exam_id == exam_id)).all():
            total[attempt_id] = total.get(attempt_id, 0) + 1
            answered[attempt_id] = answered.get(attempt_id, 0) + _answered(response)
    by_user: dict[int, list[Attempt]] = {}
    for a, *_ in rows:
        by_user.setdefault(a.user_id, []).append(a)
    counted = {u: c.id for u, lst in by_user.items() if (c := counted_attempt(lst, exam.grading_method)) is not None}
    out = []
    for a, username, name, unit in rows:
        used = int((a.submitted_at - a.started_at).total_seconds()) if a.submitted_at else None
        out.append(AttemptResult(a.id, a.user_id, username, name, unit, a.status, a.score, a.max_score, a.passed,
                                 a.started_at, a.submitted_at, used, answered.get(a.id, 0), total.get(a.id, 0),
                                 a.tab_switches, a.auto_submitted, counted.get(a.user_id) == a.id))
    return ExamResults(_public(exam), out)


STATUS_ZH = {"in_progress": "进行中", "pending_grading": "待阅卷", "submitted": "已交卷"}


def results_xlsx(session: Session, actor: Actor, *, exam_id: int) -> bytes:
    """The results as an .xlsx through the one safe writer (user strings stored as text)."""
    from models.db import LOCAL_TZ
    from services.spreadsheets import Column, table_xlsx
    res = results(session, actor, exam_id=exam_id)

    def local(d: datetime | None) -> Any:
        return d.astimezone(LOCAL_TZ).replace(tzinfo=None) if d else None
    columns = [Column("用户名"), Column("姓名"), Column("单位"), Column("状态"), Column("得分", 8, "0.00"),
               Column("满分", 8, "0.00"), Column("是否通过", 8), Column("开始时间", 18, "yyyy-mm-dd hh:mm:ss"),
               Column("交卷时间", 18, "yyyy-mm-dd hh:mm:ss"), Column("用时（分钟）", 10, "0.0"), Column("已答题数", 8),
               Column("题数", 6), Column("切屏次数", 8), Column("到时自动交卷", 10), Column("计入成绩", 8)]
    rows = [[a.username, a.name, a.unit or "", STATUS_ZH.get(a.status, a.status), a.score, a.max_score,
             "" if a.passed is None else ("是" if a.passed else "否"), local(a.started_at), local(a.submitted_at),
             round(a.time_used_seconds / 60, 1) if a.time_used_seconds is not None else None, a.answered, a.questions,
             a.tab_switches, "是" if a.auto_submitted else "否", "是" if a.counted else ""] for a in res.attempts]
    title = f"考试成绩：{res.exam.title}"
    return table_xlsx(columns=columns, rows=rows, sheet="成绩", title_rows=[title])


def regrade_exam(session: Session, actor: Actor, *, exam_id: int, question_id: str) -> attempts.RegradeReport:
    """A question's key was corrected (a new version): apply the corrected version to every attempt of
    this exam that holds the question and re-score them (human essay scores stay). Audited."""
    exam = _exam(session, exam_id)
    _can_manage(session, actor, exam)
    ids = list(session.exec(select(Attempt.id).where(Attempt.exam_id == exam_id)).all())
    report = attempts.regrade(session, actor, attempt_ids=ids, question_id=question_id, actor_note=f"exam {exam_id}")
    audit.record(session, actor.id, "exam.regrade", exam=exam_id, question=question_id, items=report.items,
                 changed=len(report.changed))
    session.flush()
    return report


# ---- the trainer's pages ---------------------------------------------------------------------------

@dataclass
class ExamRow:
    """One line of the trainer's list: the exam and how its attempts stand."""
    exam: ExamPublic
    attempts: int = 0
    learners: int = 0
    in_progress: int = 0
    pending: int = 0             # waiting for essay grading
    submitted: int = 0
    passed: int = 0


def exam_rows(session: Session, actor: Actor, *, status: str | None = None) -> list[ExamRow]:
    """The exams the trainer manages (list_exams) with attempt counts per status (one grouped query)."""
    from sqlalchemy import case, distinct
    listed = list_exams(session, actor, status=status)
    out = {e.id: ExamRow(e) for e in listed}
    if out:
        q = (select(Attempt.exam_id, Attempt.status, func.count(Attempt.id), func.count(distinct(Attempt.user_id)),
                    func.sum(case((Attempt.passed == True, 1), else_=0)))  # noqa: E712
             .where(col(Attempt.exam_id).in_(list(out))).group_by(Attempt.exam_id, Attempt.status))
        for exam_id, st, n, _people, passed in session.exec(q).all():
            row = out[exam_id]
            row.attempts += n
            if st == ATTEMPT_OPEN:
                row.in_progress += n
            elif st == ATTEMPT_PENDING:
                row.pending += n
            else:
                row.submitted += n
                row.passed += int(passed or 0)
        for exam_id, people in session.exec(select(Attempt.exam_id, func.count(distinct(Attempt.user_id)))
                                            .where(col(Attempt.exam_id).in_(list(out))).group_by(Attempt.exam_id)).all():
            out[exam_id].learners = people
    return [out[e.id] for e in listed]


@dataclass
class Person:
    id: int
    username: str
    name: str
    unit: str | None

    def label(self) -> str:
        return f"{self.name}（{self.username}）" + (f" · {self.unit}" if self.unit else "")


def audience_people(session: Session, actor: Actor, *, text: str = "", ids: list[int] | None = None,
                    limit: int = 30) -> list[Person]:
    """People a trainer may name in an exam's audience: active users whose unit lies in the trainer's scope,
    matching `text` (username or name), or exactly `ids` (to show a saved audience)."""
    require_role(actor, "trainer")
    paths = scope_paths(actor, "trainer")
    q = (select(User.id, User.username, User.name, OrgUnit.name, OrgUnit.path)
         .join(OrgUnit, OrgUnit.id == User.unit_id, isouter=True))
    if ids is not None:
        if not ids:
            return []
        q = q.where(col(User.id).in_(ids))
    else:
        text = clean_text(text or "", field="search", max_length=100).strip()
        if not text:
            return []
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        q = q.where(User.active, col(User.username).ilike(like, escape="\\") | col(User.name).ilike(like, escape="\\"))
    if ALL not in paths:
        from sqlalchemy import or_
        q = q.where(or_(*[col(OrgUnit.path).startswith(p, autoescape=True) for p in paths]))
    rows = session.exec(q.order_by(User.username).limit(limit if ids is None else len(ids))).all()
    return [Person(uid, username, name, unit) for uid, username, name, unit, _path in rows]


def audience_labels(session: Session, actor: Actor, *, exams_: list[ExamPublic]) -> dict[int, tuple[list[str], list[str]]]:
    """Per exam id, (unit labels, person labels) of its audience, for display (the unit tree and the people
    read once for the whole list)."""
    from services.org import unit_labels
    require_role(actor, "trainer")
    labels = unit_labels(session) if any(e.audience_units for e in exams_) else {}
    ids = sorted({u for e in exams_ for u in e.audience_users})
    people = {p.id: p.label() for p in audience_people(session, actor, ids=ids)} if ids else {}
    return {e.id: ([labels.get(u, str(u)) for u in e.audience_units], [people.get(u, str(u)) for u in e.audience_users])
            for e in exams_}


@dataclass
class GradingProgress:
    essays: int = 0          # essay items of closed attempts
    blank: int = 0           # of them unanswered: scored 0 without a grader
    graded: int = 0          # scored by a grader (round 1)
    reviewed: int = 0        # reviewed by a second grader (round 2)
    waiting: int = 0         # answered, no score yet
    attempts_pending: int = 0

    @property
    def done_fraction(self) -> float:
        todo = self.essays - self.blank
        return 1.0 if todo <= 0 else (todo - self.waiting) / todo


def grading_progress(session: Session, actor: Actor, *, exam_id: int) -> GradingProgress:
    """How far essay grading of this exam has come (the grading queue's progress bar)."""
    exam = _exam(session, exam_id)
    _can_manage(session, actor, exam)
    from models import EssayGrade
    rows = session.exec(select(AttemptItem.id, AttemptItem.response, AttemptItem.score)
                        .join(Attempt, Attempt.id == AttemptItem.attempt_id)
                        .join(QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id)
                        .where(Attempt.exam_id == exam_id, Attempt.status != ATTEMPT_OPEN,
                               QuestionVersion.type == "essay")).all()
    out = GradingProgress(essays=len(rows))
    ids = [r[0] for r in rows]
    rounds: dict[int, set[int]] = {}
    if ids:
        for item_id, rnd in session.exec(select(EssayGrade.attempt_item_id, EssayGrade.round)
                                         .where(col(EssayGrade.attempt_item_id).in_(ids))).all():
            rounds.setdefault(item_id, set()).add(rnd)
    for item_id, response, score in rows:
        if not _answered(response):
            out.blank += 1
        elif score is None:
            out.waiting += 1
        out.graded += 1 in rounds.get(item_id, set())
        out.reviewed += 2 in rounds.get(item_id, set())
    out.attempts_pending = session.exec(select(func.count(Attempt.id)).where(
        Attempt.exam_id == exam_id, Attempt.status == ATTEMPT_PENDING)).one()
    return out


@dataclass
class PaperQuestion:
    question_id: str
    version: int
    type: str
    category: str
    points: float
    text: str


def paper_questions(session: Session, actor: Actor, *, exam_id: int) -> list[PaperQuestion]:
    """The questions the exam's attempts hold (for regrading after a key fix): every question on any drawn
    paper, with its current version and text; a fixed paper's list before anyone has sat it."""
    from models import Question
    exam = _exam(session, exam_id)
    _can_manage(session, actor, exam)
    held = set(session.exec(select(QuestionVersion.question_id).join(
        AttemptItem, AttemptItem.question_version_id == QuestionVersion.id).join(
        Attempt, Attempt.id == AttemptItem.attempt_id).where(Attempt.exam_id == exam_id).distinct()).all())
    held |= set(exam.question_ids or [])
    if not held:
        return []
    rows = session.exec(select(QuestionVersion).join(Question, (Question.id == QuestionVersion.question_id)
                                                     & (Question.current_version == QuestionVersion.version))
                        .where(col(QuestionVersion.question_id).in_(sorted(held))).order_by(QuestionVersion.question_id)).all()
    return [PaperQuestion(v.question_id, v.version, v.type, v.category, v.points, v.data.get("text", "")) for v in rows]


def question_briefs(session: Session, actor: Actor, *, question_ids: list[str]) -> list[PaperQuestion]:
    """The current versions of these questions in the order given (a fixed paper in the builder); unknown
    ids are left out (check_paper names them)."""
    from models import Question
    require_role(actor, "trainer")
    if not question_ids:
        return []
    rows = {v.question_id: v for v in session.exec(select(QuestionVersion).join(
        Question, (Question.id == QuestionVersion.question_id) & (Question.current_version == QuestionVersion.version))
        .where(col(QuestionVersion.question_id).in_(question_ids))).all()}
    return [PaperQuestion(q, v.version, v.type, v.category, v.points, v.data.get("text", ""))
            for q in question_ids if (v := rows.get(q)) is not None]


@dataclass
class ExamAuditRow:
    at: datetime
    username: str | None
    action: str
    detail: dict[str, Any]


EXAM_ACTIONS = ("exam.create", "exam.update", "exam.publish", "exam.close", "exam.regrade")


def exam_audit(session: Session, actor: Actor, *, exam_id: int, actions: tuple[str, ...] = EXAM_ACTIONS,
               limit: int = 50) -> list[ExamAuditRow]:
    """The audit rows of this exam (newest first): who created, changed, published, closed or regraded it."""
    from models import AuditLog
    exam = _exam(session, exam_id)
    _can_manage(session, actor, exam)
    rows = session.exec(select(AuditLog.at, User.username, AuditLog.action, AuditLog.detail)
                        .join(User, User.id == AuditLog.actor_id, isouter=True)
                        .where(col(AuditLog.action).in_(actions))
                        .order_by(col(AuditLog.at).desc(), col(AuditLog.id).desc())).all()
    out = [ExamAuditRow(at, username, action, dict(detail or {})) for at, username, action, detail in rows
           if isinstance(detail, dict) and detail.get("exam") == exam_id]
    return out[:limit]


# ---- the CLI's spec --------------------------------------------------------------------------------

SPEC_KEYS = {"title", "description", "course", "rules", "questions", "opens_at", "closes_at", "time_limit_minutes",
             "attempts", "pass_percent", "audience", "credit_hours", "certificate", "grading_method",
             "shuffle_questions", "shuffle_options", "one_per_page", "review_score", "review_answers",
             "review_explanations", "mc_scoring", "tab_switch_limit", "allow_copy", "publish"}


def exam_in_from_spec(session: Session, spec: dict[str, Any]) -> tuple[ExamIn, bool]:
    """A YAML spec (`cli.py exams create --spec`) as an ExamIn, unit codes and usernames resolved to ids;
    times without a zone are the city's (UTC+8). Returns (exam_in, publish)."""
    from models.db import LOCAL_TZ
    if not isinstance(spec, dict):
        raise ValidationFailed("error.exam_invalid", problems="the spec must be a mapping")
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise ValidationFailed("error.exam_invalid", problems=f"unknown keys: {', '.join(unknown)}")
    data = {k: v for k, v in spec.items() if k not in ("course", "questions", "attempts", "audience", "publish")}
    if "course" in spec:
        data["course_id"] = spec["course"]
    if "questions" in spec:
        data["question_ids"] = [str(q) for q in spec["questions"] or []]
    if "attempts" in spec:
        data["attempts_allowed"] = spec["attempts"]
    for k in ("opens_at", "closes_at"):
        v = data.get(k)
        if isinstance(v, str):
            try:
                v = datetime.fromisoformat(v)
            except ValueError:
                raise ValidationFailed("error.exam_invalid", problems=f"{k}: not a date and time: {v}") from None
        if isinstance(v, datetime) and v.tzinfo is None:
            v = v.replace(tzinfo=LOCAL_TZ)
        if v is not None:
            data[k] = v
    audience = spec.get("audience") or {}
    if not isinstance(audience, dict) or set(audience) - {"units", "users"}:
        raise ValidationFailed("error.exam_invalid", problems="audience: {units: [codes], users: [usernames]}")
    codes = [str(c) for c in audience.get("units") or []]
    names = [str(n) for n in audience.get("users") or []]
    units = dict(session.exec(select(OrgUnit.code, OrgUnit.id).where(col(OrgUnit.code).in_(codes))).all()) if codes else {}
    missing = [c for c in codes if c not in units]
    if missing:
        raise ValidationFailed("error.exam_invalid", problems=f"no such unit: {', '.join(missing)}")
    users = dict(session.exec(select(User.username, User.id).where(col(User.username).in_(names))).all()) if names else {}
    missing = [n for n in names if n not in users]
    if missing:
        raise ValidationFailed("error.exam_invalid", problems=f"no such user: {', '.join(missing)}")
    data["audience_units"] = [units[c] for c in codes]
    data["audience_users"] = [users[n] for n in names]
    return parse_exam_in(data), bool(spec.get("publish", False))
