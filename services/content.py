"""The curriculum as data: read question_bank/, check it, and load it into the database.

Loading is an idempotent upsert by stable id; a question whose content changed gets a new
version (old attempts keep theirs). `check_bank` is what `cli.py content check` prints."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session, select

from config import get_settings
from models import Course, Lesson, Question, QuestionVersion
from models.db import utcnow
from services.interchange import QuestionIn, content_hash, normalised_text, pydantic_errors

CJK = re.compile(r"[\u4e00-\u9fff]")
LESSON_MIN_CJK, LESSON_MAX_CJK = 800, 2500
HTML_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")
CITED_LAW = re.compile(r"《[^》]*(?:法|条例|办法|规定)》")   # a question that cites one needs legal_basis


class DrawRule(BaseModel):
    """How many questions of a type (optionally per category subtree and difficulty range)."""
    model_config = ConfigDict(extra="forbid")
    type: Literal["single_choice", "multiple_choice", "true_false", "fill_blank", "numerical", "matching", "essay"]
    count: int = Field(gt=0)
    category: str | None = None
    difficulty: tuple[int, int] | None = None
    points: float | None = None


class QuizSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = "课程测验"
    pass_percent: float = Field(60, gt=0, le=100)
    draw: list[DrawRule]


class ExamRuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    time_limit_minutes: int = Field(gt=0)
    pass_percent: float = Field(60, gt=0, le=100)
    rules: list[DrawRule]


class LessonSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    title: str
    file: str
    minutes: int = Field(gt=0, le=240)


class CourseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,30}$")
    title: str
    title_en: str | None = None
    category: str
    required: bool = False
    summary: str = ""
    objectives: list[str] = []
    lessons: list[LessonSpec] = Field(min_length=1)
    quiz: QuizSpec | None = None
    exam_rule_set: ExamRuleSet | None = None


@dataclass
class LoadedCourse:
    spec: CourseSpec
    folder: Path
    position: int
    lesson_bodies: dict[str, str] = field(default_factory=dict)
    questions: list[QuestionIn] = field(default_factory=list)


@dataclass
class Bank:
    courses: list[LoadedCourse]
    errors: list[str]


def _yaml(path: Path, errors: list[str]) -> Any:
    label = "/".join(path.parts[-3:])
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        errors.append(f"{label}: file missing")
    except yaml.YAMLError as exc:
        errors.append(f"{label}: YAML error: {exc}".replace("\n", " "))
    return None


def read_bank(root: Path | None = None) -> Bank:
    """Parse every course folder; collect errors instead of stopping at the first."""
    root = root or get_settings().question_bank_dir
    errors: list[str] = []
    courses: list[LoadedCourse] = []
    folders = sorted(p for p in (root / "courses").glob("*") if p.is_dir()) if (root / "courses").exists() else []
    for pos, folder in enumerate(folders):
        rel = folder.relative_to(root)
        raw = _yaml(folder / "course.yaml", errors)
        if raw is None:
            continue
        try:
            spec = CourseSpec.model_validate(raw)
        except ValidationError as exc:
            errors.extend(f"{rel}/course.yaml: {m}" for m in pydantic_errors(exc))
            continue
        lc = LoadedCourse(spec=spec, folder=folder, position=pos)
        for lesson in spec.lessons:
            path = folder / lesson.file
            if not path.exists():
                errors.append(f"{rel}/{lesson.file}: lesson file missing")
                continue
            lc.lesson_bodies[lesson.id] = path.read_text(encoding="utf-8")
        qraw = _yaml(folder / "questions.yaml", errors)
        if qraw is not None and not isinstance(qraw, list):
            errors.append(f"{rel}/questions.yaml: must be a YAML list of questions")
            qraw = None
        for i, item in enumerate(qraw or [], start=1):
            qid = item.get("id", f"#{i}") if isinstance(item, dict) else f"#{i}"
            try:
                lc.questions.append(QuestionIn.model_validate(item))
            except ValidationError as exc:
                errors.extend(f"{rel}/questions.yaml: question {qid}: {m}" for m in pydantic_errors(exc))
        courses.append(lc)
    return Bank(courses=courses, errors=errors)


def _usable(q: QuestionIn, rule: DrawRule, purpose: str) -> bool:
    if q.type != rule.type:
        return False
    if purpose == "quiz" and q.usage == "exam":
        return False
    if purpose == "exam" and q.usage == "practice":
        return False
    if rule.category and not (q.category == rule.category or q.category.startswith(rule.category + "/")):
        return False
    if rule.difficulty and not (rule.difficulty[0] <= q.difficulty <= rule.difficulty[1]):
        return False
    return True


def rules_satisfiable(questions: list[QuestionIn], rules: list[DrawRule], purpose: str) -> list[str]:
    """Greedy check, most specific rule first, that the rules can be filled without sharing questions."""
    problems = []
    taken: set[str] = set()
    order = sorted(rules, key=lambda r: (r.category is None, r.difficulty is None))
    for rule in order:
        pool = [q for q in questions if _usable(q, rule, purpose) and (q.id or q.text) not in taken]
        if len(pool) < rule.count:
            desc = rule.type + (f" in {rule.category}" if rule.category else "") + (
                f" difficulty {rule.difficulty[0]}-{rule.difficulty[1]}" if rule.difficulty else "")
            problems.append(f"{purpose} rule needs {rule.count} × {desc}, the bank has {len(pool)}")
        taken.update((q.id or q.text) for q in pool[: rule.count])
    return problems


def check_bank(root: Path | None = None) -> dict[str, Any]:
    bank = read_bank(root)
    errors = list(bank.errors)
    ids: Counter[str] = Counter()
    texts: dict[str, str] = {}
    lesson_ids: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    by_course: dict[str, int] = {}
    n_lessons = 0
    for lc in bank.courses:
        spec, rel = lc.spec, lc.folder.name
        by_course[spec.id] = len(lc.questions)
        for lesson in spec.lessons:
            lesson_ids[lesson.id] += 1
            body = lc.lesson_bodies.get(lesson.id)
            if body is None:
                continue
            n_lessons += 1
            n = len(CJK.findall(body))
            if not LESSON_MIN_CJK <= n <= LESSON_MAX_CJK:
                errors.append(f"{rel}/{lesson.file}: {n} Chinese characters, expected {LESSON_MIN_CJK}–{LESSON_MAX_CJK}")
            if HTML_TAG.search(body):
                errors.append(f"{rel}/{lesson.file}: contains an HTML tag (Markdown only)")
        for q in lc.questions:
            label = f"{rel}/questions.yaml: question {q.id}"
            by_type[q.type] += 1
            if not q.id:
                errors.append(f"{rel}/questions.yaml: a question has no id")
            else:
                ids[q.id] += 1
                if not q.id.startswith(spec.id + "-"):
                    errors.append(f"{label}: id must start with '{spec.id}-'")
            if not (q.explanation or "").strip():
                errors.append(f"{label}: explanation missing")
            if not (q.category == spec.category or q.category.startswith(spec.category + "/")):
                errors.append(f"{label}: category '{q.category}' is not under the course category '{spec.category}'")
            if q.type == "fill_blank" and "____" not in q.text:
                errors.append(f"{label}: fill_blank text needs a ____ blank")
            if CITED_LAW.search(q.text) and q.legal_basis is None:
                errors.append(f"{label}: cites {CITED_LAW.search(q.text).group(0)} but has no legal_basis")
            if q.type == "essay" and not q.rubric:
                errors.append(f"{label}: essay needs a grading rubric")
            key = normalised_text(q.text)
            if key in texts:
                errors.append(f"{label}: duplicate of question {texts[key]}")
            else:
                texts[key] = q.id or "?"
        if spec.quiz:
            errors.extend(f"{rel}: {p}" for p in rules_satisfiable(lc.questions, spec.quiz.draw, "quiz"))
        if spec.exam_rule_set:
            errors.extend(f"{rel}: {p}" for p in rules_satisfiable(lc.questions, spec.exam_rule_set.rules, "exam"))
    errors.extend(f"question id '{i}' used {n} times" for i, n in ids.items() if n > 1)
    errors.extend(f"lesson id '{i}' used {n} times" for i, n in lesson_ids.items() if n > 1)
    course_ids = Counter(lc.spec.id for lc in bank.courses)
    errors.extend(f"course id '{i}' used {n} times" for i, n in course_ids.items() if n > 1)
    return {
        "courses": len(bank.courses),
        "lessons": n_lessons,
        "questions": sum(by_type.values()),
        "questions_by_type": dict(sorted(by_type.items())),
        "questions_by_course": by_course,
        "errors": errors,
    }


@dataclass
class LoadReport:
    courses: int = 0
    lessons: int = 0
    questions_new: int = 0
    questions_new_version: int = 0
    questions_unchanged: int = 0
    retired: int = 0


def upsert_question(session: Session, q: QuestionIn, course_id: str | None) -> str:
    """Insert a question, add a version if its content changed, or leave it. Returns what happened."""
    record = q.record()
    digest = content_hash(record)
    row = session.get(Question, q.id)
    if row is None:
        session.add(Question(id=q.id, course_id=course_id, current_version=1))
        session.flush()
        version, outcome = 1, "new"
    else:
        current = session.exec(select(QuestionVersion).where(QuestionVersion.question_id == q.id,
                                                             QuestionVersion.version == row.current_version)).first()
        row.active, row.course_id = True, course_id or row.course_id
        session.add(row)
        if current is not None and current.content_hash == digest:
            return "unchanged"
        version, outcome = row.current_version + 1, "new_version"
        row.current_version = version
    session.add(QuestionVersion(question_id=q.id, version=version, type=q.type, category=q.category,
                                difficulty=q.difficulty, usage=q.usage, points=q.points, data=record,
                                content_hash=digest))
    return outcome


def load_bank(session: Session, root: Path | None = None) -> LoadReport:
    """Upsert the whole bank in one transaction. Refuses (writes nothing) if the bank has errors.
    A system task (first run, CLI): no acting user."""
    report_check = check_bank(root)
    if report_check["errors"]:
        from services.errors import ValidationFailed
        raise ValidationFailed("error.bank_invalid", errors=report_check["errors"])
    bank = read_bank(root)
    report = LoadReport()
    seen_courses, seen_questions = set(), set()
    for lc in bank.courses:
        s = lc.spec
        seen_courses.add(s.id)
        course = session.get(Course, s.id) or Course(id=s.id, title=s.title, category=s.category)
        course.title, course.title_en, course.category, course.required = s.title, s.title_en, s.category, s.required
        course.summary, course.objectives, course.position, course.active = s.summary, s.objectives, lc.position, True
        course.quiz = s.quiz.model_dump(mode="json") if s.quiz else None
        course.exam_rule_set = s.exam_rule_set.model_dump(mode="json") if s.exam_rule_set else None
        course.updated_at = utcnow()
        session.add(course)
        session.flush()
        report.courses += 1
        keep = set()
        for pos, ls in enumerate(s.lessons, start=1):
            keep.add(ls.id)
            lesson = session.get(Lesson, ls.id) or Lesson(id=ls.id, course_id=s.id, position=pos, title=ls.title,
                                                          body_md="", minutes=ls.minutes)
            lesson.course_id, lesson.position, lesson.title = s.id, pos, ls.title
            lesson.body_md, lesson.minutes, lesson.active = lc.lesson_bodies[ls.id], ls.minutes, True
            session.add(lesson)
            report.lessons += 1
        for old in session.exec(select(Lesson).where(Lesson.course_id == s.id)).all():
            if old.id not in keep and old.active:
                old.active = False
                session.add(old)
        for q in lc.questions:
            seen_questions.add(q.id)
            outcome = upsert_question(session, q, s.id)
            setattr(report, f"questions_{outcome}", getattr(report, f"questions_{outcome}") + 1)
    # questions of the bank that disappeared from the files are retired, not deleted
    for q in session.exec(select(Question).where(Question.active, Question.course_id.is_not(None))).all():
        if q.course_id in seen_courses and q.id not in seen_questions:
            q.active = False
            session.add(q)
            report.retired += 1
    session.commit()
    return report
