"""Every kind of attempt (course quiz, exam; practice and mock exam later): start, save, tab switches,
submit, finalise at the deadline, sweep, essay grading with a second grader, regrade, the learner's view.

Units of work: these functions flush, never commit; the caller commits once per user action.

The life cycle (design §5):
- the paper (question versions, points, option order) is drawn once by services/papers.py and stored as
  attempt_item rows; the seed is stored on the attempt;
- at most one open attempt per learner and course quiz (uq_attempt_open) and per learner and exam
  (uq_attempt_open_exam): the insert skips on conflict, and the loser of a race resumes the winner's;
- every save is one conditional UPDATE of the item: it names the version it replaces (a stale tab is
  refused) and applies only while the attempt is open and before its deadline (server clock);
- closing is one conditional UPDATE ... WHERE status = 'in_progress': two tabs, a double click or a sweep
  close it once; a save racing the close is either in the graded answers or refused;
- an attempt past its deadline is finalised with what was saved on next access (`attempt_view`,
  `open_attempt...`) and by the sweep (`sweep_overdue`, the server's thread `start_sweeper`, `cli exams sweep`);
- an answered essay leaves the attempt "pending_grading" until a grader scores it; then it is final.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, insert, text, update
from sqlmodel import Session, col, select

import models.db as clock   # the server clock: clock.utcnow() (tests patch models.db.utcnow)
from models import Attempt, AttemptEvent, AttemptItem, EssayGrade, Exam, OrgUnit, QuestionVersion, User
from models.learning import ATTEMPT_DONE, ATTEMPT_OPEN, ATTEMPT_PENDING, OPEN_ATTEMPT_WHERE, OPEN_EXAM_ATTEMPT_WHERE
from services import audit, ledger
from services.errors import NotFound, PermissionDenied, ValidationFailed
from services.grading import correct_response, fraction, valid_response
from services.papers import Paper
from services.permissions import Actor, require_admin, require_scope
from services.text import clean_text

log = logging.getLogger(__name__)
TAB_EVENTS = ("hidden", "blur")


def now() -> datetime:
    return clock.utcnow()


# ---- scoring --------------------------------------------------------------------------------------

def item_score(record: dict[str, Any], response: Any, points: float, mc_scoring: str = "proportional") -> float | None:
    """Score of one response on the paper's points; None: an answered essay waits for a human.
    mc_scoring "all_or_nothing": a multiple-choice item earns its points only for exactly the keyed set;
    "proportional": the option fractions add up, wrong picks subtract (services/grading). Never below 0
    nor above the points."""
    if record["type"] == "multiple_choice" and mc_scoring == "all_or_nothing":
        if not valid_response(record, response) or not response:
            return 0.0
        return float(points) if sorted(set(response)) == correct_response(record) else 0.0
    f = fraction(record, response)
    return None if f is None else min(points, max(0.0, round(f * points, 4)))


# ---- creating an attempt --------------------------------------------------------------------------

def create_attempt(session: Session, *, user_id: int, kind: str, paper: Paper, seed: int, pass_percent: float,
                   deadline_at: datetime | None, course_id: str | None = None, exam_id: int | None = None,
                   started_at: datetime | None = None) -> int:
    """Store a drawn paper as a new open attempt; returns its id. When the learner already has an open
    attempt of the same quiz or exam (a race of two starts), nothing is written and the open one's id is
    returned."""
    started_at = started_at or now()
    values = {"user_id": user_id, "kind": kind, "course_id": course_id, "exam_id": exam_id, "started_at": started_at,
              "deadline_at": deadline_at, "status": ATTEMPT_OPEN, "auto_submitted": False, "seed": seed,
              "tab_switches": 0, "pass_percent": pass_percent, "max_score": paper.max_score}
    if exam_id is not None:
        key, where = ["user_id", "exam_id"], text(OPEN_EXAM_ATTEMPT_WHERE)
    else:
        key, where = ["user_id", "course_id", "kind"], text(OPEN_ATTEMPT_WHERE)
    attempt_id = ledger.insert_once(session, Attempt, values, index_elements=key, index_where=where, returning=Attempt.id)
    if attempt_id is None:   # lost a race with another start: resume the winner's attempt
        q = select(Attempt.id).where(Attempt.user_id == user_id, Attempt.status == ATTEMPT_OPEN)
        q = q.where(Attempt.exam_id == exam_id) if exam_id is not None else q.where(
            Attempt.course_id == course_id, Attempt.kind == kind, Attempt.exam_id.is_(None))
        winner = session.exec(q).first()
        if winner is None:
            raise ValidationFailed("error.attempt_closed")
        return winner
    session.execute(insert(AttemptItem.__table__), [
        {"attempt_id": attempt_id, "position": it.position, "question_version_id": it.version_id, "points": it.points,
         "option_order": it.option_order, "response": None, "saved_at": None, "version": 0, "score": None,
         "flagged": False} for it in paper.items])
    session.flush()
    return attempt_id


# ---- reading ----------------------------------------------------------------------------------------

def own_attempt(session: Session, actor: Actor, attempt_id: int) -> Attempt:
    attempt = session.exec(select(Attempt).where(Attempt.id == attempt_id).execution_options(populate_existing=True)).first()
    if attempt is None:
        raise NotFound(what="attempt", id=attempt_id)
    if attempt.user_id != actor.id:
        raise PermissionDenied("error.not_your_attempt")
    return attempt


def learner_view(record: dict[str, Any], order: list[int] | None) -> dict[str, Any]:
    """What a learner may see of a question while answering: no fractions, keys or explanations."""
    view: dict[str, Any] = {"type": record["type"], "text": record["text"], "title": record.get("title")}
    if record["type"] in ("single_choice", "multiple_choice"):
        idx = order or list(range(len(record["options"])))
        view["options"] = [(i, record["options"][i]["text"]) for i in idx]
    elif record["type"] == "matching":
        view["lefts"] = [p["left"] for p in record["pairs"] if p["left"].strip()]
        idx = order or list(range(len(record["pairs"])))
        view["rights"] = [record["pairs"][i]["right"] for i in idx]
    return view


@dataclass
class ItemView:
    item_id: int
    position: int
    points: float
    question: dict[str, Any]       # learner_view(...): never a key, fraction or explanation
    response: Any
    score: float | None = None     # only once the review policy shows scores; None also while an essay waits
    key: Any = None                # only once the review policy allows right answers
    explanation: str | None = None # only once the review policy allows explanations
    version: int = 0               # the saved version; save_answer names it
    pending: bool = False          # waits for a human score
    flagged: bool = False
    saved_at: datetime | None = None
    comment: str | None = None     # the grader's comment on an essay (with the score)

    @property
    def answered(self) -> bool:
        r = self.response
        return r is not None and r != [] and r != {} and not (isinstance(r, str) and not r.strip())


@dataclass
class AttemptView:
    attempt_id: int
    course_id: str | None
    status: str                    # in_progress | pending_grading | submitted
    items: list[ItemView]
    score: float | None            # None while the review policy hides it
    max_score: float
    pass_percent: float
    passed: bool | None
    started_at: datetime | None = None
    submitted_at: datetime | None = None
    deadline_at: datetime | None = None
    auto_submitted: bool = False
    kind: str = "quiz"
    exam_id: int | None = None
    title: str | None = None
    tab_switches: int = 0
    tab_switch_limit: int | None = None
    allow_copy: bool = True
    one_per_page: bool = True
    show_score: bool = True
    show_answers: bool = False
    show_explanations: bool = False
    server_now: datetime | None = None

    @property
    def closed(self) -> bool:
        return self.status != ATTEMPT_OPEN

    @property
    def remaining_seconds(self) -> int | None:
        """From the stored deadline and the server clock at reading time (the countdown is display only)."""
        if self.deadline_at is None or self.closed:
            return None
        return max(0, int((self.deadline_at - (self.server_now or now())).total_seconds()))

    @property
    def answered(self) -> int:
        return sum(1 for i in self.items if i.answered)


def _review_allowed(when: str, attempt: Attempt, exam: Exam, at: datetime) -> bool:
    if when == "never" or attempt.status == ATTEMPT_OPEN:
        return False
    if when == "after_submit":
        return True
    return exam.status == "closed" or (exam.closes_at is not None and at >= exam.closes_at)


def review_policy(session: Session, attempt: Attempt, at: datetime | None = None) -> tuple[bool, bool, bool]:
    """(scores, right answers, explanations) the owner may see now. Course quiz: scores after submission,
    keys and explanations only once passed (a failed attempt must not hand out the answers for the retake).
    Exam: its review_score / review_answers / review_explanations (never | after_submit | after_close)."""
    at = at or now()
    if attempt.exam_id is None:
        closed = attempt.status != ATTEMPT_OPEN
        # practice, mock exams and notebook reviews can hold exam-only questions: their keys come only through
        # services/practice.practice_view, which applies each question's own exam policy
        keys = attempt.status == ATTEMPT_DONE and bool(attempt.passed) and attempt.kind == "quiz"
        return closed, keys, keys
    exam = session.get(Exam, attempt.exam_id)
    return (_review_allowed(exam.review_score, attempt, exam, at), _review_allowed(exam.review_answers, attempt, exam, at),
            _review_allowed(exam.review_explanations, attempt, exam, at))


def view(session: Session, attempt: Attempt) -> AttemptView:
    """The attempt as its owner may see it now (no finalising: see attempt_view)."""
    at = now()
    rows = session.exec(select(AttemptItem, QuestionVersion).join(QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id)
                        .where(AttemptItem.attempt_id == attempt.id).order_by(AttemptItem.position)
                        .execution_options(populate_existing=True)).all()
    scores, keys, explain = review_policy(session, attempt, at)
    comments: dict[int, str] = {}
    if scores and any(v.type == "essay" for _, v in rows):
        for item_id, _round, comment in session.exec(select(EssayGrade.attempt_item_id, EssayGrade.round, EssayGrade.comment)
                                                  .where(col(EssayGrade.attempt_item_id).in_([it.id for it, _ in rows]))
                                                  .order_by(EssayGrade.round)).all():
            comments[item_id] = comment
    closed = attempt.status != ATTEMPT_OPEN
    items = [ItemView(it.id, it.position, it.points, learner_view(v.data, it.option_order), it.response,
                      it.score if scores else None, correct_response(v.data) if keys else None,
                      v.data.get("explanation") if explain else None, it.version, closed and it.score is None,
                      it.flagged, it.saved_at, comments.get(it.id) if scores else None) for it, v in rows]
    exam = session.get(Exam, attempt.exam_id) if attempt.exam_id is not None else None
    return AttemptView(
        attempt.id, attempt.course_id, attempt.status, items, attempt.score if scores else None, attempt.max_score,
        attempt.pass_percent, attempt.passed if scores else None, attempt.started_at, attempt.submitted_at,
        attempt.deadline_at, attempt.auto_submitted, attempt.kind, attempt.exam_id, exam.title if exam else None,
        attempt.tab_switches, exam.tab_switch_limit if exam else None, exam.allow_copy if exam else True,
        exam.one_per_page if exam else True, scores, keys, explain, at)


def attempt_view(session: Session, actor: Actor, *, attempt_id: int) -> AttemptView:
    """An attempt as its owner may see it now. Opening an attempt past its deadline finalises it first."""
    attempt = own_attempt(session, actor, attempt_id)
    finalise_if_overdue(session, attempt)
    return view(session, attempt)


# ---- answering --------------------------------------------------------------------------------------

# save_answer's statements, built once: it runs on every answer change of every examinee (500 at once in
# bench/exam_saves.py), and building SQLAlchemy statements per call was a third of its CPU time.
# `FOR SHARE OF attempt` (PostgreSQL; SQLite renders nothing) holds a share lock on the attempt row until the
# save commits, so a submission (which updates that row) waits for it and then grades it, and a save after
# the submission sees it closed. SQLite has no row locks: its writers are serialised and the condition of
# the update runs inside the write.
_SAVE_READ = (select(AttemptItem.attempt_id, AttemptItem.position, Attempt.user_id, QuestionVersion.data)
              .join(Attempt, Attempt.id == AttemptItem.attempt_id)
              .join(QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id)
              .where(AttemptItem.id == bindparam("item_id"))
              .with_for_update(read=True, of=Attempt))
_SAVE_WRITE = (update(AttemptItem)
               .where(AttemptItem.id == bindparam("item_id"), AttemptItem.score.is_(None),
                      # an item of an open attempt with a score was checked (practice: practice.check_answer)
                      exists().where(Attempt.id == AttemptItem.attempt_id, Attempt.status == ATTEMPT_OPEN,
                                     (Attempt.deadline_at == None)  # noqa: E711
                                     | (Attempt.deadline_at > bindparam("at"))))
               .values(response=bindparam("response"), saved_at=bindparam("at"), version=AttemptItem.version + 1)
               .returning(AttemptItem.version))
_SAVE_WRITE_IF_UNCHANGED = _SAVE_WRITE.where(AttemptItem.version == bindparam("expected_version"))


def save_answer(session: Session, actor: Actor, *, item_id: int, response: Any,
                expected_version: int | None = None) -> int:
    """Write one answer at once (every change is saved); returns the item's new version.
    `expected_version` is the version the page showed: when another window saved this item since, the
    save is refused (error.answer_changed_elsewhere) instead of overwriting it; pages always pass it
    (None skips that check, for scripts). Refused as well once the attempt is closed
    (error.attempt_closed) or its deadline has passed (error.attempt_overdue, server clock)."""
    conn = session.connection()      # Core statements: no ORM objects are loaded or changed here
    row = conn.execute(_SAVE_READ, {"item_id": item_id}).first()
    if row is None:
        raise NotFound(what="item", id=item_id)
    attempt_id, position, owner, record = row
    if owner != actor.id:
        raise PermissionDenied("error.not_your_attempt")
    if not valid_response(record, response):
        raise ValidationFailed("error.bad_response")
    if isinstance(response, str):
        clean_text(response, field="answer", multiline=True, max_length=20_000)
    at = now()
    params = {"item_id": item_id, "at": at, "response": response}
    if expected_version is None:
        new_version = conn.execute(_SAVE_WRITE, params).scalar_one_or_none()
    else:
        new_version = conn.execute(_SAVE_WRITE_IF_UNCHANGED, {**params, "expected_version": expected_version}
                                   ).scalar_one_or_none()
    if new_version is None:
        status, deadline_at = session.exec(select(Attempt.status, Attempt.deadline_at).where(Attempt.id == attempt_id)).one()
        if status != ATTEMPT_OPEN:
            raise ValidationFailed("error.attempt_closed")
        if deadline_at is not None and at >= deadline_at:
            raise ValidationFailed("error.attempt_overdue")
        if session.exec(select(AttemptItem.score).where(AttemptItem.id == item_id)).one() is not None:
            raise ValidationFailed("error.item_checked", position=position)
        raise ValidationFailed("error.answer_changed_elsewhere", position=position)
    return new_version


def set_flag(session: Session, actor: Actor, *, item_id: int, flagged: bool) -> None:
    """Mark an item to come back to (the palette shows it); only while the attempt is open."""
    item = session.get(AttemptItem, item_id)
    if item is None:
        raise NotFound(what="item", id=item_id)
    own_attempt(session, actor, item.attempt_id)
    done = session.execute(update(AttemptItem).where(
        AttemptItem.id == item_id, exists().where(Attempt.id == AttemptItem.attempt_id, Attempt.status == ATTEMPT_OPEN))
        .values(flagged=bool(flagged)).execution_options(synchronize_session=False)).rowcount == 1
    session.expire(item)
    if not done:
        raise ValidationFailed("error.attempt_closed")


@dataclass
class TabSwitch:
    count: int                 # switches recorded for this attempt so far
    limit: int | None          # the exam's limit (None: counted only)
    submitted: bool            # this switch went past the limit and submitted the attempt
    warning: bool = True       # tell the learner (every switch is)


def record_tab_switch(session: Session, actor: Actor, *, attempt_id: int, kind: str = "hidden") -> TabSwitch:
    """The browser reports that the learner left the page (visibilitychange "hidden" or a blur). Stored
    with the server time; past the exam's tab_switch_limit the attempt is submitted with what was saved.
    Ignored (nothing stored) once the attempt is closed."""
    if kind not in TAB_EVENTS:
        raise ValidationFailed("error.bad_event")
    attempt = own_attempt(session, actor, attempt_id)
    exam = session.get(Exam, attempt.exam_id) if attempt.exam_id is not None else None
    limit = exam.tab_switch_limit if exam else None
    if finalise_if_overdue(session, attempt):
        return TabSwitch(attempt.tab_switches, limit, False, False)
    at = now()
    counted = session.execute(update(Attempt).where(Attempt.id == attempt_id, Attempt.status == ATTEMPT_OPEN)
                              .values(tab_switches=Attempt.tab_switches + 1)
                              .execution_options(synchronize_session=False)).rowcount == 1
    session.refresh(attempt)
    if not counted:
        return TabSwitch(attempt.tab_switches, limit, False, False)
    session.add(AttemptEvent(attempt_id=attempt_id, at=at, kind=kind))
    session.flush()
    submitted = False
    if limit is not None and attempt.tab_switches > limit:
        submitted = finalise(session, attempt, at=at, auto=True)
        audit.record(session, actor.id, "attempt.tab_limit", attempt=attempt_id, switches=attempt.tab_switches)
    return TabSwitch(attempt.tab_switches, limit, submitted)


def tab_events(session: Session, attempt_id: int) -> list[tuple[datetime, str]]:
    return list(session.exec(select(AttemptEvent.at, AttemptEvent.kind).where(AttemptEvent.attempt_id == attempt_id)
                             .order_by(AttemptEvent.at, AttemptEvent.id)).all())


# ---- closing ----------------------------------------------------------------------------------------

def _mc_scoring(session: Session, attempt: Attempt) -> str:
    if attempt.exam_id is None:
        return "proportional"
    return session.exec(select(Exam.mc_scoring).where(Exam.id == attempt.exam_id)).one()


def finalise(session: Session, attempt: Attempt, *, at: datetime, auto: bool = False) -> bool:
    """Close an open attempt with what was saved, grade it and settle it. Exactly once: the status flips
    in one conditional UPDATE, and only the caller whose UPDATE matched grades. Returns whether this call
    closed it."""
    flipped = session.execute(
        update(Attempt).where(Attempt.id == attempt.id, Attempt.status == ATTEMPT_OPEN)
        .values(status=ATTEMPT_PENDING, submitted_at=at, auto_submitted=auto)
        .execution_options(synchronize_session=False)).rowcount == 1
    if not flipped:
        session.refresh(attempt)
        return False
    _grade_items(session, attempt)
    settle(session, attempt.id)
    session.refresh(attempt)
    return True


def _grade_items(session: Session, attempt: Attempt, *, keep_human: bool = False) -> None:
    """Score every item from its saved answer (fresh from the database). keep_human: an essay that a
    grader scored keeps that score (regrading)."""
    mc = _mc_scoring(session, attempt)
    rows = session.exec(select(AttemptItem.id, AttemptItem.response, AttemptItem.points, AttemptItem.score,
                               QuestionVersion.data)
                        .join(QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id)
                        .where(AttemptItem.attempt_id == attempt.id)).all()
    changes = []
    for item_id, response, points, old, data in rows:
        if keep_human and data["type"] == "essay":
            continue
        new = item_score(data, response, points, mc)
        if new != old:
            changes.append({"item": item_id, "new_score": new})
    if changes:   # one executemany, not a statement per item
        table = AttemptItem.__table__
        session.execute(table.update().where(table.c.id == bindparam("item")).values(score=bindparam("new_score")), changes)
    session.flush()


def settle(session: Session, attempt_id: int) -> None:
    """pending_grading -> submitted once every item has a score: total, pass/fail, and the rewards of a
    pass (quiz: course crediting; exam: 学时 and certificate). Also re-totals a submitted attempt whose
    item scores changed (a review, a regrade)."""
    attempt = session.exec(select(Attempt).where(Attempt.id == attempt_id).execution_options(populate_existing=True)).one()
    scores = session.exec(select(AttemptItem.score).where(AttemptItem.attempt_id == attempt_id)).all()
    total = round(sum(s for s in scores if s is not None), 2)
    if any(s is None for s in scores):
        session.execute(update(Attempt).where(Attempt.id == attempt_id, Attempt.status == ATTEMPT_PENDING)
                        .values(score=total, passed=None).execution_options(synchronize_session=False))
        return
    passed = attempt.max_score > 0 and 100 * total / attempt.max_score >= attempt.pass_percent - 1e-9
    was_passed = attempt.status == ATTEMPT_DONE and attempt.passed is True
    settled = session.execute(update(Attempt).where(Attempt.id == attempt_id, col(Attempt.status).in_((ATTEMPT_PENDING, ATTEMPT_DONE)))
                              .values(status=ATTEMPT_DONE, score=total, passed=passed)
                              .execution_options(synchronize_session=False)).rowcount == 1
    session.refresh(attempt)
    if settled and passed:
        if attempt.kind == "quiz" and attempt.course_id:
            from services import learning
            learning.reward_quiz_pass(session, attempt)
        elif attempt.exam_id is not None:
            from services import exams
            exams.reward_pass(session, attempt)
    elif settled and was_passed and attempt.exam_id is not None:   # a review or regrade took the pass away
        from services import exams
        exams.withdraw_pass(session, attempt)
    if settled:   # wrong answers into the mistake notebook (its entry rules; idempotent)
        from services import notebook
        notebook.note_attempt(session, attempt)
    if settled:   # the HR dashboard's per-person-year totals: recomputed for this person and year
        from services.analytics import rollups
        rollups.refresh_attempt(session, attempt)


def overdue(attempt: Attempt, at: datetime) -> bool:
    return attempt.status == ATTEMPT_OPEN and attempt.deadline_at is not None and at >= attempt.deadline_at


def finalise_if_overdue(session: Session, attempt: Attempt) -> bool:
    at = now()
    if overdue(attempt, at):
        finalise(session, attempt, at=at, auto=True)
        return True
    return False


def submit_attempt(session: Session, actor: Actor, *, attempt_id: int) -> bool:
    """The learner submits. Idempotent: returns True only for the call that closed the attempt."""
    attempt = own_attempt(session, actor, attempt_id)
    at = now()
    return finalise(session, attempt, at=at, auto=overdue(attempt, at))


def sweep_overdue(session: Session, actor: Actor, *, at: datetime | None = None) -> int:
    """Finalise every open attempt past its deadline with what was saved (the server's sweeper thread,
    `cli.py exams sweep`). Admin (or the system actor) only. Returns how many this call closed."""
    require_admin(actor)
    at = at or now()
    closed = 0
    for attempt in session.exec(select(Attempt).where(Attempt.status == ATTEMPT_OPEN, Attempt.deadline_at.is_not(None),
                                                      Attempt.deadline_at <= at)).all():
        closed += finalise(session, attempt, at=at, auto=True)
    return closed


_sweeper: threading.Thread | None = None
_sweeper_lock = threading.Lock()
_sweeper_stop = threading.Event()


def start_sweeper(*, interval_seconds: float = 30.0, database_url: str | None = None) -> threading.Thread:
    """Start, once per process, a daemon thread that finalises overdue attempts every interval (each
    round its own unit of work). Later calls return the running thread. Call it from server.py at start."""
    global _sweeper
    with _sweeper_lock:
        if _sweeper is not None and _sweeper.is_alive():
            return _sweeper
        _sweeper_stop.clear()

        def run() -> None:
            from models.db import session_scope
            from services.permissions import system_actor
            while not _sweeper_stop.wait(interval_seconds):
                try:
                    with session_scope(database_url) as s:
                        n = sweep_overdue(s, system_actor())
                    if n:
                        log.info("sweeper finalised %d overdue attempts", n)
                except Exception:   # keep sweeping: a failed round is logged and retried next interval
                    log.exception("sweeper round failed")
        _sweeper = threading.Thread(target=run, name="attempt-sweeper", daemon=True)
        _sweeper.start()
        return _sweeper


def stop_sweeper(timeout: float = 5.0) -> None:
    global _sweeper
    _sweeper_stop.set()
    if _sweeper is not None:
        _sweeper.join(timeout)
    _sweeper = None


# ---- grading essays -----------------------------------------------------------------------------------

def _learner_unit_path(session: Session, user_id: int) -> str | None:
    user = session.get(User, user_id)
    unit = session.get(OrgUnit, user.unit_id) if user and user.unit_id else None
    return unit.path if unit else None


@dataclass
class GradingTask:
    item_id: int
    attempt_id: int
    exam_id: int | None
    exam_title: str | None
    learner: str                  # username
    position: int
    points: float
    question: str                 # the question text
    rubric: list[dict[str, Any]]  # [{criterion, points}] of the question (scaled to the item's points when scoring)
    response: str | None
    round: int                    # 1: to grade; 2: graded once, a second grader may review
    first_score: float | None = None
    first_comment: str | None = None
    first_grader_id: int | None = None


def grading_queue(session: Session, actor: Actor, *, exam_id: int | None = None, review: bool = False) -> list[GradingTask]:
    """Essays to grade (review=False: answered essays of closed attempts without a score), or graded once
    and open to a second grader's review (review=True: not graded by the actor), of learners in the
    trainer's scope; oldest submissions first."""
    from services.permissions import ALL, scope_paths
    paths = scope_paths(actor, "trainer")
    q = (select(AttemptItem, Attempt, QuestionVersion.data, User.username, OrgUnit.path)
         .join(Attempt, Attempt.id == AttemptItem.attempt_id)
         .join(QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id)
         .join(User, User.id == Attempt.user_id).join(OrgUnit, OrgUnit.id == User.unit_id, isouter=True)
         .where(QuestionVersion.type == "essay", Attempt.status != ATTEMPT_OPEN))
    if exam_id is not None:
        q = q.where(Attempt.exam_id == exam_id)
    if review:
        q = q.where(AttemptItem.score.is_not(None),
                    exists().where(EssayGrade.attempt_item_id == AttemptItem.id, EssayGrade.round == 1),
                    ~exists().where(EssayGrade.attempt_item_id == AttemptItem.id, EssayGrade.round == 2))
    else:
        q = q.where(AttemptItem.score.is_(None), Attempt.status == ATTEMPT_PENDING)
    rows = session.exec(q.order_by(Attempt.submitted_at, AttemptItem.position)).all()
    titles = dict(session.exec(select(Exam.id, Exam.title)).all()) if rows else {}
    firsts = {g.attempt_item_id: g for g in session.exec(select(EssayGrade).where(
        EssayGrade.round == 1, col(EssayGrade.attempt_item_id).in_([r[0].id for r in rows]))).all()} if rows else {}
    out = []
    for it, a, data, username, path in rows:
        if ALL not in paths and not (path and any(path.startswith(p) for p in paths)):
            continue
        first = firsts.get(it.id)
        if review and first is not None and first.grader_id == actor.id:
            continue
        out.append(GradingTask(it.id, a.id, a.exam_id, titles.get(a.exam_id), username, it.position, it.points,
                               data.get("text", ""), list(data.get("rubric") or []), it.response, 2 if review else 1,
                               first.score if first else None, first.comment if first else None,
                               first.grader_id if first else None))
    return out


def _rubric_total(data: dict[str, Any], points: float, rubric_scores: list[float] | None, score: float | None) -> tuple[list[float], float]:
    rubric = data.get("rubric") or []
    if rubric_scores is not None and rubric:
        if len(rubric_scores) != len(rubric):
            raise ValidationFailed("error.rubric_items", expected=len(rubric))
        for s, r in zip(rubric_scores, rubric, strict=True):
            if not 0 <= s <= r["points"]:
                raise ValidationFailed("error.score_range", max=r["points"])
        full = sum(r["points"] for r in rubric) or points
        return [float(s) for s in rubric_scores], min(points, round(sum(rubric_scores) * points / full, 4))
    if score is None:
        raise ValidationFailed("error.score_required")
    if not 0 <= score <= points:
        raise ValidationFailed("error.score_range", max=points)
    return [], round(float(score), 4)


def grade_essay(session: Session, actor: Actor, *, item_id: int, rubric_scores: list[float] | None = None,
                score: float | None = None, comment: str = "", review: bool = False) -> AttemptView:
    """A trainer scores an essay of a closed attempt of a learner in their scope: per rubric item
    (scaled to the item's points on the paper) or one score, with a comment. review=False grades an
    item waiting for its score (the last one settles the attempt: total, pass/fail, rewards);
    review=True is a second grader's review of a graded item (a different trainer): its score replaces
    the first and the attempt is re-totalled. Both are audited. Returns the owner's view."""
    item = session.get(AttemptItem, item_id)
    if item is None:
        raise NotFound(what="item", id=item_id)
    attempt = session.get(Attempt, item.attempt_id)
    require_scope(actor, "trainer", _learner_unit_path(session, attempt.user_id))
    data = session.get(QuestionVersion, item.question_version_id).data
    if data["type"] != "essay":
        raise ValidationFailed("error.not_an_essay")
    comment = clean_text(comment or "", field="comment", multiline=True, max_length=4000) or ""
    scores, total = _rubric_total(data, item.points, rubric_scores, score)
    # two graders finishing the last two items at once: serialise per attempt (PostgreSQL row lock;
    # SQLite serialises writers), so the second sees the first's score and settles the attempt
    session.exec(select(Attempt.id).where(Attempt.id == attempt.id).with_for_update()).all()
    if review:
        first = session.exec(select(EssayGrade).where(EssayGrade.attempt_item_id == item_id, EssayGrade.round == 1)).first()
        if first is None or item.score is None:
            raise ValidationFailed("error.not_graded_yet")
        if first.grader_id == actor.id:
            raise ValidationFailed("error.second_grader_differs")
        if not ledger.insert_once(session, EssayGrade, {"attempt_item_id": item_id, "round": 2, "grader_id": actor.id,
                                                         "rubric_scores": scores, "score": total, "comment": comment,
                                                         "created_at": now()}, index_elements=["attempt_item_id", "round"]):
            raise ValidationFailed("error.already_reviewed")
        session.execute(update(AttemptItem).where(AttemptItem.id == item_id).values(score=total)
                        .execution_options(synchronize_session=False))
    else:
        done = session.execute(update(AttemptItem).where(
            AttemptItem.id == item_id, AttemptItem.score.is_(None),
            exists().where(Attempt.id == AttemptItem.attempt_id, Attempt.status == ATTEMPT_PENDING))
            .values(score=total).execution_options(synchronize_session=False)).rowcount == 1
        if not done:
            raise ValidationFailed("error.attempt_not_pending")
        session.add(EssayGrade(attempt_item_id=item_id, round=1, grader_id=actor.id, rubric_scores=scores, score=total,
                               comment=comment))
    session.expire(item)
    session.flush()
    settle(session, attempt.id)
    audit.record(session, actor.id, "attempt.review" if review else "attempt.grade", attempt=attempt.id, item=item_id,
                 score=total)
    session.flush()
    session.refresh(attempt)
    return view(session, attempt)


# ---- regrading --------------------------------------------------------------------------------------

@dataclass
class RegradeReport:
    question_id: str
    version: int                  # the corrected (current) version applied
    attempts: int                 # attempts whose paper held the question
    items: int                    # items moved to the corrected version
    changed: list[dict[str, Any]] = field(default_factory=list)   # [{attempt_id, before, after, passed_before, passed_after}]


def regrade(session: Session, actor: Actor, *, attempt_ids: list[int], question_id: str, actor_note: str = "") -> RegradeReport:
    """Apply the current (corrected) version of a question to these attempts' items that hold an older
    version of it, re-score them, re-total closed attempts. A human's essay score stays. The caller checks
    permission (services/exams.regrade_exam). A pass that a correction takes away keeps the 学时 it
    credited (the ledger is append-only; the audit row says what changed)."""
    from models import Question
    q = session.get(Question, question_id)
    if q is None:
        raise NotFound(what="question", id=question_id)
    current = session.exec(select(QuestionVersion).where(QuestionVersion.question_id == question_id,
                                                         QuestionVersion.version == q.current_version)).one()
    rows = session.exec(select(AttemptItem, QuestionVersion).join(QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id)
                        .where(col(AttemptItem.attempt_id).in_(attempt_ids), QuestionVersion.question_id == question_id,
                               AttemptItem.question_version_id != current.id)).all()
    report = RegradeReport(question_id, current.version, len({it.attempt_id for it, _ in rows}), 0)
    for it, old in rows:
        if old.type != current.type:
            raise ValidationFailed("error.regrade_type_changed", question=question_id)
        n_old = len(old.data.get("options") or old.data.get("pairs") or [])
        n_new = len(current.data.get("options") or current.data.get("pairs") or [])
        if n_old != n_new:
            raise ValidationFailed("error.regrade_options_changed", question=question_id)
        session.execute(update(AttemptItem).where(AttemptItem.id == it.id).values(question_version_id=current.id)
                        .execution_options(synchronize_session=False))
        report.items += 1
    session.flush()
    for attempt_id in sorted({it.attempt_id for it, _ in rows}):
        attempt = session.exec(select(Attempt).where(Attempt.id == attempt_id).execution_options(populate_existing=True)).one()
        if attempt.status == ATTEMPT_OPEN:
            continue      # graded with the corrected version when it closes
        before, passed_before = attempt.score, attempt.passed
        _grade_items(session, attempt, keep_human=True)
        settle(session, attempt_id)
        session.refresh(attempt)
        if (attempt.score, attempt.passed) != (before, passed_before):
            report.changed.append({"attempt_id": attempt_id, "before": before, "after": attempt.score,
                                   "passed_before": passed_before, "passed_after": attempt.passed})
    audit.record(session, actor.id, "attempt.regrade", question=question_id, version=current.version,
                 attempts=report.attempts, items=report.items, changed=report.changed, note=actor_note)
    session.flush()
    return report
