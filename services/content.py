"""The curriculum as data: read question_bank/, check it, and load it into the database.

Loading is an idempotent upsert by stable id; a question whose content changed gets a new
version (old attempts keep theirs). `check_bank` is what `cli.py content check` prints."""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session, select

from config import get_settings
from models import Course, Lesson, Question, QuestionVersion
from models.db import utcnow
from services.papers import DrawRule, check_in_memory, matches
from services.interchange import (
    AUTO_GRADED,
    QuestionIn,
    content_hash,
    normalised_text,
    pydantic_errors,
)

CJK = re.compile(r"[\u4e00-\u9fff]")
LESSON_MIN_CJK, LESSON_MAX_CJK = 800, 9000   # up to ~30 minutes of reading (design.md §2: 300 a minute)
HTML_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")
CITED_LAW = re.compile(r"《[^》]*(?:法|条例|办法|规定)》")   # a question that cites one needs legal_basis

# Options of choice questions are shuffled on display (services/learning.py), so an explanation must
# name options, never point at their position ("后两项", "选项A", "A和C", "以上都…").
SHUFFLED_TYPES = ("single_choice", "multiple_choice")
POSITIONAL = re.compile(
    r"(?:[前后]|最后)[一二两三四五六1-6]?个?(?:选项|项)"
    r"|第\s*[一二三四五六七八1-8]\s*(?:项|个选项|个答案)"
    r"|[上下]一(?:项|个选项)"
    r"|选项\s*[A-Ha-h](?![A-Za-z0-9])"
    r"|(?<![A-Za-z0-9])[A-H]\s*(?:项|选项)"
    r"|(?<![A-Za-z0-9])[A-H]\s*[和、与及,，/]\s*[A-H](?![A-Za-z0-9])"
    r"|以上(?:都|均|全|皆|各项|选项|几项|说法)"
    r"|上述(?:选项|各项)")

# Test-wise cues (item-writing practice). The bounds are errors, bank-wide and per course.
MC_KEYS, MC_OPTIONS = (2, 4), (4, 6)     # multiple choice: 2–4 keys out of 4–6 options
MC_MAX_COUNT_SHARE = 0.5                 # no single number of keys on more than half of the items
SC_MAX_LONGEST_KEY_SHARE = 0.30          # single choice: key strictly the longest option
TF_TRUE_SHARE = (0.30, 0.70)             # true/false: share keyed true
ABSOLUTE_WORDS = ("只要", "一律", "所有", "一切", "绝对", "一定", "必须", "任何", "全部", "完全")
ABSOLUTE_MIN_N = 5                       # the share true among absolute statements is bounded from this many on
ONLY_IF_MIN_N = 3                        # "只要…就" statements: not all with the same answer, from this many on
CUE_WORDS = ("只要", "一律", "随意", "直接", "取消")
CUE_MAX_GAP = 0.05                       # share of wrong options with a cue word − share of right ones
# Courses whose cue rewrite is still in progress: their cue violations are reported as warnings and
# the bank-wide bounds are warnings while this set is not empty. Remove a course when it is done.
# Empty since issue 11's rewrite of courses 01-10: every bound is an error.
CUE_PENDING: frozenset[str] = frozenset()

# Study time (design §2): about 300 characters a minute, a minute per self-check question, plus media.
CHARS_PER_MINUTE = 300
OVER_ESTIMATE = 1.25                     # declared minutes above 1.25 × the estimate are flagged
MARKUP = re.compile(r"[\s#*|>`_\-]+")


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
    checks: list[str] = []             # self-check question ids shown at the end of the lesson
    media_minutes: float = Field(0, ge=0, le=240)   # running time of attached audio/video


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


DRAFT_MARKER = "DRAFT"


def is_draft(folder: Path) -> bool:
    """A course folder being written: it holds a DRAFT file or has no course.yaml yet. `content check`
    validates drafts (and fails on their errors); the app's load skips them, so a course in progress never
    stops the rest of the bank from loading."""
    return (folder / DRAFT_MARKER).exists() or not (folder / "course.yaml").exists()


def read_bank(root: Path | None = None, *, include_drafts: bool = True) -> Bank:
    """Parse every course folder; collect errors instead of stopping at the first."""
    root = root or get_settings().question_bank_dir
    errors: list[str] = []
    courses: list[LoadedCourse] = []
    folders = sorted(p for p in (root / "courses").glob("*") if p.is_dir()) if (root / "courses").exists() else []
    # an empty draft (only its DRAFT file) is a placeholder, nothing to check yet
    folders = [f for f in folders if [p.name for p in f.iterdir()] != [DRAFT_MARKER]]
    if not include_drafts:
        folders = [f for f in folders if not is_draft(f)]
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
    """Whether a question read from files suits a rule (services/papers.matches, the one predicate)."""
    return matches(rule, type=q.type, category=q.category, difficulty=q.difficulty, usage=q.usage, purpose=purpose)


def rules_satisfiable(questions: list[QuestionIn], rules: list[DrawRule], purpose: str) -> list[str]:
    """Whether the rules can be filled without sharing questions, most specific rule first: the same core
    as drawing a paper from the database (services/papers.allocate)."""
    return check_in_memory(questions, rules, purpose, key=lambda q: q.id or q.text,
                           attrs=lambda q: {"type": q.type, "category": q.category, "difficulty": q.difficulty,
                                            "usage": q.usage})


def positional_reference(q: QuestionIn) -> str | None:
    """The first place where an explanation or option feedback points at an option's position."""
    if q.type not in SHUFFLED_TYPES:
        return None
    for text in [q.explanation or ""] + [o.feedback or "" for o in q.options or []]:
        m = POSITIONAL.search(text)
        if m:
            return m.group(0)
    return None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _keys(q: QuestionIn) -> int:
    return sum(1 for o in q.options or [] if o.fraction > 0)


def cue_measures(questions: list[QuestionIn]) -> dict[str, Any]:
    """The test-wise cues of a set of questions (see the bounds above)."""
    mc = [q for q in questions if q.type == "multiple_choice"]
    key_counts = Counter(_keys(q) for q in mc)
    mc_out_of_range = [q.id for q in mc if not (MC_KEYS[0] <= _keys(q) <= MC_KEYS[1]
                                                and MC_OPTIONS[0] <= len(q.options) <= MC_OPTIONS[1])]
    sc = [q for q in questions if q.type == "single_choice"]
    longest = []
    for q in sc:
        key = next(o for o in q.options if abs(o.fraction - 1.0) < 1e-9)
        others = [len(o.text.strip()) for o in q.options if o is not key]
        if len(key.text.strip()) > max(others):
            longest.append(q.id)
    tf = [q for q in questions if q.type == "true_false"]
    absolute = [q for q in tf if any(w in q.text for w in ABSOLUTE_WORDS)]
    only_if = [q for q in tf if re.search(r"只要.*就", q.text)]
    right = wrong = right_cue = wrong_cue = 0
    for q in mc + sc:
        for o in q.options:
            cue = any(w in o.text for w in CUE_WORDS)
            if o.fraction > 0:
                right, right_cue = right + 1, right_cue + cue
            else:
                wrong, wrong_cue = wrong + 1, wrong_cue + cue
    return {
        "multiple_choice": {"items": len(mc), "key_counts": {str(k): n for k, n in sorted(key_counts.items())},
                            "max_count_share": _share(max(key_counts.values(), default=0), len(mc)),
                            "out_of_range": mc_out_of_range},
        "single_choice": {"items": len(sc), "key_strictly_longest": len(longest),
                          "key_strictly_longest_share": _share(len(longest), len(sc))},
        "true_false": {"items": len(tf), "share_true": _share(sum(1 for q in tf if q.answer), len(tf)),
                       "absolute_items": len(absolute),
                       "absolute_share_true": _share(sum(1 for q in absolute if q.answer), len(absolute)),
                       "only_if_items": len(only_if),
                       "only_if_share_true": _share(sum(1 for q in only_if if q.answer), len(only_if))},
        "cue_words": {"wrong_options": wrong, "wrong_share": _share(wrong_cue, wrong),
                      "right_options": right, "right_share": _share(right_cue, right)},
    }


def cue_violations(m: dict[str, Any]) -> list[str]:
    """What in a cue_measures() result breaks a bound."""
    out = []
    mc, sc, tf, cw = m["multiple_choice"], m["single_choice"], m["true_false"], m["cue_words"]
    if mc["max_count_share"] is not None and mc["max_count_share"] > MC_MAX_COUNT_SHARE:
        out.append(f"multiple choice: one number of keys covers {mc['max_count_share']:.0%} of the items "
                   f"(at most {MC_MAX_COUNT_SHARE:.0%}; counts {mc['key_counts']})")
    if mc["out_of_range"]:
        out.append(f"multiple choice needs {MC_KEYS[0]}–{MC_KEYS[1]} keys of {MC_OPTIONS[0]}–{MC_OPTIONS[1]} "
                   f"options: {', '.join(mc['out_of_range'])}")
    share = sc["key_strictly_longest_share"]
    if share is not None and share > SC_MAX_LONGEST_KEY_SHARE:
        out.append(f"single choice: the key is strictly the longest option in {share:.0%} of the items "
                   f"(at most {SC_MAX_LONGEST_KEY_SHARE:.0%})")
    lo, hi = TF_TRUE_SHARE
    if tf["share_true"] is not None and not lo <= tf["share_true"] <= hi:
        out.append(f"true/false: {tf['share_true']:.0%} keyed true (expected {lo:.0%}–{hi:.0%})")
    if tf["absolute_items"] >= ABSOLUTE_MIN_N and not lo <= tf["absolute_share_true"] <= hi:
        out.append(f"true/false with absolute words ({'、'.join(ABSOLUTE_WORDS)}): {tf['absolute_share_true']:.0%} "
                   f"of {tf['absolute_items']} keyed true (expected {lo:.0%}–{hi:.0%})")
    if tf["only_if_items"] >= ONLY_IF_MIN_N and tf["only_if_share_true"] in (0.0, 1.0):
        out.append(f"true/false: all {tf['only_if_items']} \"只要…就\" statements have the same answer")
    if cw["wrong_share"] is not None and (cw["wrong_share"] - (cw["right_share"] or 0.0)) > CUE_MAX_GAP:
        out.append(f"cue words ({'、'.join(CUE_WORDS)}) in {cw['wrong_share']:.0%} of wrong options but "
                   f"{cw['right_share'] or 0:.0%} of right ones (gap at most {CUE_MAX_GAP:.0%})")
    return out


def _credit_rule():
    try:
        from services.settings import CreditRule
        return CreditRule()
    except ImportError:   # pragma: no cover - the default tiers below are the same
        return None


def lesson_hours(minutes: float, rule=None) -> float:
    """学时 of one lesson by its minutes under the crediting rule (design §2: ≥30 → 1, 15–30 → 0.5, <15 → 0.25)."""
    if rule is None:
        return 1.0 if minutes >= 30 else 0.5 if minutes >= 15 else 0.25
    if minutes >= rule.long_minutes:
        return rule.long_hours
    return rule.mid_hours if minutes >= rule.mid_minutes else rule.short_hours


def estimate_minutes(body: str, checks: int = 0, media_minutes: float = 0) -> tuple[int, float]:
    """(characters, estimated minutes): the characters of the lesson Markdown without whitespace and markup
    signs, at CHARS_PER_MINUTE, plus a minute per self-check question, plus the media's running time."""
    chars = len(MARKUP.sub("", body))
    return chars, round(chars / CHARS_PER_MINUTE + checks + media_minutes, 1)


def check_bank(root: Path | None = None, *, include_drafts: bool = True) -> dict[str, Any]:
    bank = read_bank(root, include_drafts=include_drafts)
    errors = list(bank.errors)
    ids: Counter[str] = Counter()
    texts: dict[str, str] = {}
    lesson_ids: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    by_course: dict[str, int] = {}
    n_lessons = 0
    warnings: list[str] = []
    lesson_rows: list[dict[str, Any]] = []
    over_estimate: list[dict[str, Any]] = []
    cues_by_course: dict[str, Any] = {}
    rule = _credit_rule()
    hours = 0.0
    for lc in bank.courses:
        spec, rel = lc.spec, lc.folder.name
        by_course[spec.id] = len(lc.questions)
        by_id = {q.id: q for q in lc.questions if q.id}
        for lesson in spec.lessons:
            lesson_ids[lesson.id] += 1
            where = f"{rel}/course.yaml: lesson {lesson.id} checks"
            for qid in lesson.checks:
                q = by_id.get(qid)
                if q is None:
                    errors.append(f"{where}: no question '{qid}' in this course")
                elif q.usage == "exam":
                    errors.append(f"{where}: question {qid} is exam-only (a self-check needs usage practice or both)")
                elif q.type not in AUTO_GRADED:
                    errors.append(f"{where}: question {qid} is an {q.type} (a self-check needs instant feedback)")
            dup = sorted(qid for qid, n in Counter(lesson.checks).items() if n > 1)
            if dup:
                errors.append(f"{where}: {', '.join(dup)} listed more than once")
            body = lc.lesson_bodies.get(lesson.id)
            if body is None:
                continue
            n_lessons += 1
            chars, estimate = estimate_minutes(body, len(lesson.checks), lesson.media_minutes)
            row = {"id": lesson.id, "course": spec.id, "declared_minutes": lesson.minutes,
                   "estimated_minutes": estimate, "characters": chars, "checks": len(lesson.checks),
                   "media_minutes": lesson.media_minutes, "hours": lesson_hours(lesson.minutes, rule)}
            lesson_rows.append(row)
            hours += row["hours"]
            if lesson.minutes > OVER_ESTIMATE * estimate:
                over_estimate.append({k: row[k] for k in ("id", "course", "declared_minutes", "estimated_minutes")})
                errors.append(f"{rel}/{lesson.file}: declares {lesson.minutes} min, more than {OVER_ESTIMATE:g} × "
                              f"the estimate of {estimate} min (study time must be honest: design.md §2)")
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
            ref = positional_reference(q)
            if ref:
                errors.append(f"{label}: the explanation points at an option's position ('{ref}'), "
                              "but options are shuffled on display: name the option instead")
        cues = cue_measures(lc.questions)
        cues_by_course[spec.id] = cues
        for v in cue_violations(cues):
            (warnings if spec.id in CUE_PENDING else errors).append(f"{rel}: cue: {v}")
        if spec.quiz:
            hours += rule.quiz_bonus if rule is not None else 0.5
            errors.extend(f"{rel}: {p}" for p in rules_satisfiable(lc.questions, spec.quiz.draw, "quiz"))
        if spec.exam_rule_set:
            errors.extend(f"{rel}: {p}" for p in rules_satisfiable(lc.questions, spec.exam_rule_set.rules, "exam"))
    errors.extend(f"question id '{i}' used {n} times" for i, n in ids.items() if n > 1)
    errors.extend(f"lesson id '{i}' used {n} times" for i, n in lesson_ids.items() if n > 1)
    course_ids = Counter(lc.spec.id for lc in bank.courses)
    errors.extend(f"course id '{i}' used {n} times" for i, n in course_ids.items() if n > 1)
    bank_cues = cue_measures([q for lc in bank.courses for q in lc.questions])
    pending = sorted(CUE_PENDING & set(course_ids))
    for v in cue_violations(bank_cues):
        (warnings if pending else errors).append(f"bank: cue: {v}")
    return {
        "courses": len(bank.courses),
        "lessons": n_lessons,
        "questions": sum(by_type.values()),
        "questions_by_type": dict(sorted(by_type.items())),
        "questions_by_course": by_course,
        "cue_measures": {
            "bank": bank_cues,
            "by_course": cues_by_course,
            "bounds": {"multiple_choice_keys": list(MC_KEYS), "multiple_choice_options": list(MC_OPTIONS),
                       "multiple_choice_max_count_share": MC_MAX_COUNT_SHARE,
                       "single_choice_max_key_strictly_longest_share": SC_MAX_LONGEST_KEY_SHARE,
                       "true_false_share_true": list(TF_TRUE_SHARE), "absolute_words": list(ABSOLUTE_WORDS),
                       "absolute_min_items": ABSOLUTE_MIN_N, "cue_words": list(CUE_WORDS),
                       "cue_words_max_gap": CUE_MAX_GAP},
            "pending_courses": pending,
            "note": "a bound violated is an error, per course and bank-wide; the courses in pending_courses are "
                    "still being rewritten: their violations, and the bank-wide ones while any is pending, are "
                    "warnings",
        },
        "hours_on_offer": round(hours, 2),
        "hours_rule": "per lesson by its declared minutes (>= 30 -> 1, 15-30 -> 0.5, < 15 -> 0.25 学时, "
                      "services/settings.CreditRule defaults) + 0.5 per course with a quiz",
        "lesson_estimates": lesson_rows,
        "lessons_over_estimate": over_estimate,
        "lessons_over_estimate_note": f"declared minutes above {OVER_ESTIMATE:g} x the estimate (characters / "
                                      f"{CHARS_PER_MINUTE} + 1 per self-check + media minutes) are errors",
        "warnings": warnings,
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
    """Insert a question from question_bank/, add a version if its file changed, or leave it. Returns what
    happened. A question edited (or retired) in the app since the last load keeps the trainer's work as long
    as its file is unchanged: the file is compared with the last version loaded from files, not with the
    current one."""
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
        if current is not None and current.content_hash == digest:
            return "unchanged"
        last_loaded = session.exec(select(QuestionVersion.content_hash).where(
            QuestionVersion.question_id == q.id, QuestionVersion.created_by.is_(None))
            .order_by(QuestionVersion.version.desc())).first()
        if last_loaded == digest:
            return "unchanged"            # the file did not change; the app's newer version stays current
        row.course_id = course_id or row.course_id
        session.add(row)
        version, outcome = row.current_version + 1, "new_version"
        row.current_version = version
    session.add(QuestionVersion(question_id=q.id, version=version, type=q.type, category=q.category,
                                difficulty=q.difficulty, usage=q.usage, points=q.points, data=record,
                                content_hash=digest))
    return outcome


def load_bank(session: Session, root: Path | None = None, *, tolerate=None) -> LoadReport:
    """Upsert the whole bank in the caller's unit of work (flushes; the caller commits). Refuses (writes
    nothing) if the bank has errors. A system task (first run, CLI): no acting user."""
    report_check = check_bank(root, include_drafts=False)
    if tolerate is not None:     # a course package may carry questions without explanations (services/courses.py)
        report_check["errors"] = [e for e in report_check["errors"] if not tolerate(e)]
    if report_check["errors"]:
        from services.errors import ValidationFailed
        raise ValidationFailed("error.bank_invalid", errors=report_check["errors"])
    bank = read_bank(root, include_drafts=False)
    report = LoadReport()
    seen_courses, seen_questions = set(), set()
    for lc in bank.courses:
        s = lc.spec
        seen_courses.add(s.id)
        report.courses += 1
        digest = hashlib.sha256(json.dumps([s.model_dump(mode="json"), lc.lesson_bodies], sort_keys=True,
                                           ensure_ascii=False).encode()).hexdigest()
        existing = session.get(Course, s.id)
        if existing is not None and existing.content_hash == digest:
            # the package did not change since the last load: a trainer's edits in the app stay
            report.lessons += len(s.lessons)
            for q in lc.questions:
                seen_questions.add(q.id)
                outcome = upsert_question(session, q, s.id)
                setattr(report, f"questions_{outcome}", getattr(report, f"questions_{outcome}") + 1)
            continue
        course = existing or Course(id=s.id, title=s.title, category=s.category)
        course.content_hash = digest
        course.title, course.title_en, course.category, course.required = s.title, s.title_en, s.category, s.required
        course.summary, course.objectives, course.position, course.active = s.summary, s.objectives, lc.position, True
        course.quiz = s.quiz.model_dump(mode="json") if s.quiz else None
        course.exam_rule_set = s.exam_rule_set.model_dump(mode="json") if s.exam_rule_set else None
        course.updated_at = utcnow()
        session.add(course)
        session.flush()
        keep = set()
        for pos, ls in enumerate(s.lessons, start=1):
            keep.add(ls.id)
            lesson = session.get(Lesson, ls.id) or Lesson(id=ls.id, course_id=s.id, position=pos, title=ls.title,
                                                          body_md="", minutes=ls.minutes)
            lesson.course_id, lesson.position, lesson.title = s.id, pos, ls.title
            lesson.body_md, lesson.minutes, lesson.active = lc.lesson_bodies[ls.id], ls.minutes, True
            lesson.checks = list(ls.checks)
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
    # (only questions that came from the files: a question a trainer added to a course in the app stays)
    from_files = select(QuestionVersion.question_id).where(QuestionVersion.version == 1, QuestionVersion.created_by.is_(None))
    for q in session.exec(select(Question).where(Question.active, Question.course_id.is_not(None),
                                                 Question.id.in_(from_files))).all():
        if q.course_id in seen_courses and q.id not in seen_questions:
            q.active = False
            session.add(q)
            report.retired += 1
    session.flush()   # the caller's unit of work commits
    return report
