"""Learners: catalogue, course pages, lesson progress and time, course quizzes, completion → 学时."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from models import Attempt, AttemptItem, Course, CourseCompletion, Lesson, LessonProgress, Question, QuestionVersion
from models.db import utcnow
from services import ledger
from services.content import DrawRule
from services.errors import NotFound, PermissionDenied, ValidationFailed
from services.grading import correct_response, score, valid_response
from services.permissions import Actor, require_role
from services.settings import credit_rule

MAX_INTERVAL_SECONDS = 30 * 60   # one uninterrupted stretch on a lesson counts at most this much


@dataclass
class CourseCard:
    id: str
    title: str
    title_en: str | None
    category: str
    required: bool
    summary: str
    minutes: int
    credit_hours: float
    lessons_total: int
    lessons_done: int
    has_quiz: bool
    completed: bool

    @property
    def progress(self) -> float:
        return self.lessons_done / self.lessons_total if self.lessons_total else 0.0

    @property
    def status(self) -> str:
        return "completed" if self.completed else ("in_progress" if self.lessons_done else "not_started")


@dataclass
class LessonItem:
    id: str
    position: int
    title: str
    minutes: int
    done: bool
    seconds_spent: int


@dataclass
class CourseDetail:
    card: CourseCard
    objectives: list[str]
    lessons: list[LessonItem]
    quiz: dict[str, Any] | None
    quiz_passed: bool
    completed_at: Any = None


def _course_hours(session: Session, minutes: int, has_quiz: bool) -> float:
    rule = credit_rule(session)
    return rule.course_hours(minutes) + (rule.quiz_bonus if has_quiz else 0.0)


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
    lesson_stats = dict((cid, (n, m)) for cid, n, m in session.exec(
        select(Lesson.course_id, func.count(), func.sum(Lesson.minutes)).where(Lesson.active).group_by(Lesson.course_id)).all())
    done = dict(session.exec(
        select(LessonProgress.course_id, func.count())
        .join(Lesson, Lesson.id == LessonProgress.lesson_id)
        .where(LessonProgress.user_id == actor.id, LessonProgress.completed_at.is_not(None), Lesson.active)
        .group_by(LessonProgress.course_id)).all())
    completed = set(session.exec(select(CourseCompletion.course_id).where(CourseCompletion.user_id == actor.id)).all())
    cards = []
    for c in courses:
        n, minutes = lesson_stats.get(c.id, (0, 0))
        cards.append(CourseCard(c.id, c.title, c.title_en, c.category, c.required, c.summary, int(minutes or 0),
                                _course_hours(session, int(minutes or 0), bool(c.quiz)), n, done.get(c.id, 0),
                                bool(c.quiz), c.id in completed))
    return cards


def categories(session: Session) -> list[str]:
    return sorted(set(session.exec(select(Course.category).where(Course.active)).all()))


def _course(session: Session, course_id: str) -> Course:
    course = session.get(Course, course_id)
    if course is None or not course.active:
        raise NotFound(what="course", id=course_id)
    return course


def course_detail(session: Session, actor: Actor, *, course_id: str) -> CourseDetail:
    require_role(actor, "learner")
    course = _course(session, course_id)
    lessons = session.exec(select(Lesson).where(Lesson.course_id == course_id, Lesson.active).order_by(Lesson.position)).all()
    progress = {p.lesson_id: p for p in session.exec(select(LessonProgress).where(
        LessonProgress.user_id == actor.id, LessonProgress.course_id == course_id)).all()}
    items = [LessonItem(ls.id, ls.position, ls.title, ls.minutes, bool(progress.get(ls.id) and progress[ls.id].completed_at),
                        progress[ls.id].seconds_spent if ls.id in progress else 0) for ls in lessons]
    completion = session.exec(select(CourseCompletion).where(CourseCompletion.user_id == actor.id,
                                                             CourseCompletion.course_id == course_id)).first()
    minutes = sum(ls.minutes for ls in lessons)
    card = CourseCard(course.id, course.title, course.title_en, course.category, course.required, course.summary,
                      minutes, _course_hours(session, minutes, bool(course.quiz)), len(items),
                      sum(i.done for i in items), bool(course.quiz), completion is not None)
    return CourseDetail(card, list(course.objectives), items, course.quiz, _quiz_passed(session, actor.id, course_id),
                        completion.completed_at if completion else None)


def lesson_body(session: Session, actor: Actor, *, lesson_id: str) -> Lesson:
    require_role(actor, "learner")
    lesson = session.get(Lesson, lesson_id)
    if lesson is None or not lesson.active:
        raise NotFound(what="lesson", id=lesson_id)
    return lesson


def record_study(session: Session, actor: Actor, *, lesson_id: str) -> LessonProgress:
    """Called whenever a learner is on a lesson. The time since the learner's previous call counts for
    this lesson only if that call was on this lesson too (switching lessons starts a new stretch), and a
    stretch longer than MAX_INTERVAL_SECONDS counts as that much (the learner may have walked away)."""
    lesson = lesson_body(session, actor, lesson_id=lesson_id)
    now = utcnow()
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
    session.commit()
    return p


def seconds_required(session: Session, lesson: Lesson) -> int:
    """Study time a lesson needs before it can be marked done (share of its estimated minutes)."""
    return int(lesson.minutes * 60 * credit_rule(session).min_study_ratio)


def complete_lesson(session: Session, actor: Actor, *, lesson_id: str) -> bool:
    """Mark a lesson done; returns True when this completed the whole course (and credited 学时).
    Refused until the lesson's minimum study time has been spent on it."""
    p = record_study(session, actor, lesson_id=lesson_id)
    if p.completed_at is None:
        lesson = session.get(Lesson, lesson_id)
        need = seconds_required(session, lesson)
        if p.seconds_spent < need:
            raise ValidationFailed("error.lesson_too_quick", minutes=-(-(need - p.seconds_spent) // 60))
        p.completed_at = utcnow()
        session.add(p)
        session.commit()
    return maybe_complete_course(session, actor, course_id=p.course_id)


def _quiz_passed(session: Session, user_id: int, course_id: str) -> bool:
    return session.exec(select(Attempt.id).where(Attempt.user_id == user_id, Attempt.course_id == course_id,
                                                 Attempt.kind == "quiz", Attempt.passed == True)).first() is not None  # noqa: E712


def maybe_complete_course(session: Session, actor: Actor, *, course_id: str) -> bool:
    """Complete the course when every lesson is done and the quiz (if any) passed; credit its hours once."""
    course = _course(session, course_id)
    lessons = session.exec(select(Lesson).where(Lesson.course_id == course_id, Lesson.active)).all()
    done = set(session.exec(select(LessonProgress.lesson_id).where(
        LessonProgress.user_id == actor.id, LessonProgress.course_id == course_id,
        LessonProgress.completed_at.is_not(None))).all())
    if not lessons or any(ls.id not in done for ls in lessons):
        return False
    if course.quiz and not _quiz_passed(session, actor.id, course_id):
        return False
    if session.exec(select(CourseCompletion.id).where(CourseCompletion.user_id == actor.id,
                                                      CourseCompletion.course_id == course_id)).first():
        return False
    try:
        with session.begin_nested():   # two tabs finishing at the same moment: one completion, no error
            session.add(CourseCompletion(user_id=actor.id, course_id=course_id))
    except IntegrityError:
        return False
    rule = credit_rule(session)
    minutes = sum(ls.minutes for ls in lessons)
    hours = rule.course_hours(minutes)
    ledger.credit(session, user_id=actor.id, hours=hours, source_type="course", source_id=course_id, course_id=course_id,
                  reason=f"完成课程《{course.title}》：学习材料 {minutes} 分钟，计 {hours:g} 学时")
    if course.quiz and rule.quiz_bonus:
        ledger.credit(session, user_id=actor.id, hours=rule.quiz_bonus, source_type="quiz", source_id=course_id,
                      course_id=course_id, reason=f"通过《{course.title}》课程测验，加 {rule.quiz_bonus:g} 学时")
    session.commit()
    return True


@dataclass
class NextSteps:
    continue_lesson: tuple[str, str, str] | None     # (course_id, lesson_id, "course · lesson")
    required_open: list[CourseCard] = field(default_factory=list)


def next_steps(session: Session, actor: Actor) -> NextSteps:
    require_role(actor, "learner")
    last = session.exec(
        select(LessonProgress, Lesson.title, Course.title)
        .join(Lesson, Lesson.id == LessonProgress.lesson_id).join(Course, Course.id == LessonProgress.course_id)
        .where(LessonProgress.user_id == actor.id, Course.active, Lesson.active,
               col(LessonProgress.course_id).not_in(select(CourseCompletion.course_id).where(CourseCompletion.user_id == actor.id)))
        .order_by(col(LessonProgress.last_seen_at).desc())).first()
    cont = None
    if last is not None:
        p, ltitle, ctitle = last
        cont = (p.course_id, p.lesson_id, f"{ctitle} · {ltitle}")
    cards = catalogue(session, actor, required=True)
    return NextSteps(cont, [c for c in cards if not c.completed])


# ---- course quiz -------------------------------------------------------------------------------

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


def start_quiz(session: Session, actor: Actor, *, course_id: str) -> int:
    """Resume the open quiz attempt of this course, or draw and store a new paper."""
    require_role(actor, "learner")
    course = _course(session, course_id)
    if not course.quiz:
        raise NotFound(what="quiz", id=course_id)
    open_attempt = session.exec(select(Attempt).where(Attempt.user_id == actor.id, Attempt.course_id == course_id,
                                                      Attempt.kind == "quiz", Attempt.status == "in_progress")).first()
    if open_attempt:
        return open_attempt.id
    lessons = set(session.exec(select(Lesson.id).where(Lesson.course_id == course_id, Lesson.active)).all())
    done = set(session.exec(select(LessonProgress.lesson_id).where(
        LessonProgress.user_id == actor.id, LessonProgress.course_id == course_id,
        LessonProgress.completed_at.is_not(None))).all())
    if not lessons <= done:
        raise ValidationFailed("error.quiz_lessons_first")
    rng = random.Random()
    rules = [DrawRule.model_validate(r) for r in course.quiz["draw"]]
    versions = _draw(session, rules, course_id, "quiz", rng)
    rng.shuffle(versions)
    attempt = Attempt(user_id=actor.id, kind="quiz", course_id=course_id, pass_percent=course.quiz.get("pass_percent", 60),
                      max_score=sum(v.points for v in versions))
    session.add(attempt)
    session.flush()
    for pos, v in enumerate(versions, start=1):
        order = None
        if v.type in ("single_choice", "multiple_choice"):
            order = list(range(len(v.data["options"])))
            rng.shuffle(order)
        elif v.type == "matching":
            order = list(range(len(v.data["pairs"])))
            rng.shuffle(order)
        session.add(AttemptItem(attempt_id=attempt.id, position=pos, question_version_id=v.id, points=v.points,
                                option_order=order))
    session.commit()
    return attempt.id


def _own_attempt(session: Session, actor: Actor, attempt_id: int) -> Attempt:
    attempt = session.get(Attempt, attempt_id)
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
    score: float | None = None
    key: Any = None                # only after submission
    explanation: str | None = None


@dataclass
class QuizView:
    attempt_id: int
    course_id: str
    status: str
    items: list[QuizItemView]
    score: float | None
    max_score: float
    pass_percent: float
    passed: bool | None


def quiz_view(session: Session, actor: Actor, *, attempt_id: int) -> QuizView:
    attempt = _own_attempt(session, actor, attempt_id)
    rows = session.exec(select(AttemptItem, QuestionVersion).join(QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id)
                        .where(AttemptItem.attempt_id == attempt_id).order_by(AttemptItem.position)).all()
    # Review policy for course quizzes: after submission every item shows its score; keys and
    # explanations only once the quiz is passed (a failed attempt must not hand out the answers
    # for the retake, which draws from the same pool).
    scored = attempt.status == "submitted"
    keys = scored and bool(attempt.passed)
    items = [QuizItemView(it.id, it.position, it.points, learner_view(v.data, it.option_order), it.response,
                          it.score if scored else None,
                          correct_response(v.data) if keys else None,
                          v.data.get("explanation") if keys else None) for it, v in rows]
    return QuizView(attempt.id, attempt.course_id, attempt.status, items, attempt.score, attempt.max_score,
                    attempt.pass_percent, attempt.passed)


def save_answer(session: Session, actor: Actor, *, item_id: int, response: Any) -> None:
    """Write one answer at once (every change is saved)."""
    item = session.get(AttemptItem, item_id)
    if item is None:
        raise NotFound(what="item", id=item_id)
    attempt = _own_attempt(session, actor, item.attempt_id)
    if attempt.status != "in_progress":
        raise ValidationFailed("error.attempt_closed")
    version = session.get(QuestionVersion, item.question_version_id)
    if not valid_response(version.data, response):
        raise ValidationFailed("error.bad_response")
    item.response, item.saved_at = response, utcnow()
    session.add(item)
    session.commit()


def submit_quiz(session: Session, actor: Actor, *, attempt_id: int) -> QuizView:
    """Grade and close the attempt (idempotent). Passing may complete the course."""
    attempt = _own_attempt(session, actor, attempt_id)
    if attempt.status == "in_progress":
        rows = session.exec(select(AttemptItem, QuestionVersion).join(QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id)
                            .where(AttemptItem.attempt_id == attempt_id)).all()
        total = 0.0
        for it, v in rows:
            it.score = score(v.data, it.response, it.points) or 0.0
            total += it.score
            session.add(it)
        attempt.score = round(total, 2)
        attempt.submitted_at = utcnow()
        attempt.status = "submitted"
        attempt.passed = attempt.max_score > 0 and 100 * total / attempt.max_score >= attempt.pass_percent
        session.add(attempt)
        session.commit()
        if attempt.passed:
            maybe_complete_course(session, actor, course_id=attempt.course_id)
    return quiz_view(session, actor, attempt_id=attempt_id)


def quiz_history(session: Session, actor: Actor, *, course_id: str) -> list[Attempt]:
    require_role(actor, "learner")
    return list(session.exec(select(Attempt).where(Attempt.user_id == actor.id, Attempt.course_id == course_id,
                                                   Attempt.kind == "quiz").order_by(col(Attempt.started_at).desc())).all())


