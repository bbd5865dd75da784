"""Practice with instant feedback, and mock exams (模拟考试).

- A practice session is an attempt of kind "practice" (services/attempts: every answer saved at once,
  resumes after a refresh). Its questions come from a course, a category subtree, or the learner's weak
  topics (the categories where their answers score worst), of the chosen types and number; only
  questions of courses the learner may take, current versions, usage practice|both (`papers.USAGES`):
  exam-only questions are never drawn. Essays are not offered (nothing to check at once).
- `check_answer` is the player's `check` hook: it grades one answered item at once, locks it (its score
  is set; services/attempts.save_answer refuses a scored item of an open attempt) and returns the item
  with its key, explanation and score. Before that, nothing of the key leaves the server (the view is
  services/attempts.view: no keys while the attempt is open). A wrong answer enters the notebook there
  and then (services/notebook.record_miss).
- A mock exam is a course's exam rule set (`Course.exam_rule_set`) drawn as a timed attempt of kind "mock"
  (deadline from its time limit, finalised at the deadline like an exam) that counts for nothing: no 学时,
  no certificate, no course completion (services/attempts.settle rewards quizzes and exams only). After
  submission it shows the score, and keys and explanations only of questions that are not exam-only.

Units of work: these functions flush, never commit.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, update
from sqlmodel import Session, col, select

from models import Attempt, AttemptItem, Course, Exam, Question, QuestionVersion
from models.learning import ATTEMPT_DONE, ATTEMPT_OPEN
from models.practice import PracticeCheck
from services import attempts, learning, notebook, papers
from services.errors import NotFound, PermissionDenied, ValidationFailed
from services.grading import correct_response
from services.permissions import Actor, require_role

PRACTICE_TYPES = tuple(t for t in papers.QUESTION_TYPES if t != "essay")
MAX_COUNT = 50
WEAK_MIN_ANSWERS = 3          # a category needs this many scored answers to count as a weak topic
WEAK_BELOW = 0.8              # ... and a score ratio below this
WEAK_TOPICS = 3
DURATION_CAP = timedelta(minutes=10)   # longer than this between checks: the duration is unknown (a break)
CHECKABLE_KINDS = ("practice", "review")


def now() -> datetime:
    return attempts.now()


# ---- what can be practised ---------------------------------------------------------------------------

def _visible_courses(session: Session, actor: Actor) -> list[Any]:
    return learning.catalogue(session, actor)


def _pool(session: Session, actor: Actor, *, types: tuple[str, ...], course_id: str | None = None,
          categories: list[str] | None = None):
    course_ids = [c.id for c in _visible_courses(session, actor)]
    if course_id is not None:
        if course_id not in course_ids:
            raise NotFound(what="course", id=course_id)
        course_ids = [course_id]
    q = (select(QuestionVersion.question_id, QuestionVersion.category)
         .join(Question, (Question.id == QuestionVersion.question_id) & (Question.current_version == QuestionVersion.version))
         .where(Question.active, col(Question.course_id).in_(course_ids),
                col(QuestionVersion.usage).in_(papers.USAGES["practice"]), col(QuestionVersion.type).in_(list(types))))
    if categories:
        cond = None
        for c in categories:
            one = (QuestionVersion.category == c) | col(QuestionVersion.category).startswith(c + "/", autoescape=True)
            cond = one if cond is None else cond | one
        q = q.where(cond)
    return session.exec(q.order_by(QuestionVersion.question_id)).all()


def courses(session: Session, actor: Actor) -> list[Any]:
    """The courses the learner may practise (the catalogue's)."""
    require_role(actor, "learner")
    return _visible_courses(session, actor)


@dataclass
class Category:
    path: str
    questions: int            # practicable questions in the subtree


def categories(session: Session, actor: Actor) -> list[Category]:
    """Every category (with its ancestors) holding practicable questions of the learner's courses."""
    require_role(actor, "learner")
    counts: dict[str, int] = {}
    for _qid, cat in _pool(session, actor, types=PRACTICE_TYPES):
        parts = cat.split("/")
        for n in range(1, len(parts) + 1):
            key = "/".join(parts[:n])
            counts[key] = counts.get(key, 0) + 1
    return [Category(k, v) for k, v in sorted(counts.items())]


@dataclass
class WeakTopic:
    category: str
    answered: int
    percent: float            # score / points over the learner's scored answers in it


def weak_topics(session: Session, actor: Actor, *, limit: int = WEAK_TOPICS) -> list[WeakTopic]:
    """The categories where the learner's answers are worst: every scored, auto-graded item of their
    attempts (quiz, exam, practice, mock, review), at least WEAK_MIN_ANSWERS of them, below WEAK_BELOW.
    An exam counts only once its review policy shows the learner their score."""
    require_role(actor, "learner")
    at = now()
    # an exam's scores count only once its review policy shows them to the learner (as review_policy)
    scores_shown = (col(Attempt.exam_id).is_(None) | (Exam.review_score == "after_submit")
                    | ((Exam.review_score == "after_close")
                       & ((Exam.status == "closed") | (col(Exam.closes_at).is_not(None) & (Exam.closes_at <= at)))))
    rows = session.exec(select(QuestionVersion.category, func.count(), func.sum(AttemptItem.score), func.sum(AttemptItem.points))
                        .join(AttemptItem, AttemptItem.question_version_id == QuestionVersion.id)
                        .join(Attempt, Attempt.id == AttemptItem.attempt_id)
                        .join(Exam, Exam.id == Attempt.exam_id, isouter=True)
                        .where(Attempt.user_id == actor.id, AttemptItem.score.is_not(None), QuestionVersion.type != "essay",
                               AttemptItem.points > 0, scores_shown)
                        .group_by(QuestionVersion.category)).all()
    topics = [WeakTopic(cat, n, round(100 * (score or 0) / points, 1)) for cat, n, score, points in rows
              if n >= WEAK_MIN_ANSWERS and points and (score or 0) / points < WEAK_BELOW]
    topics.sort(key=lambda w: (w.percent, -w.answered, w.category))
    return topics[:limit]


def _types(types: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(types or PRACTICE_TYPES))
    bad = [t for t in chosen if t not in PRACTICE_TYPES]
    if bad or not chosen:
        raise ValidationFailed("error.practice_types")
    return chosen


# ---- creating attempts --------------------------------------------------------------------------------

def create_from_questions(session: Session, actor: Actor, *, kind: str, question_ids: list[str],
                          course_id: str | None = None, seed: int | None = None) -> int:
    """An open attempt of `kind` over the current versions of these questions (order shuffled, options
    shuffled), 1 point each question's own points, no deadline, counting for nothing."""
    seed = seed or papers.new_seed()
    rng = random.Random(seed)
    rows = {qid: (vid, vtype, pts, data) for qid, vid, vtype, pts, data in session.exec(
        select(Question.id, QuestionVersion.id, QuestionVersion.type, QuestionVersion.points, QuestionVersion.data)
        .join(QuestionVersion, (Question.id == QuestionVersion.question_id) & (Question.current_version == QuestionVersion.version))
        .where(col(Question.id).in_(question_ids), Question.active)).all()}
    ids = [q for q in question_ids if q in rows]
    if not ids:
        raise ValidationFailed("error.practice_empty")
    rng.shuffle(ids)
    items = []
    for pos, qid in enumerate(ids, start=1):
        vid, vtype, pts, data = rows[qid]
        order = None
        if vtype in papers.SHUFFLED_OPTIONS:
            n = len(data.get("options") or []) if vtype != "matching" else len(data.get("pairs") or [])
            order = list(range(n))
            rng.shuffle(order)
        items.append(papers.PaperItem(pos, vid, qid, vtype, float(pts), order))
    return attempts.create_attempt(session, user_id=actor.id, kind=kind, paper=papers.Paper(items), seed=seed,
                                   pass_percent=0, deadline_at=None, course_id=course_id)


def open_practice(session: Session, actor: Actor) -> int | None:
    """The learner's open practice session, if any (one at a time)."""
    require_role(actor, "learner")
    return session.exec(select(Attempt.id).where(Attempt.user_id == actor.id, Attempt.kind == "practice",
                                                 Attempt.status == ATTEMPT_OPEN).order_by(col(Attempt.id).desc())).first()


def start_practice(session: Session, actor: Actor, *, course_id: str | None = None, category: str | None = None,
                   weak: bool = False, count: int = 10, types: list[str] | None = None) -> int:
    """Draw a practice session: by course, by category subtree, or from my weak topics (exactly one
    scope); `count` questions (fewer when the pool is smaller) of `types`. A practice session still open
    is closed first (with what was saved: it counts for nothing)."""
    require_role(actor, "learner")
    category = (category or "").strip().strip("/") or None if category is not None else None
    if (course_id is not None) + (category is not None) + bool(weak) != 1:
        raise ValidationFailed("error.practice_scope")
    if not 1 <= int(count) <= MAX_COUNT:
        raise ValidationFailed("error.practice_count", max=MAX_COUNT)
    chosen_types = _types(types)
    cats = None
    if category is not None:
        cats = [category]
    if weak:
        cats = [w.category for w in weak_topics(session, actor)]
        if not cats:
            raise ValidationFailed("error.no_weak_topics")
    pool = [qid for qid, _ in _pool(session, actor, types=chosen_types, course_id=course_id, categories=cats)]
    if not pool:
        raise ValidationFailed("error.practice_empty")
    old = open_practice(session, actor)
    if old is not None:
        attempts.submit_attempt(session, actor, attempt_id=old)
    seed = papers.new_seed()
    picked = random.Random(seed).sample(pool, min(int(count), len(pool)))
    problems = papers.fixed_problems(session, picked, purpose="practice")   # the drawing's own usage check too
    if problems:
        raise ValidationFailed("error.quiz_rules", problems="; ".join(problems))
    return create_from_questions(session, actor, kind="practice", question_ids=picked, course_id=course_id, seed=seed)


def mock_courses(session: Session, actor: Actor) -> list[Any]:
    """The learner's courses that have an exam rule set (what a mock exam draws)."""
    require_role(actor, "learner")
    cards = _visible_courses(session, actor)
    with_rules = set(session.exec(select(Course.id).where(col(Course.id).in_([c.id for c in cards]),
                                                          Course.exam_rule_set.is_not(None))).all())
    return [c for c in cards if c.id in with_rules]


def open_mock(session: Session, actor: Actor, *, course_id: str | None = None) -> int | None:
    """The learner's open mock exam (of a course), if any; one past its deadline is finalised first."""
    require_role(actor, "learner")
    q = select(Attempt).where(Attempt.user_id == actor.id, Attempt.kind == "mock", Attempt.status == ATTEMPT_OPEN)
    if course_id is not None:
        q = q.where(Attempt.course_id == course_id)
    for attempt in session.exec(q.order_by(col(Attempt.id).desc())).all():
        if not attempts.finalise_if_overdue(session, attempt):
            return attempt.id
    return None


def start_mock(session: Session, actor: Actor, *, course_id: str) -> int:
    """A mock exam of the course: its exam rule set drawn as a timed paper (exam|both questions), or
    the open one resumed."""
    require_role(actor, "learner")
    if course_id not in {c.id for c in mock_courses(session, actor)}:
        raise NotFound(what="mock exam", id=course_id)
    existing = open_mock(session, actor, course_id=course_id)
    if existing is not None:
        return existing
    rule_set = session.get(Course, course_id).exam_rule_set
    seed = papers.new_seed()
    try:
        paper = papers.draw_paper(session, seed=seed, rules=rule_set["rules"], purpose="mock", course_id=course_id)
    except papers.Unsatisfiable as exc:
        raise ValidationFailed("error.quiz_rules", problems="; ".join(exc.problems)) from None
    at = now()
    return attempts.create_attempt(session, user_id=actor.id, kind="mock", paper=paper, seed=seed,
                                   pass_percent=rule_set.get("pass_percent", 60), started_at=at, course_id=course_id,
                                   deadline_at=at + timedelta(minutes=int(rule_set.get("time_limit_minutes", 60))))


# ---- checking one item (the player's `check` hook) ------------------------------------------------------

def _checked(session: Session, attempt_id: int) -> dict[int, PracticeCheck]:
    return {c.attempt_item_id: c for c in session.exec(
        select(PracticeCheck).join(AttemptItem, AttemptItem.id == PracticeCheck.attempt_item_id)
        .where(AttemptItem.attempt_id == attempt_id).execution_options(populate_existing=True)).all()}


def _reveal(item: attempts.ItemView, data: dict[str, Any], score: float | None) -> attempts.ItemView:
    return replace(item, key=correct_response(data), explanation=data.get("explanation"), score=score)


def _exam_allowance(session: Session, user_id: int, question_ids: list[str]) -> dict[str, tuple[bool, bool]]:
    """question id -> (right answers, explanations) that the learner's settled exam attempts holding it
    show now (services/attempts.review_policy); (False, False) when no exam of theirs holds it."""
    out = {q: (False, False) for q in question_ids}
    if not question_ids:
        return out
    policies: dict[int, tuple[bool, bool, bool]] = {}
    for attempt, qid in session.exec(select(Attempt, QuestionVersion.question_id)
                                     .join(AttemptItem, AttemptItem.attempt_id == Attempt.id)
                                     .join(QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id)
                                     .where(Attempt.user_id == user_id, Attempt.kind == "exam",
                                            Attempt.status == ATTEMPT_DONE,
                                            col(QuestionVersion.question_id).in_(question_ids))).all():
        if attempt.id not in policies:
            policies[attempt.id] = attempts.review_policy(session, attempt)
        _scores, keys, explain = policies[attempt.id]
        was = out[qid]
        out[qid] = (was[0] or keys, was[1] or explain)
    return out


def _review_limits(session: Session, user_id: int, items: list[attempts.ItemView]) -> list[attempts.ItemView]:
    """A notebook review holds exam-only questions that entered from an exam: their key and explanation
    show only as far as that exam's review policy shows them now (an exam that shows right answers after
    submitting but explanations never must not hand them out here)."""
    if not items:
        return items
    meta = {item_id: (qid, usage) for item_id, qid, usage in session.exec(
        select(AttemptItem.id, QuestionVersion.question_id, QuestionVersion.usage)
        .join(QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id)
        .where(col(AttemptItem.id).in_([i.item_id for i in items]))).all()}
    exam_only = sorted({qid for qid, usage in meta.values() if usage not in papers.USAGES["practice"]})
    if not exam_only:
        return items
    allowed = _exam_allowance(session, user_id, exam_only)
    out = []
    for i in items:
        qid, usage = meta[i.item_id]
        if usage not in papers.USAGES["practice"]:
            keys, explain = allowed[qid]
            i = replace(i, key=i.key if keys else None, explanation=i.explanation if explain else None)
        out.append(i)
    return out


def check_answer(session: Session, actor: Actor, *, item_id: int) -> attempts.ItemView:
    """Grade one answered item of the learner's open practice (or review) session at once, lock it, and
    return it with key, explanation and score. Checking it again returns the same (nothing changes)."""
    item = session.get(AttemptItem, item_id)
    if item is None:
        raise NotFound(what="item", id=item_id)
    attempt = attempts.own_attempt(session, actor, item.attempt_id)
    if attempt.kind not in CHECKABLE_KINDS:
        raise PermissionDenied("error.no_check_here")
    session.refresh(item)
    version = session.get(QuestionVersion, item.question_version_id)
    if session.get(PracticeCheck, item_id) is None:
        if attempt.status != ATTEMPT_OPEN:
            raise ValidationFailed("error.attempt_closed")
        view_item = attempts.ItemView(item.id, item.position, item.points, {}, item.response)
        if not view_item.answered:
            raise ValidationFailed("error.answer_first")
        score = attempts.item_score(version.data, item.response, item.points)
        if score is None:
            raise ValidationFailed("error.no_check_here")
        at = now()
        locked = session.execute(update(AttemptItem).where(
            AttemptItem.id == item_id, AttemptItem.score.is_(None),
            exists().where(Attempt.id == AttemptItem.attempt_id, Attempt.status == ATTEMPT_OPEN))
            .values(score=score).execution_options(synchronize_session=False)).rowcount == 1
        if locked:
            last = session.exec(select(func.max(PracticeCheck.checked_at))
                                .join(AttemptItem, AttemptItem.id == PracticeCheck.attempt_item_id)
                                .where(AttemptItem.attempt_id == attempt.id)).one()
            since = at - max(attempt.started_at, last) if last is not None else at - attempt.started_at
            duration = int(since.total_seconds() * 1000) if since <= DURATION_CAP else None
            correct = score >= item.points - 1e-9
            session.add(PracticeCheck(attempt_item_id=item_id, checked_at=at, correct=correct, duration_ms=duration))
            session.flush()
            if not correct:
                notebook.record_miss(session, actor.id, version.question_id, source=attempt.kind, version=version.version,
                                     attempt_item_id=item_id, at=at)
        session.expire(item)
    view = attempts.view(session, attempt)
    shown = next(i for i in view.items if i.item_id == item_id)
    session.refresh(item)
    revealed = _reveal(shown, version.data, item.score)
    if attempt.kind == "review":
        revealed = _review_limits(session, attempt.user_id, [revealed])[0]
    return revealed


def practice_view(session: Session, actor: Actor, *, attempt_id: int) -> attempts.AttemptView:
    """A practice, review or mock attempt as its owner may see it now: the checked items of an open
    practice or review with key, explanation and score; a closed one with keys and explanations of the
    questions that are not exam-only (a review's exam-only questions as far as their exam allows; a mock's
    never)."""
    require_role(actor, "learner")
    view = attempts.attempt_view(session, actor, attempt_id=attempt_id)
    if view.kind not in ("practice", "review", "mock"):
        raise ValidationFailed("error.not_practice")
    rows = dict(session.exec(select(AttemptItem.id, QuestionVersion.data).join(
        QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id).where(AttemptItem.attempt_id == attempt_id)).all())
    usage = dict(session.exec(select(AttemptItem.id, QuestionVersion.usage).join(
        QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id).where(AttemptItem.attempt_id == attempt_id)).all())
    scores = dict(session.exec(select(AttemptItem.id, AttemptItem.score).where(AttemptItem.attempt_id == attempt_id)).all())
    # keys come from here only (attempts.review_policy gives these kinds none): a closed attempt shows every
    # question's key but an exam-only one's (a review's exam-only questions: as their exam allows, below)
    if view.closed:
        view.items = [_reveal(i, rows[i.item_id], i.score) if usage[i.item_id] != "exam" or view.kind == "review" else i
                      for i in view.items]
    elif view.kind != "mock":
        checked = _checked(session, attempt_id)
        view.items = [_reveal(i, rows[i.item_id], scores[i.item_id]) if i.item_id in checked else i for i in view.items]
    if view.kind == "review":
        view.items = _review_limits(session, actor.id, view.items)
    return view


def checked_items(session: Session, actor: Actor, *, attempt_id: int) -> dict[int, bool]:
    """item id -> answered right, for the checked items of the learner's attempt."""
    attempts.own_attempt(session, actor, attempt_id)
    return {k: v.correct for k, v in _checked(session, attempt_id).items()}


@dataclass
class PastSession:
    attempt_id: int
    kind: str
    course_id: str | None
    started_at: datetime
    submitted_at: datetime | None
    score: float | None
    max_score: float
    passed: bool | None
    questions: int


def history(session: Session, actor: Actor, *, limit: int = 20) -> list[PastSession]:
    """The learner's closed practice sessions and mock exams, newest first (their own history)."""
    require_role(actor, "learner")
    rows = session.exec(select(Attempt, func.count(AttemptItem.id)).join(AttemptItem, AttemptItem.attempt_id == Attempt.id)
                        .where(Attempt.user_id == actor.id, col(Attempt.kind).in_(("practice", "mock")),
                               Attempt.status == ATTEMPT_DONE)
                        .group_by(Attempt.id).order_by(col(Attempt.submitted_at).desc(), col(Attempt.id).desc())
                        .limit(limit)).all()
    return [PastSession(a.id, a.kind, a.course_id, a.started_at, a.submitted_at, a.score, a.max_score,
                        a.passed if a.kind == "mock" else None, n) for a, n in rows]


def finish(session: Session, actor: Actor, *, attempt_id: int) -> attempts.AttemptView:
    """End a practice, review or mock attempt (idempotent); its answered wrong items enter the notebook."""
    attempt = attempts.own_attempt(session, actor, attempt_id)
    if attempt.kind not in ("practice", "review", "mock"):
        raise ValidationFailed("error.not_practice")
    attempts.submit_attempt(session, actor, attempt_id=attempt_id)
    return practice_view(session, actor, attempt_id=attempt_id)
