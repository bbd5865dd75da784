"""Trainers author courses: course fields and audience (org units with their subtrees, within the trainer's
scope), lessons in order with Markdown bodies and honest minutes, attached PDFs and videos (stored once
under data/files/ by content hash), the course quiz rules with a live "the bank can satisfy this" check,
and course packages (.zip of the question_bank/courses/NN-slug/ layout, validated by the content checker).
Editing a published course never breaks progress or ledger rows: lessons keep their ids and removed
lessons are retired, not deleted."""
from __future__ import annotations

import hashlib
import io
import re
import shutil
import struct
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlmodel import Session, col, func, select

from config import ROOT
from models import Course, Lesson, LessonFile, OrgUnit, Question, QuestionVersion
from models.db import utcnow
from services import audit
from services.content import (
    OVER_ESTIMATE,
    DrawRule,
    QuizSpec,
    check_bank,
    estimate_minutes,
    load_bank,
    rules_satisfiable,
)
from services.errors import NotFound, PermissionDenied, ValidationFailed
from services.interchange import QuestionIn, pydantic_errors
from services.permissions import ALL, Actor, require_role, scope_paths
from services.text import clean_text

FILES_DIR = ROOT / "data" / "files"
MAX_PDF_BYTES = 20 * 1024 * 1024
MAX_VIDEO_BYTES = 200 * 1024 * 1024
MAX_PACKAGE_BYTES = 300 * 1024 * 1024
MAX_PACKAGE_FILES = 500
_RAW_HTML = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,30}$")


def _require(actor: Actor) -> None:
    require_role(actor, "trainer")


def files_dir() -> Path:
    """Where attachments live: data/files/ beside the embedded database (tests point it elsewhere)."""
    from config import get_settings
    url = get_settings().database_url
    if url.startswith("sqlite:///") and "/isa-" in url:       # a test database: keep its files beside it
        return Path(url.removeprefix("sqlite:///")).parent / "files"
    return FILES_DIR


# ---- reading ----------------------------------------------------------------------------------

@dataclass
class LessonRow:
    id: str
    position: int
    title: str
    minutes: int
    estimate: float
    characters: int
    checks: list[str]
    media_minutes: float
    active: bool
    files: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CourseForEdit:
    id: str
    title: str
    title_en: str | None
    category: str
    required: bool
    summary: str
    objectives: list[str]
    audience: list[int]
    active: bool
    quiz: dict[str, Any] | None
    lessons: list[LessonRow]
    from_package: bool


def list_courses(session: Session, actor: Actor, *, include_retired: bool = False) -> list[dict[str, Any]]:
    """Courses with their lesson count and minutes (for the trainer's list)."""
    _require(actor)
    q = select(Course).order_by(Course.position, Course.title)
    if not include_retired:
        q = q.where(Course.active)
    stats = {cid: (n, m) for cid, n, m in session.exec(
        select(Lesson.course_id, func.count(), func.sum(Lesson.minutes)).where(Lesson.active).group_by(Lesson.course_id)).all()}
    nq = dict(session.exec(select(Question.course_id, func.count()).where(Question.active).group_by(Question.course_id)).all())
    return [{"id": c.id, "title": c.title, "category": c.category, "required": c.required, "active": c.active,
             "lessons": stats.get(c.id, (0, 0))[0], "minutes": int(stats.get(c.id, (0, 0))[1] or 0),
             "questions": nq.get(c.id, 0), "audience": list(c.audience or [])} for c in session.exec(q).all()]


def course_for_edit(session: Session, actor: Actor, *, course_id: str) -> CourseForEdit:
    _require(actor)
    c = session.get(Course, course_id)
    if c is None:
        raise NotFound(what="course", id=course_id)
    lessons = session.exec(select(Lesson).where(Lesson.course_id == course_id).order_by(col(Lesson.active).desc(), Lesson.position)).all()
    files = session.exec(select(LessonFile).where(col(LessonFile.lesson_id).in_([ls.id for ls in lessons]), LessonFile.active)
                         .order_by(LessonFile.position, LessonFile.id)).all()
    rows = []
    for ls in lessons:
        chars, est = estimate_minutes(ls.body_md, len(ls.checks or []), ls.media_minutes or 0)
        rows.append(LessonRow(ls.id, ls.position, ls.title, ls.minutes, est, chars, list(ls.checks or []), ls.media_minutes or 0,
                              ls.active, [{"id": f.id, "name": f.name, "kind": f.kind, "size": f.size, "media_minutes": f.media_minutes}
                                          for f in files if f.lesson_id == ls.id]))
    return CourseForEdit(c.id, c.title, c.title_en, c.category, c.required, c.summary, list(c.objectives), list(c.audience or []),
                         c.active, c.quiz, rows, c.created_by is None)


def lesson_body(session: Session, actor: Actor, *, lesson_id: str) -> Lesson:
    _require(actor)
    lesson = session.get(Lesson, lesson_id)
    if lesson is None:
        raise NotFound(what="lesson", id=lesson_id)
    return lesson


# ---- audience and scope -------------------------------------------------------------------------

def _check_audience(session: Session, actor: Actor, audience: list[int]) -> list[int]:
    """A trainer assigns courses only within their scope: every audience unit inside it; "everyone"
    (an empty audience) only for a trainer of the whole city (or an admin)."""
    paths = scope_paths(actor, "trainer")
    if not audience:
        roots = session.exec(select(OrgUnit.path).where(OrgUnit.parent_id.is_(None), OrgUnit.active)).all()
        if ALL not in paths and not all(any(r.startswith(p) for p in paths) for r in roots):
            raise PermissionDenied("error.course_audience_scope")
        return []
    units = session.exec(select(OrgUnit).where(col(OrgUnit.id).in_(audience))).all()
    if len(units) != len(set(audience)):
        raise NotFound(what="unit", id=",".join(str(u) for u in audience))
    if ALL not in paths and any(not any(u.path.startswith(p) for p in paths) for u in units):
        raise PermissionDenied("error.out_of_scope")
    return sorted(set(audience))


def _can_edit(session: Session, actor: Actor, course: Course) -> None:
    """A course whose audience lies outside the trainer's scope is someone else's to change."""
    paths = scope_paths(actor, "trainer")
    if ALL in paths:
        return
    if not course.audience:
        raise PermissionDenied("error.out_of_scope")
    units = session.exec(select(OrgUnit.path).where(col(OrgUnit.id).in_(course.audience))).all()
    if any(not any(u.startswith(p) for p in paths) for u in units):
        raise PermissionDenied("error.out_of_scope")


# ---- courses ----------------------------------------------------------------------------------

@dataclass
class CourseIn:
    title: str
    category: str
    required: bool = False
    summary: str = ""
    objectives: list[str] = field(default_factory=list)
    audience: list[int] = field(default_factory=list)
    title_en: str | None = None
    active: bool = True


def _clean_course(c: CourseIn) -> CourseIn:
    clean_text(c.title, field="title", max_length=200)
    clean_text(c.category, field="category", max_length=64)
    clean_text(c.summary, field="summary", multiline=True, max_length=4000)
    clean_text(c.title_en, field="title_en", max_length=200)
    for o in c.objectives:
        clean_text(o, field="objectives", max_length=400)
    if not c.title.strip():
        raise ValidationFailed("error.course_title_required")
    if not c.category.strip():
        raise ValidationFailed("error.course_category_required")
    return CourseIn(c.title.strip(), c.category.strip(), c.required, c.summary.strip(),
                    [o.strip() for o in c.objectives if o.strip()], c.audience, (c.title_en or "").strip() or None, c.active)


def create_course(session: Session, actor: Actor, *, course_id: str, course_in: CourseIn) -> str:
    _require(actor)
    if not _SLUG.match(course_id or ""):
        raise ValidationFailed("error.course_id_format")
    if session.get(Course, course_id) is not None:
        raise ValidationFailed("error.course_id_taken", id=course_id)
    c = _clean_course(course_in)
    audience = _check_audience(session, actor, c.audience)
    position = (session.exec(select(func.max(Course.position))).one() or 0) + 1
    session.add(Course(id=course_id, title=c.title, title_en=c.title_en, category=c.category, required=c.required,
                       summary=c.summary, objectives=c.objectives, audience=audience, position=position, active=c.active,
                       created_by=actor.id))
    audit.record(session, actor.id, "course.create", course=course_id)
    session.flush()
    return course_id


def update_course(session: Session, actor: Actor, *, course_id: str, course_in: CourseIn) -> None:
    _require(actor)
    course = session.get(Course, course_id)
    if course is None:
        raise NotFound(what="course", id=course_id)
    _can_edit(session, actor, course)
    c = _clean_course(course_in)
    course.audience = _check_audience(session, actor, c.audience)
    course.title, course.title_en, course.category, course.required = c.title, c.title_en, c.category, c.required
    course.summary, course.objectives, course.active, course.updated_at = c.summary, c.objectives, c.active, utcnow()
    session.add(course)
    audit.record(session, actor.id, "course.update", course=course_id)
    session.flush()


# ---- lessons ----------------------------------------------------------------------------------

def _validate_body(body: str) -> None:
    clean_text(body, field="body", multiline=True, max_length=60_000)
    m = _RAW_HTML.search(body)
    if m:
        raise ValidationFailed("error.lesson_raw_html", tag=m.group(0)[:30])


def max_minutes(body: str, checks: int, media_minutes: float) -> tuple[float, int]:
    """(estimate, the most a trainer may declare): design.md §2; at most 1.25 × the estimate, at least 1."""
    _, est = estimate_minutes(body, checks, media_minutes)
    return est, max(1, int(OVER_ESTIMATE * est))


def save_lesson(session: Session, actor: Actor, *, course_id: str, title: str, body_md: str, minutes: int | None = None,
                lesson_id: str | None = None, checks: list[str] | None = None) -> str:
    """Create or edit a lesson. `minutes` None = the estimate; more than 1.25 × the estimate is refused."""
    _require(actor)
    course = session.get(Course, course_id)
    if course is None:
        raise NotFound(what="course", id=course_id)
    _can_edit(session, actor, course)
    clean_text(title, field="title", max_length=200)
    if not title.strip():
        raise ValidationFailed("error.lesson_title_required")
    _validate_body(body_md)
    lesson = session.get(Lesson, lesson_id) if lesson_id else None
    if lesson_id and (lesson is None or lesson.course_id != course_id):
        raise NotFound(what="lesson", id=lesson_id)
    checks = list(checks if checks is not None else (lesson.checks if lesson else []))
    _validate_checks(session, course_id, checks)
    media = sum(f.media_minutes for f in session.exec(select(LessonFile).where(LessonFile.lesson_id == lesson_id,
                                                                                LessonFile.active)).all()) if lesson_id else 0
    est, cap = max_minutes(body_md, len(checks), media)
    declared = round(est) if minutes is None else int(minutes)
    if declared < 1 or declared > cap:
        raise ValidationFailed("error.lesson_minutes", minutes=declared, estimate=f"{est:g}", cap=cap)
    if lesson is None:
        n = session.exec(select(func.count()).select_from(Lesson).where(Lesson.course_id == course_id)).one()
        lesson_id = f"{course_id}-l{n + 1}"
        while session.get(Lesson, lesson_id) is not None:
            n += 1
            lesson_id = f"{course_id}-l{n + 1}"
        pos = (session.exec(select(func.max(Lesson.position)).where(Lesson.course_id == course_id, Lesson.active)).one() or 0) + 1
        lesson = Lesson(id=lesson_id, course_id=course_id, position=pos, title=title.strip(), body_md=body_md, minutes=declared)
    lesson.title, lesson.body_md, lesson.minutes, lesson.checks, lesson.media_minutes = title.strip(), body_md, declared, checks, media
    session.add(lesson)
    course.updated_at = utcnow()
    session.add(course)
    audit.record(session, actor.id, "lesson.save", course=course_id, lesson=lesson_id, minutes=declared)
    session.flush()
    return lesson_id


def _validate_checks(session: Session, course_id: str, checks: list[str]) -> None:
    if not checks:
        return
    rows = dict(session.exec(select(Question.id, QuestionVersion.usage).join(
        QuestionVersion, (QuestionVersion.question_id == Question.id) & (QuestionVersion.version == Question.current_version))
        .where(col(Question.id).in_(checks), Question.course_id == course_id, Question.active)).all())
    bad = [c for c in checks if rows.get(c) not in ("practice", "both")]
    if bad:
        raise ValidationFailed("error.lesson_checks", ids=", ".join(bad))


def move_lesson(session: Session, actor: Actor, *, lesson_id: str, delta: int) -> None:
    """Move a lesson up (-1) or down (+1) among the course's active lessons."""
    _require(actor)
    lesson = session.get(Lesson, lesson_id)
    if lesson is None:
        raise NotFound(what="lesson", id=lesson_id)
    _can_edit(session, actor, session.get(Course, lesson.course_id))
    order = list(session.exec(select(Lesson).where(Lesson.course_id == lesson.course_id, Lesson.active).order_by(Lesson.position)).all())
    i = next(i for i, ls in enumerate(order) if ls.id == lesson_id)
    j = min(max(i + delta, 0), len(order) - 1)
    order.insert(j, order.pop(i))
    for pos, ls in enumerate(order, start=1):
        ls.position = pos
        session.add(ls)
    session.flush()


def set_lesson_active(session: Session, actor: Actor, *, lesson_id: str, active: bool) -> None:
    """Retire (or restore) a lesson: it disappears for learners; progress and 学时 rows already earned stay."""
    _require(actor)
    lesson = session.get(Lesson, lesson_id)
    if lesson is None:
        raise NotFound(what="lesson", id=lesson_id)
    _can_edit(session, actor, session.get(Course, lesson.course_id))
    lesson.active = active
    if active:
        lesson.position = (session.exec(select(func.max(Lesson.position)).where(Lesson.course_id == lesson.course_id,
                                                                                 Lesson.active)).one() or 0) + 1
    session.add(lesson)
    audit.record(session, actor.id, "lesson.restore" if active else "lesson.retire", lesson=lesson_id)
    session.flush()


# ---- files ------------------------------------------------------------------------------------

def sniff(data: bytes) -> tuple[str, str] | None:
    """(kind, mime) from the file's own bytes, not its name: PDF, MP4 or WebM only."""
    if data[:5] == b"%PDF-":
        return "pdf", "application/pdf"
    if data[4:8] == b"ftyp":
        return "video", "video/mp4"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "video", "video/webm"
    return None


def mp4_minutes(data: bytes) -> float:
    """Running time from an MP4's movie header (mvhd); 0 when the file does not say."""
    i = data.find(b"mvhd")
    if i < 4 or len(data) < i + 32:
        return 0.0
    version = data[i + 4]
    try:
        if version == 1:
            timescale, duration = struct.unpack(">IQ", data[i + 24:i + 36])
        else:
            timescale, duration = struct.unpack(">II", data[i + 16:i + 24])
    except struct.error:
        return 0.0
    return round(duration / timescale / 60, 1) if timescale else 0.0


def attach_file(session: Session, actor: Actor, *, lesson_id: str, name: str, data: bytes,
                media_minutes: float | None = None) -> int:
    """Attach a PDF or a video to a lesson. The type comes from the bytes; sizes are limited; the file is
    stored once by its SHA-256. A video's running time (from the file, or given) adds to the lesson's
    estimated minutes."""
    _require(actor)
    lesson = session.get(Lesson, lesson_id)
    if lesson is None:
        raise NotFound(what="lesson", id=lesson_id)
    _can_edit(session, actor, session.get(Course, lesson.course_id))
    clean_text(name, field="name", max_length=200)
    kind_mime = sniff(data)
    if kind_mime is None:
        raise ValidationFailed("error.file_type", name=name[:60])
    kind, mime = kind_mime
    limit = MAX_PDF_BYTES if kind == "pdf" else MAX_VIDEO_BYTES
    if len(data) > limit:
        raise ValidationFailed("error.file_too_large", name=name[:60], max_mb=limit // (1024 * 1024))
    digest = hashlib.sha256(data).hexdigest()
    path = files_dir() / digest[:2] / digest
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    minutes = 0.0
    if kind == "video":
        minutes = float(media_minutes) if media_minutes is not None else (mp4_minutes(data) if mime == "video/mp4" else 0.0)
    pos = session.exec(select(func.count()).select_from(LessonFile).where(LessonFile.lesson_id == lesson_id)).one()
    f = LessonFile(lesson_id=lesson_id, sha256=digest, name=name, kind=kind, mime=mime, size=len(data),
                   media_minutes=minutes, position=pos, created_by=actor.id)
    session.add(f)
    lesson.media_minutes = (lesson.media_minutes or 0) + minutes
    session.add(lesson)
    audit.record(session, actor.id, "lesson.attach", lesson=lesson_id, file=name[:100], sha256=digest, size=len(data))
    session.flush()
    return f.id


def remove_file(session: Session, actor: Actor, *, file_id: int) -> None:
    _require(actor)
    f = session.get(LessonFile, file_id)
    if f is None or not f.active:
        raise NotFound(what="file", id=file_id)
    lesson = session.get(Lesson, f.lesson_id)
    _can_edit(session, actor, session.get(Course, lesson.course_id))
    f.active = False
    lesson.media_minutes = max(0.0, (lesson.media_minutes or 0) - f.media_minutes)
    session.add(f)
    session.add(lesson)
    session.flush()


def lesson_files(session: Session, actor: Actor, *, lesson_id: str) -> list[LessonFile]:
    """Files of a lesson, for anyone who may study it (learners) or edit it (trainers)."""
    require_role(actor, "learner", "trainer")
    return list(session.exec(select(LessonFile).where(LessonFile.lesson_id == lesson_id, LessonFile.active)
                             .order_by(LessonFile.position, LessonFile.id)).all())


def file_bytes(session: Session, actor: Actor, *, file_id: int) -> tuple[LessonFile, bytes]:
    require_role(actor, "learner", "trainer")
    f = session.get(LessonFile, file_id)
    if f is None or not f.active:
        raise NotFound(what="file", id=file_id)
    lesson = session.get(Lesson, f.lesson_id)
    if not actor.has("trainer") and not actor.has("admin") and not course_visible_to(session, actor, lesson.course_id):
        raise PermissionDenied("error.out_of_scope")
    return f, (files_dir() / f.sha256[:2] / f.sha256).read_bytes()


def course_visible_to(session: Session, actor: Actor, course_id: str) -> bool:
    """Whether a learner is in a course's audience (units with subtrees; empty = everyone)."""
    course = session.get(Course, course_id)
    if course is None or not course.active:
        return False
    if not course.audience:
        return True
    if actor.unit_id is None:
        return False
    unit = session.get(OrgUnit, actor.unit_id)
    paths = session.exec(select(OrgUnit.path).where(col(OrgUnit.id).in_(course.audience))).all()
    return unit is not None and any(unit.path.startswith(p) for p in paths)


# ---- quiz ------------------------------------------------------------------------------------

def _bank_questions(session: Session, course_id: str) -> list[QuestionIn]:
    rows = session.exec(select(QuestionVersion.data).join(
        Question, (Question.id == QuestionVersion.question_id) & (Question.current_version == QuestionVersion.version))
        .where(Question.course_id == course_id, Question.active)).all()
    out = []
    for data in rows:
        try:
            out.append(QuestionIn.model_validate(data))
        except ValidationError:
            continue
    return out


def quiz_problems(session: Session, actor: Actor, *, course_id: str, draw: list[dict[str, Any]]) -> list[str]:
    """Live check for the quiz builder: what the bank cannot satisfy (empty = satisfiable)."""
    _require(actor)
    try:
        rules = [DrawRule.model_validate(r) for r in draw]
    except ValidationError as exc:
        return pydantic_errors(exc)
    if not rules:
        return ["a quiz needs at least one rule"]
    return rules_satisfiable(_bank_questions(session, course_id), rules, "quiz")


def set_quiz(session: Session, actor: Actor, *, course_id: str, title: str, pass_percent: float,
             draw: list[dict[str, Any]] | None) -> None:
    """Set (or, with draw None, remove) the course quiz; refused when the bank cannot satisfy the rules."""
    _require(actor)
    course = session.get(Course, course_id)
    if course is None:
        raise NotFound(what="course", id=course_id)
    _can_edit(session, actor, course)
    if draw is None:
        course.quiz = None
    else:
        problems = quiz_problems(session, actor, course_id=course_id, draw=draw)
        if problems:
            raise ValidationFailed("error.quiz_rules", problems="; ".join(problems))
        clean_text(title, field="title", max_length=200)
        spec = QuizSpec.model_validate({"title": title or f"{course.title} 课程测验", "pass_percent": pass_percent, "draw": draw})
        course.quiz = spec.model_dump(mode="json")
    course.updated_at = utcnow()
    session.add(course)
    audit.record(session, actor.id, "course.quiz", course=course_id, rules=len(draw or []))
    session.flush()


# ---- packages ---------------------------------------------------------------------------------

def export_package(session: Session, actor: Actor, *, course_id: str) -> bytes:
    """The course as a .zip of the question_bank/courses/NN-slug/ layout: course.yaml, lessons/*.md,
    questions.yaml and files/ (attachments)."""
    _require(actor)
    c = session.get(Course, course_id)
    if c is None:
        raise NotFound(what="course", id=course_id)
    lessons = session.exec(select(Lesson).where(Lesson.course_id == course_id, Lesson.active).order_by(Lesson.position)).all()
    folder = f"{(c.position or 0):02d}-{course_id}"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        spec: dict[str, Any] = {"id": c.id, "title": c.title, "title_en": c.title_en, "category": c.category,
                                "required": c.required, "summary": c.summary, "objectives": list(c.objectives), "lessons": []}
        for i, ls in enumerate(lessons, start=1):
            name = f"lessons/{i:02d}-{ls.id}.md"
            z.writestr(f"{folder}/{name}", ls.body_md)
            entry: dict[str, Any] = {"id": ls.id, "title": ls.title, "file": name, "minutes": ls.minutes}
            if ls.checks:
                entry["checks"] = list(ls.checks)
            if ls.media_minutes:
                entry["media_minutes"] = ls.media_minutes
            spec["lessons"].append(entry)
            for f in session.exec(select(LessonFile).where(LessonFile.lesson_id == ls.id, LessonFile.active)).all():
                z.writestr(f"{folder}/files/{ls.id}/{Path(f.name).name}", (files_dir() / f.sha256[:2] / f.sha256).read_bytes())
        if c.quiz:
            spec["quiz"] = c.quiz
        if c.exam_rule_set:
            spec["exam_rule_set"] = c.exam_rule_set
        spec = {k: v for k, v in spec.items() if v is not None}
        z.writestr(f"{folder}/course.yaml", yaml.safe_dump(spec, allow_unicode=True, sort_keys=False, width=120))
        questions = [dict(d) for d in session.exec(select(QuestionVersion.data).join(
            Question, (Question.id == QuestionVersion.question_id) & (Question.current_version == QuestionVersion.version))
            .where(Question.course_id == course_id, Question.active).order_by(Question.id)).all()]
        z.writestr(f"{folder}/questions.yaml", yaml.safe_dump(questions, allow_unicode=True, sort_keys=False, width=120))
    audit.record(session, actor.id, "course.export", course=course_id)
    return buf.getvalue()


@dataclass
class PackageReport:
    ok: bool
    course_id: str | None
    errors: list[str]
    lessons: int = 0
    questions: int = 0
    files: int = 0
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "course": self.course_id, "errors": self.errors, "warnings": self.warnings,
                "lessons": self.lessons, "questions": self.questions, "files": self.files}


def _safe_members(z: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    infos = [i for i in z.infolist() if not i.is_dir()]
    if len(infos) > MAX_PACKAGE_FILES:
        raise ValidationFailed("error.package_invalid", reason=f"more than {MAX_PACKAGE_FILES} files")
    if sum(i.file_size for i in infos) > MAX_PACKAGE_BYTES:
        raise ValidationFailed("error.package_invalid", reason="unpacks to more than 300 MB")
    for i in infos:
        p = Path(i.filename)
        if p.is_absolute() or ".." in p.parts or "\\" in i.filename:
            raise ValidationFailed("error.package_invalid", reason=f"unsafe path {i.filename[:80]}")
    return infos


def import_package(session: Session, actor: Actor, *, data: bytes, dry_run: bool = False) -> PackageReport:
    """Validate a course package with the same checker as `content check`; unless dry_run, load it (a new
    course, or a new state of an existing one: lessons keep ids, removed lessons and questions are retired)."""
    _require(actor)
    if len(data) > MAX_PACKAGE_BYTES:
        return PackageReport(False, None, ["package larger than 300 MB"])
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        infos = _safe_members(z)
    except zipfile.BadZipFile:
        return PackageReport(False, None, ["not a .zip file"])
    except ValidationFailed as exc:
        return PackageReport(False, None, [exc.params.get("reason", "invalid package")])
    yamls = [i for i in infos if Path(i.filename).name == "course.yaml"]
    if len(yamls) != 1:
        return PackageReport(False, None, [f"a package holds exactly one course.yaml (found {len(yamls)})"])
    base = str(Path(yamls[0].filename).parent)
    base = "" if base == "." else base + "/"
    tmp = Path(tempfile.mkdtemp(prefix="isa-package-"))
    try:
        folder = tmp / "courses" / "99-package"
        for i in infos:
            if not i.filename.startswith(base):
                continue
            target = folder / i.filename[len(base):]
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(i) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        report = check_bank(tmp, include_drafts=False)
        found = [e.replace("99-package/", "").replace("courses/", "") for e in report["errors"]]
        # A package is held to the bank's item-writing rules, except that a question may lack an explanation:
        # questions imported from other systems often do, and a course must survive its own export.
        warnings = [e for e in found if e.endswith("explanation missing")]
        errors = [e for e in found if e not in warnings]
        raw = yaml.safe_load((folder / "course.yaml").read_text(encoding="utf-8")) if (folder / "course.yaml").exists() else {}
        course_id = raw.get("id") if isinstance(raw, dict) else None
        # ids of questions in the package must not belong to another course
        if not errors and course_id:
            qids = [q.get("id") for q in yaml.safe_load((folder / "questions.yaml").read_text(encoding="utf-8")) or [] if isinstance(q, dict)]
            clash = session.exec(select(Question.id, Question.course_id).where(col(Question.id).in_([q for q in qids if q]),
                                                                                Question.course_id != course_id)).all()
            errors += [f"questions.yaml: question {qid} belongs to course {cid}" for qid, cid in clash]
            existing = session.get(Course, course_id)
            if existing is not None:
                _can_edit(session, actor, existing)
        files = [p for p in (folder / "files").rglob("*") if p.is_file()] if (folder / "files").exists() else []
        n_lessons = len(raw.get("lessons", [])) if isinstance(raw, dict) else 0
        n_questions = sum(report.get("questions_by_course", {}).values())
        if errors or dry_run:
            return PackageReport(not errors, course_id, errors, n_lessons, n_questions, len(files), warnings)
        existing = session.get(Course, course_id)
        position = existing.position if existing else (session.exec(select(func.max(Course.position))).one() or 0) + 1
        load_bank(session, tmp, tolerate=lambda e: e.endswith("explanation missing"))
        course = session.get(Course, course_id)
        course.position = position
        if existing is None:
            course.created_by = actor.id
        session.add(course)
        for p in files:
            lesson_id = p.parent.name
            if session.get(Lesson, lesson_id) is not None and lesson_id.startswith(course_id):
                attach_file(session, actor, lesson_id=lesson_id, name=p.name, data=p.read_bytes())
        audit.record(session, actor.id, "course.import", course=course_id, lessons=n_lessons, questions=n_questions)
        session.flush()
        return PackageReport(True, course_id, [], n_lessons, n_questions, len(files), warnings)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def audience_choices(session: Session, actor: Actor) -> tuple[list[tuple[int, str]], bool]:
    """(units the trainer may name as an audience, with their path labels; whether "everyone" is allowed)."""
    from services.org import unit_labels
    _require(actor)
    paths = scope_paths(actor, "trainer")
    labels = unit_labels(session)
    units = session.exec(select(OrgUnit.id, OrgUnit.path).where(OrgUnit.active).order_by(OrgUnit.path)).all()
    allowed = [(uid, labels[uid]) for uid, path in units if ALL in paths or any(path.startswith(p) for p in paths)]
    roots = session.exec(select(OrgUnit.path).where(OrgUnit.parent_id.is_(None), OrgUnit.active)).all()
    everyone = ALL in paths or all(any(r.startswith(p) for p in paths) for r in roots)
    return sorted(allowed, key=lambda x: x[1]), everyone
