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

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

import models.db as clock   # the server clock: clock.utcnow() (tests patch models.db.utcnow)
from models import (Attempt, Course, CourseCompletion, LedgerEntry, Lesson, LessonProgress)
from models.learning import ATTEMPT_OPEN
from services import attempts, ledger, papers
from services.errors import NotFound, ValidationFailed
from services.permissions import Actor, require_role
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
    courses = [c for c in session.exec(q.order_by(Course.position)).all() if _in_audience(session, actor, c)]
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
        if not ls:            # a course still being written (no lesson yet) is not offered
            continue
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
    # the courses the catalogue shows this learner: their audience, with lessons
    courses = [c for c in session.exec(select(Course).where(Course.active)).all()
               if lessons.get(c.id) and _in_audience(session, actor, c)]
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


def _in_audience(session: Session, actor: Actor, course: Course) -> bool:
    """A course with an audience (org units with their subtrees) is for those learners only; trainers and
    admins see every course (they check what learners get)."""
    if not course.audience or actor.has("admin") or actor.has("trainer"):
        return True
    from services.courses import course_visible_to
    return course_visible_to(session, actor, course.id)


def _course(session: Session, course_id: str, actor: Actor | None = None) -> Course:
    course = session.get(Course, course_id)
    if course is None or not course.active or (actor is not None and not _in_audience(session, actor, course)):
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
    course = _course(session, course_id, actor)
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
    at = _now()
    added = ledger.insert_once(session, CourseCompletion, {"user_id": user_id, "course_id": course.id,
                                                            "completed_at": at},
                               index_elements=["user_id", "course_id"])
    if added:   # the HR dashboard's per-person-year totals: recomputed for this person and year
        from services.analytics import rollups
        rollups.refresh_completion(session, user_id, at)
    return added


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


# ---- course quiz: the attempt life cycle lives in services/attempts.py, the drawing in services/papers.py

QuizItemView = attempts.ItemView      # the names the course page and tests use
QuizView = attempts.AttemptView
learner_view = attempts.learner_view
save_answer = attempts.save_answer
submit_attempt = attempts.submit_attempt


def _open_attempt(session: Session, user_id: int, course_id: str, kind: str) -> Attempt | None:
    return session.exec(select(Attempt).where(Attempt.user_id == user_id, Attempt.course_id == course_id,
                                              Attempt.kind == kind, Attempt.status == ATTEMPT_OPEN,
                                              Attempt.exam_id.is_(None))
                        .execution_options(populate_existing=True)).first()


def open_attempt(session: Session, actor: Actor, *, course_id: str, kind: str = "quiz") -> Attempt | None:
    """The acting learner's open attempt of a course (an overdue one is finalised first, so None then)."""
    require_role(actor, "learner")
    attempt = _open_attempt(session, actor.id, course_id, kind)
    if attempt is not None and attempts.finalise_if_overdue(session, attempt):
        return None
    return attempt


def start_quiz(session: Session, actor: Actor, *, course_id: str, deadline_at: datetime | None = None) -> int:
    """Resume the open quiz attempt of this course, or draw and store a new paper (services/papers:
    practice|both questions of the course, points from the rules, a seeded shuffle of questions and
    options). Two starts at once (two tabs, a double click) make one attempt: the unique index over open
    attempts lets one insert through, the other finds and resumes it."""
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
    seed = papers.new_seed()
    try:
        paper = papers.draw_paper(session, seed=seed, rules=course.quiz["draw"], purpose="quiz", course_id=course_id)
    except papers.Unsatisfiable as exc:
        raise ValidationFailed("error.quiz_rules", problems="; ".join(exc.problems)) from None
    return attempts.create_attempt(session, user_id=actor.id, kind="quiz", paper=paper, seed=seed,
                                   pass_percent=course.quiz.get("pass_percent", 60), deadline_at=deadline_at,
                                   course_id=course_id)


def reward_quiz_pass(session: Session, attempt: Attempt) -> None:
    """A quiz attempt settled as passed (services/attempts.settle): the quiz bonus, lessons done before
    per-lesson crediting, and the course's completion."""
    course = session.get(Course, attempt.course_id)
    _credit_done_lessons(session, attempt.user_id, course)
    _credit_quiz_bonus(session, attempt.user_id, course)
    _maybe_complete(session, attempt.user_id, course)


def quiz_view(session: Session, actor: Actor, *, attempt_id: int) -> QuizView:
    """An attempt as its owner may see it now. Opening an attempt past its deadline finalises it first."""
    return attempts.attempt_view(session, actor, attempt_id=attempt_id)


def submit_quiz(session: Session, actor: Actor, *, attempt_id: int) -> QuizView:
    """Grade and close the attempt (idempotent). Passing credits the quiz bonus and may complete the course."""
    attempts.submit_attempt(session, actor, attempt_id=attempt_id)
    return quiz_view(session, actor, attempt_id=attempt_id)


def sweep_overdue(session: Session, actor: Actor, *, now: datetime | None = None) -> int:
    """Finalise every open attempt past its deadline (services/attempts.sweep_overdue)."""
    return attempts.sweep_overdue(session, actor, at=now)


def grade_item(session: Session, actor: Actor, *, item_id: int, points: float) -> QuizView | None:
    """A trainer scores an essay with one score (services/attempts.grade_essay has rubric items,
    comments and the second grader's review)."""
    return attempts.grade_essay(session, actor, item_id=item_id, score=points)


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
    _course(session, course_id, actor)
    current = None
    attempt = open_attempt(session, actor, course_id=course_id)
    closed = quiz_history(session, actor, course_id=course_id)
    closed = [a for a in closed if a.status != ATTEMPT_OPEN]
    if attempt is None and closed:
        attempt = closed[0]
    if attempt is not None:
        current = attempts.view(session, attempt)
    return QuizState(current, [AttemptSummary(a.id, a.started_at, a.submitted_at, a.status, a.score, a.max_score,
                                              a.passed, a.auto_submitted) for a in closed])


def quiz_history(session: Session, actor: Actor, *, course_id: str) -> list[Attempt]:
    require_role(actor, "learner")
    return list(session.exec(select(Attempt).where(Attempt.user_id == actor.id, Attempt.course_id == course_id,
                                                   Attempt.kind == "quiz")
                             .order_by(col(Attempt.started_at).desc(), col(Attempt.id).desc())
                             .execution_options(populate_existing=True)).all())
