"""The mistake notebook (错题本) with reviews scheduled by FSRS (the `fsrs` package).

Entry rules: a question answered wrong (an answered, auto-graded item scored below its points; essays
never) in practice, a lesson's self-check, a course quiz, a mock exam (only questions that are not
exam-only: a mock never hands out exam-only keys) or an exam once that exam's review policy shows the
right answers (`services.attempts.review_policy`; an exam whose answers show only after it closes is
picked up by `sync` when the learner next opens the notebook or the home page). Each miss counts once
per answered item (`ReviewLog.attempt_item_id` is unique).

Scheduling: one FSRS card per learner x question. Every miss elsewhere rates the card Again; a review
in the notebook rates it from the outcome — wrong → Again, right after hesitation (slow) → Hard,
right → Good, right fast → Easy — or with the learner's own rating. No learning steps (intervals are in
days: a miss is due the next day). A question leaves the notebook after a correct recall whose next
interval is at least `settings.notebook_leave_days` (21 by default); a new miss brings it back. The
review log keeps every rating (FSRS can be re-fitted from it).

The clock is the server's (`models.db.utcnow`; tests patch it). "Today" is the city's calendar day.

Units of work: these functions flush, never commit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import fsrs
from sqlalchemy import func, update
from sqlmodel import Session, col, select

import models.db as clock
from models import Attempt, AttemptItem, Question, QuestionVersion
from models.db import LOCAL_TZ
from models.learning import ATTEMPT_DONE, ATTEMPT_OPEN
from models.practice import Mistake, PracticeCheck, ReviewCard, ReviewLog
from services import ledger, papers
from services.errors import NotFound, PermissionDenied, ValidationFailed
from services.permissions import Actor, require_role
from services.settings import notebook_leave_days

SCHEDULER = fsrs.Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)
AGAIN, HARD, GOOD, EASY = (int(r) for r in (fsrs.Rating.Again, fsrs.Rating.Hard, fsrs.Rating.Good, fsrs.Rating.Easy))
RATINGS = (AGAIN, HARD, GOOD, EASY)
FAST_MS = 15_000       # a right answer within this is "fast" (Easy)
SLOW_MS = 90_000       # beyond this, "after hesitation" (Hard)
REVIEW_SESSION_MAX = 50
SOURCES_BY_KIND = {"practice": "practice", "quiz": "quiz", "exam": "exam", "mock": "mock", "review": "review"}
REPEAT_GUARD = timedelta(seconds=30)   # a self-check checked twice in a row is one miss


def now() -> datetime:
    return clock.utcnow()


def end_of_today(at: datetime | None = None) -> datetime:
    """The end of the city's calendar day of `at`, in UTC: what is due by then is "due today"."""
    local = (at or now()).astimezone(LOCAL_TZ)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=LOCAL_TZ).astimezone(UTC)


def auto_rating(correct: bool, duration_ms: int | None) -> int:
    """wrong → Again; right fast → Easy; right after hesitation → Hard; right → Good."""
    if not correct:
        return AGAIN
    if duration_ms is not None and duration_ms <= FAST_MS:
        return EASY
    if duration_ms is not None and duration_ms >= SLOW_MS:
        return HARD
    return GOOD


# ---- the card --------------------------------------------------------------------------------------

def _as_fsrs(card: ReviewCard) -> fsrs.Card:
    return fsrs.Card(card_id=card.id, state=fsrs.State(card.state), step=card.step, stability=card.stability,
                     difficulty=card.difficulty, due=card.due, last_review=card.last_review)


def _card(session: Session, user_id: int, question_id: str, at: datetime) -> ReviewCard:
    ledger.insert_once(session, ReviewCard, {"user_id": user_id, "question_id": question_id, "state": int(fsrs.State.Learning),
                                             "step": 0, "stability": None, "difficulty": None, "due": at,
                                             "last_review": None, "reviews": 0},
                       index_elements=["user_id", "question_id"])
    return session.exec(select(ReviewCard).where(ReviewCard.user_id == user_id, ReviewCard.question_id == question_id)
                        .execution_options(populate_existing=True)).one()


def preview(card: ReviewCard | None, at: datetime) -> dict[int, datetime]:
    """The next due date each rating would give (the rating buttons show them)."""
    base = _as_fsrs(card) if card is not None else fsrs.Card(due=at)
    return {r: SCHEDULER.review_card(base, fsrs.Rating(r), at)[0].due for r in RATINGS}


def _rate(session: Session, user_id: int, question_id: str, rating: int, at: datetime, *, source: str,
          attempt_item_id: int | None = None, duration_ms: int | None = None, chosen: bool = False) -> ReviewCard | None:
    """Apply one rating to the card and log it. None (nothing changed) when this answered item was
    logged already."""
    if rating not in RATINGS:
        raise ValidationFailed("error.bad_rating")
    card = _card(session, user_id, question_id, at)
    new, _log = SCHEDULER.review_card(_as_fsrs(card), fsrs.Rating(rating), at)
    values = {"card_id": card.id, "user_id": user_id, "question_id": question_id, "rating": rating, "reviewed_at": at,
              "duration_ms": duration_ms, "source": source, "chosen": chosen, "attempt_item_id": attempt_item_id,
              "due_after": new.due, "stability_after": new.stability, "difficulty_after": new.difficulty}
    if attempt_item_id is not None:
        if not ledger.insert_once(session, ReviewLog, values, index_elements=["attempt_item_id"]):
            return None
    else:
        session.add(ReviewLog(**values))
    card.state, card.step, card.stability, card.difficulty = int(new.state), new.step, new.stability, new.difficulty
    card.due, card.last_review, card.reviews = new.due, new.last_review, card.reviews + 1
    session.add(card)
    session.flush()
    return card


def record_miss(session: Session, user_id: int, question_id: str, *, source: str, version: int,
                attempt_item_id: int | None = None, at: datetime | None = None) -> bool:
    """A question answered wrong: into the notebook (or back into it), counted, its card rated Again.
    Returns False when this answered item was counted already."""
    at = at or now()
    if attempt_item_id is None:
        last = session.exec(select(ReviewLog.reviewed_at).where(
            ReviewLog.user_id == user_id, ReviewLog.question_id == question_id, ReviewLog.source == source,
            ReviewLog.rating == AGAIN).order_by(col(ReviewLog.reviewed_at).desc())).first()
        if last is not None and at - last < REPEAT_GUARD:
            return False
    if _rate(session, user_id, question_id, AGAIN, at, source=source, attempt_item_id=attempt_item_id) is None:
        return False
    if not ledger.insert_once(session, Mistake, {"user_id": user_id, "question_id": question_id, "misses": 1,
                                                  "first_missed_at": at, "last_missed_at": at, "last_source": source,
                                                  "missed_version": version, "left_at": None, "times_left": 0},
                              index_elements=["user_id", "question_id"]):
        session.execute(update(Mistake).where(Mistake.user_id == user_id, Mistake.question_id == question_id)
                        .values(misses=Mistake.misses + 1, last_missed_at=at, last_source=source,
                                missed_version=version, left_at=None).execution_options(synchronize_session=False))
    session.flush()
    return True


def record_recall(session: Session, user_id: int, question_id: str, rating: int, *, attempt_item_id: int | None = None,
                  duration_ms: int | None = None, chosen: bool = False, at: datetime | None = None) -> ReviewCard | None:
    """A correct recall in a notebook review (rating Hard, Good or Easy). When the next interval is at
    least the setting's days, the question leaves the notebook."""
    if rating == AGAIN:
        raise ValidationFailed("error.bad_rating")
    at = at or now()
    card = _rate(session, user_id, question_id, rating, at, source="review", attempt_item_id=attempt_item_id,
                 duration_ms=duration_ms, chosen=chosen)
    if card is not None and card.due - at >= timedelta(days=notebook_leave_days(session)):
        session.execute(update(Mistake).where(Mistake.user_id == user_id, Mistake.question_id == question_id,
                                              Mistake.left_at.is_(None))
                        .values(left_at=at, times_left=Mistake.times_left + 1).execution_options(synchronize_session=False))
        session.flush()
    return card


# ---- what enters from attempts ---------------------------------------------------------------------

def _wrong_items(session: Session, attempt: Attempt) -> list[tuple[int, str, int, str]]:
    """(item id, question id, version, usage) of the answered, auto-graded items scored below their points."""
    rows = session.exec(select(AttemptItem.id, AttemptItem.response, AttemptItem.score, AttemptItem.points,
                               QuestionVersion.question_id, QuestionVersion.version, QuestionVersion.type,
                               QuestionVersion.usage)
                        .join(QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id)
                        .where(AttemptItem.attempt_id == attempt.id)).all()
    out = []
    for item_id, response, score, points, qid, version, qtype, usage in rows:
        if qtype == "essay" or score is None or response in (None, "", [], {}):
            continue
        if isinstance(response, str) and not response.strip():
            continue
        if score < points - 1e-9:
            out.append((item_id, qid, version, usage))
    return out


def note_attempt(session: Session, attempt: Attempt) -> int:
    """Enter the wrong answers of a settled attempt (called by services.attempts.settle). An exam
    whose review policy does not show right answers yet enters nothing now (`sync` picks it up later).
    Idempotent. Returns how many misses were counted."""
    source = SOURCES_BY_KIND.get(attempt.kind)
    if source is None or attempt.status != ATTEMPT_DONE:
        return 0
    if attempt.kind == "exam":
        from services.attempts import review_policy
        if not review_policy(session, attempt)[1]:
            return 0
    if attempt.kind == "review":     # right answers checked but not rated: the automatic rating
        for check, qid in session.exec(select(PracticeCheck, QuestionVersion.question_id)
                                       .join(AttemptItem, AttemptItem.id == PracticeCheck.attempt_item_id)
                                       .join(QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id)
                                       .where(AttemptItem.attempt_id == attempt.id, PracticeCheck.correct,
                                              ~PracticeCheck.rated)).all():
            record_recall(session, attempt.user_id, qid, auto_rating(True, check.duration_ms),
                          attempt_item_id=check.attempt_item_id, duration_ms=check.duration_ms, at=check.checked_at)
            check.rated = True
            session.add(check)
        session.flush()
    n = 0
    for item_id, qid, version, usage in _wrong_items(session, attempt):
        if attempt.kind == "mock" and usage == "exam":
            continue
        n += record_miss(session, attempt.user_id, qid, source=source, version=version, attempt_item_id=item_id,
                         at=attempt.submitted_at or now())
    return n


def sync(session: Session, actor: Actor) -> int:
    """Enter the misses of the learner's exams whose review policy has shown the right answers since
    they were settled (e.g. answers after the exam closes). Returns how many were counted."""
    require_role(actor, "learner")
    logged = select(ReviewLog.attempt_item_id).where(ReviewLog.user_id == actor.id, ReviewLog.attempt_item_id.is_not(None))
    # a miss not logged yet: an answered (saved_at set; a blank item never enters), auto-graded item scored
    # below its points. Without those conditions every exam holding a blank item was read again on every page.
    exams = session.exec(select(Attempt).where(
        Attempt.user_id == actor.id, Attempt.kind == "exam", Attempt.status == ATTEMPT_DONE,
        select(AttemptItem.id).join(QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id)
        .where(AttemptItem.attempt_id == Attempt.id, AttemptItem.score < AttemptItem.points,
               AttemptItem.saved_at.is_not(None), QuestionVersion.type != "essay",
               col(AttemptItem.id).not_in(logged)).exists())).all()
    return sum(note_attempt(session, a) for a in exams)


# ---- the notebook ---------------------------------------------------------------------------------

@dataclass
class Entry:
    question_id: str
    category: str
    type: str
    text: str                 # the current version's stem (our content: Markdown)
    misses: int
    first_missed_at: datetime
    last_missed_at: datetime
    last_source: str
    due: datetime | None
    edited: bool              # the question was edited since it was missed: the current version is shown
    due_today: bool = False


@dataclass
class Group:
    category: str
    entries: list[Entry] = field(default_factory=list)

    @property
    def misses(self) -> int:
        return sum(e.misses for e in self.entries)

    @property
    def due(self) -> int:
        return sum(1 for e in self.entries if e.due_today)


@dataclass
class Notebook:
    groups: list[Group]
    due_today: int
    total: int
    left: int                 # questions that have left the notebook (mastered)
    next_due: datetime | None  # the earliest due date after today

    @property
    def entries(self) -> list[Entry]:
        return [e for g in self.groups for e in g.entries]


def _entries(session: Session, user_id: int) -> list[Entry]:
    rows = session.exec(select(Mistake, ReviewCard.due, QuestionVersion, Question.current_version)
                        .join(Question, Question.id == Mistake.question_id)
                        .join(QuestionVersion, (QuestionVersion.question_id == Question.id)
                              & (QuestionVersion.version == Question.current_version))
                        .join(ReviewCard, (ReviewCard.user_id == Mistake.user_id) & (ReviewCard.question_id == Mistake.question_id),
                              isouter=True)
                        .where(Mistake.user_id == user_id, Mistake.left_at.is_(None), Question.active)
                        .order_by(QuestionVersion.category, ReviewCard.due, Mistake.question_id)).all()
    horizon = end_of_today()
    return [Entry(m.question_id, v.category, v.type, v.data.get("text", ""), m.misses, m.first_missed_at, m.last_missed_at,
                  m.last_source, due, current > m.missed_version, due is not None and due < horizon)
            for m, due, v, current in rows]


def notebook(session: Session, actor: Actor) -> Notebook:
    """The learner's notebook: entries grouped by category (of the question's current version), how
    often and when each was missed, what is due today. Picks up exams that became reviewable first."""
    require_role(actor, "learner")
    sync(session, actor)
    entries = _entries(session, actor.id)
    groups: dict[str, Group] = {}
    for e in entries:
        groups.setdefault(e.category, Group(e.category)).entries.append(e)
    left = session.exec(select(func.count()).select_from(Mistake).where(Mistake.user_id == actor.id,
                                                                        Mistake.left_at.is_not(None))).one()
    later = [e.due for e in entries if e.due is not None and not e.due_today]
    return Notebook(list(groups.values()), sum(1 for e in entries if e.due_today), len(entries), left,
                    min(later) if later else None)


def due_count(session: Session, actor: Actor) -> int:
    """How many notebook questions are due today (the home page)."""
    require_role(actor, "learner")
    sync(session, actor)
    return session.exec(select(func.count()).select_from(Mistake)
                        .join(ReviewCard, (ReviewCard.user_id == Mistake.user_id) & (ReviewCard.question_id == Mistake.question_id))
                        .join(Question, Question.id == Mistake.question_id)
                        .where(Mistake.user_id == actor.id, Mistake.left_at.is_(None), Question.active,
                               ReviewCard.due < end_of_today())).one()


# ---- review sessions --------------------------------------------------------------------------------

def open_review(session: Session, actor: Actor) -> int | None:
    """The learner's open review session (an attempt of kind "review"), if any."""
    require_role(actor, "learner")
    return session.exec(select(Attempt.id).where(Attempt.user_id == actor.id, Attempt.kind == "review",
                                                 Attempt.status == ATTEMPT_OPEN).order_by(col(Attempt.id).desc())).first()


def start_review(session: Session, actor: Actor, *, category: str | None = None, limit: int = 20) -> int:
    """A review session of the questions due today (optionally in one category subtree), current versions,
    as an attempt of kind "review" (it resumes after a refresh; every check is stored). Resumes the open one."""
    require_role(actor, "learner")
    existing = open_review(session, actor)
    if existing is not None:
        return existing
    limit = max(1, min(int(limit), REVIEW_SESSION_MAX))
    due = [e for e in _entries(session, actor.id) if e.due_today and e.type != "essay"
           and papers.in_category(e.category, category)]
    due.sort(key=lambda e: e.due)
    if not due:
        raise ValidationFailed("error.nothing_due")
    from services import practice
    return practice.create_from_questions(session, actor, kind="review", question_ids=[e.question_id for e in due[:limit]])


@dataclass
class RatingChoice:
    item_id: int
    correct: bool
    suggested: int                      # the automatic rating
    options: dict[int, datetime]        # rating -> next due date (for the buttons)
    rated: bool                         # recorded already
    due: datetime | None                # the card's due date now


def _review_item(session: Session, actor: Actor, item_id: int) -> tuple[AttemptItem, Attempt, QuestionVersion, PracticeCheck]:
    item = session.get(AttemptItem, item_id)
    if item is None:
        raise NotFound(what="item", id=item_id)
    attempt = session.get(Attempt, item.attempt_id)
    if attempt.user_id != actor.id:
        raise PermissionDenied("error.not_your_attempt")
    if attempt.kind != "review":
        raise ValidationFailed("error.not_a_review")
    check = session.get(PracticeCheck, item_id)
    if check is None:
        raise ValidationFailed("error.check_first")
    return item, attempt, session.get(QuestionVersion, item.question_version_id), check


def rating_choice(session: Session, actor: Actor, *, item_id: int) -> RatingChoice:
    """After a review item was checked: the suggested rating and each rating's next due date."""
    item, _attempt, version, check = _review_item(session, actor, item_id)
    card = session.exec(select(ReviewCard).where(ReviewCard.user_id == actor.id,
                                                 ReviewCard.question_id == version.question_id)).first()
    at = now()
    return RatingChoice(item_id, check.correct, auto_rating(check.correct, check.duration_ms),
                        {} if check.rated or not check.correct else preview(card, at), check.rated,
                        card.due if card else None)


def rating_choices(session: Session, actor: Actor, *, attempt_id: int) -> dict[int, RatingChoice]:
    """rating_choice of every checked item of the learner's review session (item id -> choice), in three
    statements whatever the number of items (the notebook page shows them all)."""
    attempt = session.exec(select(Attempt).where(Attempt.id == attempt_id).execution_options(populate_existing=True)).first()
    if attempt is None:
        raise NotFound(what="attempt", id=attempt_id)
    if attempt.user_id != actor.id:
        raise PermissionDenied("error.not_your_attempt")
    if attempt.kind != "review":
        raise ValidationFailed("error.not_a_review")
    rows = session.exec(select(PracticeCheck, QuestionVersion.question_id)
                        .join(AttemptItem, AttemptItem.id == PracticeCheck.attempt_item_id)
                        .join(QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id)
                        .where(AttemptItem.attempt_id == attempt_id).execution_options(populate_existing=True)).all()
    qids = sorted({qid for _, qid in rows})
    cards = {c.question_id: c for c in session.exec(select(ReviewCard).where(
        ReviewCard.user_id == actor.id, col(ReviewCard.question_id).in_(qids)).execution_options(populate_existing=True)).all()} if qids else {}
    at = now()
    out = {}
    for check, qid in rows:
        card = cards.get(qid)
        out[check.attempt_item_id] = RatingChoice(
            check.attempt_item_id, check.correct, auto_rating(check.correct, check.duration_ms),
            {} if check.rated or not check.correct else preview(card, at), check.rated, card.due if card else None)
    return out


def rate(session: Session, actor: Actor, *, item_id: int, rating: int | None = None) -> datetime:
    """Record the review of a checked item: the learner's rating (Hard, Good, Easy for a right answer)
    or, with None, the automatic one. A wrong answer was rated Again when it was checked. Idempotent.
    Returns the question's next due date."""
    item, _attempt, version, check = _review_item(session, actor, item_id)
    if check.correct and not check.rated:
        chosen = rating is not None
        rating = auto_rating(True, check.duration_ms) if rating is None else int(rating)
        if rating not in (HARD, GOOD, EASY):
            raise ValidationFailed("error.bad_rating")
        record_recall(session, actor.id, version.question_id, rating, attempt_item_id=item_id,
                      duration_ms=check.duration_ms, chosen=chosen)
    check.rated = True
    session.add(check)
    session.flush()
    card = session.exec(select(ReviewCard).where(ReviewCard.user_id == actor.id, ReviewCard.question_id == version.question_id)
                        .execution_options(populate_existing=True)).one()
    return card.due


def in_notebook(session: Session, user_id: int, question_id: str) -> bool:
    return session.exec(select(Mistake.id).where(Mistake.user_id == user_id, Mistake.question_id == question_id,
                                                 Mistake.left_at.is_(None))).first() is not None


def review_log(session: Session, actor: Actor, *, question_id: str | None = None) -> list[dict[str, Any]]:
    """The learner's review log (newest first): what FSRS can be re-fitted from."""
    require_role(actor, "learner")
    q = select(ReviewLog).where(ReviewLog.user_id == actor.id)
    if question_id is not None:
        q = q.where(ReviewLog.question_id == question_id)
    return [{"card_id": r.card_id, "question_id": r.question_id, "rating": r.rating, "reviewed_at": r.reviewed_at,
             "duration_ms": r.duration_ms, "source": r.source, "chosen": r.chosen, "due_after": r.due_after}
            for r in session.exec(q.order_by(col(ReviewLog.reviewed_at).desc(), col(ReviewLog.id).desc())).all()]
