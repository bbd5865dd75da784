"""Learners: catalogue, course pages, lesson progress and time, course quizzes, 学时 per lesson.

Units of work: these functions flush, never commit; the caller (a page through ui.session.db(), the
CLI, a test) commits once per user action.

The attempt life cycle here (start, save_answer, submit, finalise at the deadline, sweep, manual
grading) is written for every kind of attempt; course quizzes use it now, exams will (design.md §5):
- at most one open attempt per learner, course and kind: a unique index over open attempts, and the
  insert of a new attempt skips on conflict so that the loser of a race resumes the winner's attempt;
- every save is one conditional UPDATE of the item: it names the version it replaces (a stale tab is
  refused, not silently overwriting) and only applies while the attempt is open and before its deadline
  (server clock);
- closing is one conditional UPDATE ... WHERE status = 'in_progress': two tabs, a double click or a
  sweep close it once; a save racing the close is either in the graded answers or refused (PostgreSQL:
  a save holds a share lock on the attempt row until it commits, the close waits for it; SQLite: writers
  are serialised, and the save's condition is evaluated inside its write);
- an item that needs a human (essay) leaves the attempt "pending_grading" with no pass/fail until graded.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, text, update
from sqlmodel import Session, col, func, select

import models.db as clock   # the server clock: clock.utcnow() (tests patch models.db.utcnow)
from models import (Attempt, AttemptItem, Course, CourseCompletion, LedgerEntry, Lesson, LessonProgress, OrgUnit,
                    Question, QuestionVersion, User)
from models.learning import ATTEMPT_DONE, ATTEMPT_OPEN, ATTEMPT_PENDING, OPEN_ATTEMPT_WHERE
from services import ledger
from services.content import DrawRule
from services.errors import NotFound, PermissionDenied, ValidationFailed
from services.grading import correct_response, score, valid_response
from services.permissions import Actor, require_admin, require_role, require_scope
from services.settings import CreditRule, credit_rule

MAX_INTERVAL_SECONDS = 30 * 60   # one uninterrupted stretch on a lesson counts at most this much


def _now() -> datetime:
    return clock.utcnow()


# ---- what a course offers and what is left ---------------------------------------------------------

@dataclass
class CourseCard:
    id: str
    title: str
    title_en: str | None
    category: str
    required: bool
    summary: str
    minutes: int
    credit_hours: float            # what the course offers: its lessons' tiers + the quiz bonus
    lessons_total: int
    lessons_done: int
    has_quiz: bool
    completed: bool
    quiz_passed: bool = False
    next_lesson_id: str | None = None   # the first unfinished lesson (by position)

    @property
    def progress(self) -> float:
        return self.lessons_done / self.lessons_total if self.lessons_total else 0.0

    @property
    def status(self) -> str:
        """completed | take_quiz (every lesson done, quiz not passed) | in_progress | not_started"""
        if self.completed:
            return "completed"
        if self.lessons_total and self.lessons_done >= self.lessons_total and self.has_quiz and not self.quiz_passed:
            return "take_quiz"
        return "in_progress" if self.lessons_done else "not_started"


@dataclass
class LessonItem:
    id: str
    position: int
    title: str
    minutes: int
    done: bool
    seconds_spent: int
    credit_hours: float = 0.0      # what this lesson (课件) is credited when done


@dataclass
class CourseDetail:
    card: CourseCard
    objectives: list[str]
    lessons: list[LessonItem]
    quiz: dict[str, Any] | None
    quiz_passed: bool
    completed_at: Any = None
    quiz_bonus: float = 0.0
    legacy_credit: bool = False    # credited as a whole course before per-lesson crediting (see _legacy_course_credit)


def _offer(rule: CreditRule, lesson_minutes: list[int], has_quiz: bool) -> float:
    return round(sum(rule.lesson_hours(m) for m in lesson_minutes) + (rule.quiz_bonus if has_quiz else 0.0), 2)


def _lesson_minutes(session: Session) -> dict[str, list[tuple[str, int, int]]]:
    """course id -> [(lesson id, position, minutes)] of its active lessons, in order."""
    out: dict[str, list[tuple[str, int, int]]] = {}
    for cid, lid, pos, minutes in session.exec(select(Lesson.course_id, Lesson.id, Lesson.position, Lesson.minutes)
                                               .where(Lesson.active).order_by(Lesson.course_id, Lesson.position)).all():
        out.setdefault(cid, []).append((lid, pos, minutes))
    return out


def _done_lessons(session: Session, user_id: int, course_id: str | None = None) -> set[str]:
    q = select(LessonProgress.lesson_id).where(LessonProgress.user_id == user_id, LessonProgress.completed_at.is_not(None))
    if course_id is not None:
        q = q.where(LessonProgress.course_id == course_id)
    return set(session.exec(q).all())


def _passed_quizzes(session: Session, user_id: int) -> set[str]:
    return set(session.exec(select(Attempt.course_id).where(Attempt.user_id == user_id, Attempt.kind == "quiz",
                                                            Attempt.passed == True).distinct()).all())  # noqa: E712


def catalogue(session: Session, actor: Actor, *, text: str = "", category: str | None = None,
              required: bool | None = None) -> list[CourseCard]:
    require_role(actor, "learner")
    q = select(Course).where(Course.active)
    if category:
        q = q.where(Course.category == category)
    if required is not None:
        q = q.where(Course.required == required)
    courses = session.exec(q.order_by(Course.position)).all()
    if text.strip():
        t = text.strip().lower()
        courses = [c for c in courses if t in c.title.lower() or t in (c.title_en or "").lower()
                   or t in c.summary.lower() or t in c.category.lower()]
    rule = credit_rule(session)
    lessons = _lesson_minutes(session)
    done = _done_lessons(session, actor.id)
    passed = _passed_quizzes(session, actor.id)
    completed = set(session.exec(select(CourseCompletion.course_id).where(CourseCompletion.user_id == actor.id)).all())
    cards = []
    for c in courses:
        ls = lessons.get(c.id, [])
        cards.append(CourseCard(
            c.id, c.title, c.title_en, c.category, c.required, c.summary, sum(m for _, _, m in ls),
            _offer(rule, [m for _, _, m in ls], bool(c.quiz)), len(ls), sum(1 for lid, _, _ in ls if lid in done),
            bool(c.quiz), c.id in completed, c.id in passed, next((lid for lid, _, _ in ls if lid not in done), None)))
    return cards


@dataclass
class CatalogueOffer:
    courses: int
    hours: float            # every active course: its lessons' tiers + quiz bonuses
    required_hours: float
    available: float = 0.0  # what the acting learner can still earn here (lessons not done, quizzes not passed)


def catalogue_offer(session: Session, actor: Actor) -> CatalogueOffer:
    """The 学时 the whole catalogue offers (to set against the annual target), and what is left of it
    for the acting learner."""
    require_role(actor, "learner")
    rule = credit_rule(session)
    lessons = _lesson_minutes(session)
    courses = session.exec(select(Course).where(Course.active)).all()
    offers = {c.id: _offer(rule, [m for _, _, m in lessons.get(c.id, [])], bool(c.quiz)) for c in courses}
    done, passed = _done_lessons(session, actor.id), _passed_quizzes(session, actor.id)
    legacy = set(session.exec(select(LedgerEntry.source_id).where(LedgerEntry.user_id == actor.id,
                                                                  LedgerEntry.source_type == "course")).all())
    available = sum(
        sum(rule.lesson_hours(m) for lid, _, m in lessons.get(c.id, []) if lid not in done)
        + (rule.quiz_bonus if c.quiz and c.id not in passed else 0.0)
        for c in courses if c.id not in legacy)
    return CatalogueOffer(len(courses), round(sum(offers.values()), 2),
                          round(sum(offers[c.id] for c in courses if c.required), 2), round(available, 2))


def categories(session: Session) -> list[str]:
    return sorted(set(session.exec(select(Course.category).where(Course.active)).all()))


def _course(session: Session, course_id: str) -> Course:
    course = session.get(Course, course_id)
    if course is None or not course.active:
        raise NotFound(what="course", id=course_id)
    return course


def _legacy_course_credit(session: Session, user_id: int, course_id: str) -> bool:
    """Before per-lesson crediting (migration 0002), a course was credited once as a whole, with a
    ledger row of source_type "course", when it was completed. The ledger is append-only, so that row
    stays; crediting that course's lessons (or its quiz bonus) again on top would count the same study
    twice. A course with such a row therefore earns nothing more."""
    return session.exec(select(LedgerEntry.id).where(LedgerEntry.user_id == user_id, LedgerEntry.source_type == "course",
                                                     LedgerEntry.source_id == course_id)).first() is not None


def course_detail(session: Session, actor: Actor, *, course_id: str) -> CourseDetail:
    require_role(actor, "learner")
    course = _course(session, course_id)
    rule = credit_rule(session)
    lessons = session.exec(select(Lesson).where(Lesson.course_id == course_id, Lesson.active).order_by(Lesson.position)).all()
    progress = {p.lesson_id: p for p in session.exec(select(LessonProgress).where(
        LessonProgress.user_id == actor.id, LessonProgress.course_id == course_id)).all()}
    items = [LessonItem(ls.id, ls.position, ls.title, ls.minutes, bool(progress.get(ls.id) and progress[ls.id].completed_at),
                        progress[ls.id].seconds_spent if ls.id in progress else 0, rule.lesson_hours(ls.minutes))
             for ls in lessons]
    completion = session.exec(select(CourseCompletion).where(CourseCompletion.user_id == actor.id,
                                                             CourseCompletion.course_id == course_id)).first()
    passed = _quiz_passed(session, actor.id, course_id)
    card = CourseCard(course.id, course.title, course.title_en, course.category, course.required, course.summary,
                      sum(ls.minutes for ls in lessons), _offer(rule, [ls.minutes for ls in lessons], bool(course.quiz)),
                      len(items), sum(i.done for i in items), bool(course.quiz), completion is not None, passed,
                      next((i.id for i in items if not i.done), None))
    return CourseDetail(card, list(course.objectives), items, course.quiz, passed,
                        completion.completed_at if completion else None,
                        rule.quiz_bonus if course.quiz else 0.0, _legacy_course_credit(session, actor.id, course_id))


def lesson_body(session: Session, actor: Actor, *, lesson_id: str) -> Lesson:
    require_role(actor, "learner")
    lesson = session.get(Lesson, lesson_id)
    if lesson is None or not lesson.active:
        raise NotFound(what="lesson", id=lesson_id)
    return lesson


# ---- study time and lessons ---------------------------------------------------------------------------

def record_study(session: Session, actor: Actor, *, lesson_id: str) -> LessonProgress:
    """Called whenever a learner is on a lesson. The time since the learner's previous call counts for
    this lesson only if that call was on this lesson too (switching lessons starts a new stretch), and a
    stretch longer than MAX_INTERVAL_SECONDS counts as that much (the learner may have walked away)."""
    lesson = lesson_body(session, actor, lesson_id=lesson_id)
    now = _now()
    latest = session.exec(select(LessonProgress).where(LessonProgress.user_id == actor.id)
                          .order_by(col(LessonProgress.last_seen_at).desc())).first()
    p = latest if latest is not None and latest.lesson_id == lesson_id else session.exec(
        select(LessonProgress).where(LessonProgress.user_id == actor.id, LessonProgress.lesson_id == lesson_id)).first()
    if p is None:
        p = LessonProgress(user_id=actor.id, course_id=lesson.course_id, lesson_id=lesson_id,
                           first_opened_at=now, last_seen_at=now)
    else:
        if p is latest:
            p.seconds_spent += int(min(max((now - p.last_seen_at).total_seconds(), 0), MAX_INTERVAL_SECONDS))
        p.last_seen_at = now
    session.add(p)
    session.flush()
    return p


def seconds_required(session: Session, lesson: Lesson) -> int:
    """Study time a lesson needs before it can be marked done (share of its estimated minutes)."""
    return int(lesson.minutes * 60 * credit_rule(session).min_study_ratio)


@dataclass
class StudyGate:
    required: int          # seconds the lesson needs before it can be marked done
    spent: int             # seconds stored so far
    remaining: int         # seconds still to study (0: the button is enabled)
    ready_at: datetime     # server time at which the remaining time is up if the learner stays


def study_gate(session: Session, actor: Actor, *, lesson_id: str) -> StudyGate:
    """How long until a lesson may be marked done, from the stored study time. Call it right after
    record_study on the page: the countdown shown is the remaining time, the check stays in
    complete_lesson."""
    lesson = lesson_body(session, actor, lesson_id=lesson_id)
    p = session.exec(select(LessonProgress).where(LessonProgress.user_id == actor.id,
                                                  LessonProgress.lesson_id == lesson_id)).first()
    need = seconds_required(session, lesson)
    spent = p.seconds_spent if p else 0
    now = _now()
    pending = 0
    if p is not None:   # time since the last record on this lesson counts too (capped like record_study)
        pending = int(min(max((now - p.last_seen_at).total_seconds(), 0), MAX_INTERVAL_SECONDS))
    remaining = 0 if p is not None and p.completed_at else max(0, need - spent - pending)
    return StudyGate(need, spent, remaining, now + timedelta(seconds=remaining))


@dataclass
class LessonOutcome:
    hours: float              # 学时 credited by this call (0 when the lesson was credited already)
    course_completed: bool    # this call completed the course

    def __bool__(self) -> bool:   # "did this complete the course?"
        return self.course_completed


def complete_lesson(session: Session, actor: Actor, *, lesson_id: str) -> LessonOutcome:
    """Mark a lesson done and credit it as its own 课件 (tier rule on its minutes). Refused until the
    lesson's minimum study time has been spent on it."""
    p = record_study(session, actor, lesson_id=lesson_id)
    lesson = session.get(Lesson, lesson_id)
    if p.completed_at is None:
        need = seconds_required(session, lesson)
        if p.seconds_spent < need:
            raise ValidationFailed("error.lesson_too_quick", minutes=-(-(need - p.seconds_spent) // 60))
        p.completed_at = _now()
        session.add(p)
        session.flush()
    course = _course(session, p.course_id)
    hours = _credit_done_lessons(session, actor.id, course)
    return LessonOutcome(hours, _maybe_complete(session, actor.id, course))


def _credit_done_lessons(session: Session, user_id: int, course: Course) -> float:
    """Credit every done lesson of the course that has no ledger row yet: the one just done, and any
    done before per-lesson crediting existed (credited now, in this year). The ledger's unique
    (user, source_type, source_id) keeps each lesson to one row."""
    if _legacy_course_credit(session, user_id, course.id):
        return 0.0
    rule = credit_rule(session)
    done = _done_lessons(session, user_id, course.id)
    credited = set(session.exec(select(LedgerEntry.source_id).where(
        LedgerEntry.user_id == user_id, LedgerEntry.source_type == "lesson", LedgerEntry.course_id == course.id)).all())
    total = 0.0
    for ls in session.exec(select(Lesson).where(Lesson.course_id == course.id, Lesson.active).order_by(Lesson.position)).all():
        if ls.id not in done or ls.id in credited:
            continue
        hours = rule.lesson_hours(ls.minutes)
        if ledger.credit(session, user_id=user_id, hours=hours, source_type="lesson", source_id=ls.id, course_id=course.id,
                         reason=f"学完《{course.title}》第 {ls.position} 节《{ls.title}》：{ls.minutes} 分钟，计 {hours:g} 学时"):
            total += hours
    return round(total, 2)


def _credit_quiz_bonus(session: Session, user_id: int, course: Course) -> float:
    rule = credit_rule(session)
    if not rule.quiz_bonus or _legacy_course_credit(session, user_id, course.id):
        return 0.0
    added = ledger.credit(session, user_id=user_id, hours=rule.quiz_bonus, source_type="quiz", source_id=course.id,
                          course_id=course.id, reason=f"通过《{course.title}》课程测验，加 {rule.quiz_bonus:g} 学时")
    return rule.quiz_bonus if added else 0.0


def _quiz_passed(session: Session, user_id: int, course_id: str) -> bool:
    return session.exec(select(Attempt.id).where(Attempt.user_id == user_id, Attempt.course_id == course_id,
                                                 Attempt.kind == "quiz", Attempt.passed == True)).first() is not None  # noqa: E712


def maybe_complete_course(session: Session, actor: Actor, *, course_id: str) -> bool:
    """Record the course's completion when every lesson is done and the quiz (if any) passed."""
    require_role(actor, "learner")
    return _maybe_complete(session, actor.id, _course(session, course_id))


def _maybe_complete(session: Session, user_id: int, course: Course) -> bool:
    """A completion is a record of its own (certificates, required-course reports); the 学时 were
    credited per lesson and for the quiz. Returns True when this call recorded it."""
    lessons = set(session.exec(select(Lesson.id).where(Lesson.course_id == course.id, Lesson.active)).all())
    if not lessons or not lessons <= _done_lessons(session, user_id, course.id):
        return False
    if course.quiz and not _quiz_passed(session, user_id, course.id):
        return False
    # two tabs finishing at the same moment: one completion, no error
    return ledger.insert_once(session, CourseCompletion, {"user_id": user_id, "course_id": course.id,
                                                           "completed_at": _now()},
                              index_elements=["user_id", "course_id"])


@dataclass
class NextStep:
    course_id: str
    lesson_id: str | None     # None: every lesson is done and the quiz is what is left
    label: str                # "course · lesson" (or just the course for the quiz)
    action: str = "lesson"    # lesson | quiz


@dataclass
class NextSteps:
    continue_at: NextStep | None
    required_open: list[CourseCard] = field(default_factory=list)

    @property
    def continue_lesson(self) -> tuple[str, str | None, str] | None:
        c = self.continue_at
        return (c.course_id, c.lesson_id, c.label) if c else None


def next_steps(session: Session, actor: Actor) -> NextSteps:
    """What to do next: in the course studied most recently and not completed, the first unfinished
    lesson, or the quiz when every lesson is done; and the required courses still open."""
    require_role(actor, "learner")
    cards = {c.id: c for c in catalogue(session, actor)}
    recent = session.exec(
        select(LessonProgress.course_id, func.max(LessonProgress.last_seen_at).label("seen"))
        .where(LessonProgress.user_id == actor.id).group_by(LessonProgress.course_id)
        .order_by(func.max(LessonProgress.last_seen_at).desc())).all()
    cont = None
    for course_id, _seen in recent:
        card = cards.get(course_id)
        if card is None or card.completed:
            continue
        if card.next_lesson_id:
            lesson_titles = dict(session.exec(select(Lesson.id, Lesson.title).where(Lesson.id == card.next_lesson_id)).all())
            cont = NextStep(card.id, card.next_lesson_id, f"{card.title} · {lesson_titles[card.next_lesson_id]}", "lesson")
        elif card.status == "take_quiz":
            cont = NextStep(card.id, None, card.title, "quiz")
        else:
            continue
        break
    return NextSteps(cont, [c for c in cards.values() if c.required and not c.completed])


# ---- course quiz: drawing the paper -------------------------------------------------------------------

def _draw(session: Session, rules: list[DrawRule], course_id: str, purpose: str, rng: random.Random) -> list[QuestionVersion]:
    """Draw current versions per rule without repeats (most specific rules first)."""
    usages = ("practice", "both") if purpose == "quiz" else ("exam", "both")
    taken: set[int] = set()
    picked: list[QuestionVersion] = []
    for rule in sorted(rules, key=lambda r: (r.category is None, r.difficulty is None)):
        q = (select(QuestionVersion).join(Question, (Question.id == QuestionVersion.question_id)
                                          & (Question.current_version == QuestionVersion.version))
             .where(Question.course_id == course_id, Question.active, QuestionVersion.type == rule.type,
                    col(QuestionVersion.usage).in_(usages)))
        if rule.category:
            q = q.where((QuestionVersion.category == rule.category) | col(QuestionVersion.category).startswith(rule.category + "/"))
        if rule.difficulty:
            q = q.where(QuestionVersion.difficulty >= rule.difficulty[0], QuestionVersion.difficulty <= rule.difficulty[1])
        pool = [v for v in session.exec(q).all() if v.id not in taken]
        if len(pool) < rule.count:
            raise ValidationFailed("error.quiz_unsatisfiable", type=rule.type, need=rule.count, have=len(pool))
        for v in rng.sample(pool, rule.count):
            taken.add(v.id)
            picked.append(v)
    return picked


def _open_attempt(session: Session, user_id: int, course_id: str, kind: str) -> Attempt | None:
    return session.exec(select(Attempt).where(Attempt.user_id == user_id, Attempt.course_id == course_id,
                                              Attempt.kind == kind, Attempt.status == ATTEMPT_OPEN)
                        .execution_options(populate_existing=True)).first()


def open_attempt(session: Session, actor: Actor, *, course_id: str, kind: str = "quiz") -> Attempt | None:
    """The acting learner's open attempt of a course (an overdue one is finalised first, so None then)."""
    require_role(actor, "learner")
    attempt = _open_attempt(session, actor.id, course_id, kind)
    if attempt is not None and _finalise_if_overdue(session, attempt):
        return None
    return attempt


def start_quiz(session: Session, actor: Actor, *, course_id: str, deadline_at: datetime | None = None) -> int:
    """Resume the open quiz attempt of this course, or draw and store a new paper. Two starts at once
    (two tabs, a double click) make one attempt: the unique index over open attempts lets one insert
    through, the other finds and resumes it."""
    require_role(actor, "learner")
    course = _course(session, course_id)
    if not course.quiz:
        raise NotFound(what="quiz", id=course_id)
    existing = open_attempt(session, actor, course_id=course_id)
    if existing is not None:
        return existing.id
    lessons = set(session.exec(select(Lesson.id).where(Lesson.course_id == course_id, Lesson.active)).all())
    if not lessons <= _done_lessons(session, actor.id, course_id):
        raise ValidationFailed("error.quiz_lessons_first")
    rng = random.Random()
    rules = [DrawRule.model_validate(r) for r in course.quiz["draw"]]
    versions = _draw(session, rules, course_id, "quiz", rng)
    rng.shuffle(versions)
    now = _now()
    attempt_id = ledger.insert_once(
        session, Attempt, {"user_id": actor.id, "kind": "quiz", "course_id": course_id, "started_at": now,
                           "deadline_at": deadline_at, "status": ATTEMPT_OPEN, "auto_submitted": False,
                           "pass_percent": course.quiz.get("pass_percent", 60),
                           "max_score": sum(v.points for v in versions)},
        index_elements=["user_id", "course_id", "kind"], index_where=text(OPEN_ATTEMPT_WHERE), returning=Attempt.id)
    if attempt_id is None:   # lost a race with another start: resume the winner's attempt
        winner = _open_attempt(session, actor.id, course_id, "quiz")
        if winner is None:
            raise ValidationFailed("error.attempt_closed")
        return winner.id
    for pos, v in enumerate(versions, start=1):
        order = None
        if v.type in ("single_choice", "multiple_choice"):
            order = list(range(len(v.data["options"])))
            rng.shuffle(order)
        elif v.type == "matching":
            order = list(range(len(v.data["pairs"])))
            rng.shuffle(order)
        session.add(AttemptItem(attempt_id=attempt_id, position=pos, question_version_id=v.id, points=v.points,
                                option_order=order))
    session.flush()
    return attempt_id


def _own_attempt(session: Session, actor: Actor, attempt_id: int) -> Attempt:
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
class QuizItemView:
    item_id: int
    position: int
    points: float
    question: dict[str, Any]       # learner_view(...)
    response: Any
    score: float | None = None     # after submission; None also while an essay waits for grading
    key: Any = None                # only once the review policy allows (passed)
    explanation: str | None = None
    version: int = 0               # the saved version; save_answer names it
    pending: bool = False          # waits for a human score


@dataclass
class QuizView:
    attempt_id: int
    course_id: str
    status: str                    # in_progress | pending_grading | submitted
    items: list[QuizItemView]
    score: float | None
    max_score: float
    pass_percent: float
    passed: bool | None
    started_at: datetime | None = None
    submitted_at: datetime | None = None
    deadline_at: datetime | None = None
    auto_submitted: bool = False

    @property
    def closed(self) -> bool:
        return self.status != ATTEMPT_OPEN


def quiz_view(session: Session, actor: Actor, *, attempt_id: int) -> QuizView:
    """An attempt as its owner may see it now. Opening an attempt past its deadline finalises it first."""
    attempt = _own_attempt(session, actor, attempt_id)
    _finalise_if_overdue(session, attempt)
    return _view(session, attempt)


def _view(session: Session, attempt: Attempt) -> QuizView:
    rows = session.exec(select(AttemptItem, QuestionVersion).join(QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id)
                        .where(AttemptItem.attempt_id == attempt.id).order_by(AttemptItem.position)
                        .execution_options(populate_existing=True)).all()
    # Review policy for course quizzes: after submission every item shows its score; keys and
    # explanations only once the quiz is passed (a failed attempt must not hand out the answers
    # for the retake, which draws from the same pool).
    scored = attempt.status != ATTEMPT_OPEN
    keys = attempt.status == ATTEMPT_DONE and bool(attempt.passed)
    items = [QuizItemView(it.id, it.position, it.points, learner_view(v.data, it.option_order), it.response,
                          it.score if scored else None,
                          correct_response(v.data) if keys else None,
                          v.data.get("explanation") if keys else None,
                          it.version, scored and it.score is None) for it, v in rows]
    return QuizView(attempt.id, attempt.course_id, attempt.status, items, attempt.score, attempt.max_score,
                    attempt.pass_percent, attempt.passed, attempt.started_at, attempt.submitted_at,
                    attempt.deadline_at, attempt.auto_submitted)


def save_answer(session: Session, actor: Actor, *, item_id: int, response: Any,
                expected_version: int | None = None) -> int:
    """Write one answer at once (every change is saved); returns the item's new version.
    `expected_version` is the version the page showed: when another window saved this item since, the
    save is refused (error.answer_changed_elsewhere) instead of overwriting it; pages always pass it
    (None skips that check, for scripts). Refused as well once the attempt is closed or its deadline
    has passed (server clock)."""
    item = session.get(AttemptItem, item_id)
    if item is None:
        raise NotFound(what="item", id=item_id)
    attempt = _own_attempt(session, actor, item.attempt_id)
    version = session.get(QuestionVersion, item.question_version_id)
    if not valid_response(version.data, response):
        raise ValidationFailed("error.bad_response")
    now = _now()
    # PostgreSQL: hold a share lock on the attempt row until this save commits, so a submission (which
    # updates that row) waits for it and then grades it, and a save after the submission sees it closed.
    # SQLite ignores FOR SHARE; its writers are serialised and the condition below runs inside the write.
    session.exec(select(Attempt.id).where(Attempt.id == attempt.id).with_for_update(read=True)).all()
    still_open = exists().where(Attempt.id == AttemptItem.attempt_id, Attempt.status == ATTEMPT_OPEN,
                                (Attempt.deadline_at == None) | (Attempt.deadline_at > now))  # noqa: E711
    stmt = (update(AttemptItem).where(AttemptItem.id == item_id, still_open)
            .values(response=response, saved_at=now, version=AttemptItem.version + 1)
            .execution_options(synchronize_session=False))
    if expected_version is not None:
        stmt = stmt.where(AttemptItem.version == expected_version)
    done = session.execute(stmt).rowcount == 1
    session.expire(item)
    if not done:
        session.refresh(attempt)
        if attempt.status != ATTEMPT_OPEN:
            raise ValidationFailed("error.attempt_closed")
        if attempt.deadline_at is not None and now >= attempt.deadline_at:
            raise ValidationFailed("error.attempt_overdue")
        raise ValidationFailed("error.answer_changed_elsewhere", position=item.position)
    return item.version


def _finalise(session: Session, attempt: Attempt, *, now: datetime, auto: bool = False) -> bool:
    """Close an open attempt with what was saved, grade it and credit a pass. Exactly once: the status
    flips in one conditional UPDATE, and only the caller whose UPDATE matched grades. Returns whether
    this call closed it."""
    flipped = session.execute(
        update(Attempt).where(Attempt.id == attempt.id, Attempt.status == ATTEMPT_OPEN)
        .values(status=ATTEMPT_PENDING, submitted_at=now, auto_submitted=auto)
        .execution_options(synchronize_session=False)).rowcount == 1
    if not flipped:
        session.refresh(attempt)
        return False
    # the answers as they are after every save that got in before the close (fresh from the database)
    rows = session.exec(select(AttemptItem, QuestionVersion).join(QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id)
                        .where(AttemptItem.attempt_id == attempt.id).execution_options(populate_existing=True)).all()
    for it, v in rows:
        it.score = score(v.data, it.response, it.points)   # None: an essay waits for a human
        session.add(it)
    session.flush()
    _settle(session, attempt.id)
    session.refresh(attempt)
    return True


def _settle(session: Session, attempt_id: int) -> None:
    """pending_grading -> submitted once every item has a score: total, pass/fail, credit."""
    attempt = session.exec(select(Attempt).where(Attempt.id == attempt_id).execution_options(populate_existing=True)).one()
    scores = session.exec(select(AttemptItem.score).where(AttemptItem.attempt_id == attempt_id)).all()
    total = round(sum(s for s in scores if s is not None), 2)
    if any(s is None for s in scores):
        session.execute(update(Attempt).where(Attempt.id == attempt_id, Attempt.status == ATTEMPT_PENDING)
                        .values(score=total, passed=None).execution_options(synchronize_session=False))
        return
    passed = attempt.max_score > 0 and 100 * total / attempt.max_score >= attempt.pass_percent - 1e-9
    settled = session.execute(update(Attempt).where(Attempt.id == attempt_id, Attempt.status == ATTEMPT_PENDING)
                              .values(status=ATTEMPT_DONE, score=total, passed=passed)
                              .execution_options(synchronize_session=False)).rowcount == 1
    session.refresh(attempt)
    if settled and passed and attempt.kind == "quiz" and attempt.course_id:
        course = session.get(Course, attempt.course_id)
        _credit_done_lessons(session, attempt.user_id, course)   # lessons done before per-lesson crediting
        _credit_quiz_bonus(session, attempt.user_id, course)
        _maybe_complete(session, attempt.user_id, course)


def _overdue(attempt: Attempt, now: datetime) -> bool:
    return attempt.status == ATTEMPT_OPEN and attempt.deadline_at is not None and now >= attempt.deadline_at


def _finalise_if_overdue(session: Session, attempt: Attempt) -> bool:
    now = _now()
    if _overdue(attempt, now):
        _finalise(session, attempt, now=now, auto=True)
        return True
    return False


def submit_attempt(session: Session, actor: Actor, *, attempt_id: int) -> bool:
    """The learner submits. Idempotent: returns True only for the call that closed the attempt."""
    attempt = _own_attempt(session, actor, attempt_id)
    now = _now()
    return _finalise(session, attempt, now=now, auto=_overdue(attempt, now))


def submit_quiz(session: Session, actor: Actor, *, attempt_id: int) -> QuizView:
    """Grade and close the attempt (idempotent). Passing credits the quiz bonus and may complete the course."""
    submit_attempt(session, actor, attempt_id=attempt_id)
    return quiz_view(session, actor, attempt_id=attempt_id)


def sweep_overdue(session: Session, actor: Actor, *, now: datetime | None = None) -> int:
    """Finalise every open attempt past its deadline with what was saved (a periodic job, the CLI).
    Returns how many this call closed."""
    require_admin(actor)
    now = now or _now()
    closed = 0
    for attempt in session.exec(select(Attempt).where(Attempt.status == ATTEMPT_OPEN, Attempt.deadline_at.is_not(None),
                                                      Attempt.deadline_at <= now)).all():
        closed += _finalise(session, attempt, now=now, auto=True)
    return closed


def grade_item(session: Session, actor: Actor, *, item_id: int, points: float) -> QuizView | None:
    """A trainer scores an item that needs a human (an essay) of a closed attempt of a learner in the
    trainer's scope. The last score settles the attempt (total, pass/fail, 学时)."""
    item = session.get(AttemptItem, item_id)
    if item is None:
        raise NotFound(what="item", id=item_id)
    attempt = session.get(Attempt, item.attempt_id)
    learner = session.get(User, attempt.user_id)
    unit = session.get(OrgUnit, learner.unit_id) if learner and learner.unit_id else None
    require_scope(actor, "trainer", unit.path if unit else None)
    if not 0 <= points <= item.points:
        raise ValidationFailed("error.score_range", max=item.points)
    # two graders finishing the last two items at once: serialise per attempt (PostgreSQL row lock;
    # SQLite serialises writers), so the second sees the first's score and settles the attempt
    session.exec(select(Attempt.id).where(Attempt.id == attempt.id).with_for_update()).all()
    done = session.execute(update(AttemptItem).where(
        AttemptItem.id == item_id,
        exists().where(Attempt.id == AttemptItem.attempt_id, Attempt.status == ATTEMPT_PENDING))
        .values(score=round(points, 4)).execution_options(synchronize_session=False)).rowcount == 1
    if not done:
        raise ValidationFailed("error.attempt_not_pending")
    session.expire(item)
    _settle(session, attempt.id)
    session.refresh(attempt)
    return _view(session, attempt)


@dataclass
class AttemptSummary:
    attempt_id: int
    started_at: datetime
    submitted_at: datetime | None
    status: str
    score: float | None
    max_score: float
    passed: bool | None
    auto_submitted: bool


@dataclass
class QuizState:
    """What the course page shows of the quiz, all from the database: the open attempt, else the last
    closed one (per the review policy), and every closed attempt, newest first."""
    current: QuizView | None
    history: list[AttemptSummary]


def quiz_state(session: Session, actor: Actor, *, course_id: str) -> QuizState:
    require_role(actor, "learner")
    _course(session, course_id)
    current = None
    attempt = open_attempt(session, actor, course_id=course_id)
    closed = quiz_history(session, actor, course_id=course_id)
    closed = [a for a in closed if a.status != ATTEMPT_OPEN]
    if attempt is None and closed:
        attempt = closed[0]
    if attempt is not None:
        current = _view(session, attempt)
    return QuizState(current, [AttemptSummary(a.id, a.started_at, a.submitted_at, a.status, a.score, a.max_score,
                                              a.passed, a.auto_submitted) for a in closed])


def quiz_history(session: Session, actor: Actor, *, course_id: str) -> list[Attempt]:
    require_role(actor, "learner")
    return list(session.exec(select(Attempt).where(Attempt.user_id == actor.id, Attempt.course_id == course_id,
                                                   Attempt.kind == "quiz")
                             .order_by(col(Attempt.started_at).desc(), col(Attempt.id).desc())
                             .execution_options(populate_existing=True)).all())
