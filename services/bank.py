"""The question bank for trainers (and admins): browse with filters and paging, edit (every save is a new
immutable version, so past papers keep theirs), history and diffs, retire/restore, bulk move and tag,
import from any format (all or nothing, or only the valid items after the report) and export.
The bank is shared city-wide, so it is not org-scoped; every function checks the trainer role."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import yaml
from pydantic import ValidationError
from sqlalchemy import or_, update
from sqlmodel import Session, col, func, select

from models import Course, Question, QuestionVersion
from services import audit, formats
from services.errors import NotFound, ValidationFailed
from services.formats.base import ImportReport
from services.interchange import (
    QUESTION_TYPES,
    QuestionIn,
    content_hash,
    normalised_text,
    pydantic_errors,
)
from services.permissions import Actor, require_role

PAGE_SIZES = (25, 50, 100, 200)
EXPORT_FORMATS = ("xlsx", "gift", "moodlexml", "yaml", "csv", "aiken")


def _require(actor: Actor) -> None:
    require_role(actor, "trainer")


_IS_CURRENT = (Question.id == QuestionVersion.question_id) & (Question.current_version == QuestionVersion.version)


def _current():
    return select(QuestionVersion, Question).join(Question, _IS_CURRENT)


def _current_col(column):
    """One column of current versions, as plain values."""
    return select(column).select_from(QuestionVersion).join(Question, _IS_CURRENT)


# ---- browsing ----------------------------------------------------------------------------------

@dataclass
class BankFilter:
    course_id: str | None = None
    category: str | None = None          # a category and its whole subtree
    qtype: str | None = None
    difficulty: tuple[int, int] = (1, 5)
    tag: str | None = None
    usage: str | None = None             # practice | exam | both
    status: str = "active"               # active | retired | all
    text: str = ""


@dataclass
class BankRow:
    id: str
    version: int
    type: str
    category: str
    difficulty: int
    usage: str
    points: float
    text: str
    tags: list[str]
    active: bool
    course_id: str | None


@dataclass
class BankPage:
    total: int               # the true total matching the filter, not just this page
    page: int
    page_size: int
    rows: list[BankRow] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(q, f: BankFilter):
    if f.status == "active":
        q = q.where(Question.active)
    elif f.status == "retired":
        q = q.where(Question.active == False)
    if f.course_id:
        q = q.where(Question.course_id == f.course_id)
    if f.category:
        q = q.where(or_(QuestionVersion.category == f.category,
                        col(QuestionVersion.category).like(_like_escape(f.category) + "/%", escape="\\")))
    if f.qtype:
        q = q.where(QuestionVersion.type == f.qtype)
    if f.difficulty != (1, 5):
        q = q.where(QuestionVersion.difficulty >= f.difficulty[0], QuestionVersion.difficulty <= f.difficulty[1])
    if f.tag:
        q = q.where(col(QuestionVersion.tags_key).like("%|" + _like_escape(f.tag) + "|%", escape="\\"))
    if f.usage:
        q = q.where(QuestionVersion.usage == f.usage)
    for word in f.text.lower().split()[:5]:
        q = q.where(col(QuestionVersion.search_text).like("%" + _like_escape(word) + "%", escape="\\"))
    return q


def search(session: Session, actor: Actor, *, filters: BankFilter | None = None, page: int = 1,
           page_size: int = 50) -> BankPage:
    """One page of the questions matching the filters (current versions), with the true total."""
    _require(actor)
    f = filters or BankFilter()
    page_size = min(max(page_size, 1), 500)
    total = session.exec(_filtered(_current_col(func.count()), f)).one()
    pages = max(1, -(-total // page_size))
    page = min(max(page, 1), pages)
    rows = session.exec(_filtered(_current(), f).order_by(QuestionVersion.question_id)
                        .offset((page - 1) * page_size).limit(page_size)).all()
    return BankPage(total, page, page_size, [
        BankRow(v.question_id, v.version, v.type, v.category, v.difficulty, v.usage, v.points, v.data["text"],
                list(v.data.get("tags") or []), q.active, q.course_id) for v, q in rows])


def matching_ids(session: Session, actor: Actor, *, filters: BankFilter, limit: int = 10_000) -> list[str]:
    """Every id matching the filters (for bulk actions and export of a selection)."""
    _require(actor)
    return list(session.exec(_filtered(_current_col(QuestionVersion.question_id), filters)
                             .order_by(QuestionVersion.question_id).limit(limit)).all())


def category_tree(session: Session, actor: Actor) -> list[str]:
    """Every category path in use, with every ancestor (for a tree picker), sorted."""
    _require(actor)
    paths = set(session.exec(_current_col(QuestionVersion.category).distinct()).all())
    out = set()
    for p in paths:
        parts = p.split("/")
        out.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return sorted(out)


def tags(session: Session, actor: Actor) -> list[str]:
    _require(actor)
    keys = session.exec(_current_col(QuestionVersion.tags_key).where(QuestionVersion.tags_key != "").distinct()).all()
    return sorted({t for k in keys for t in k.strip("|").split("|") if t})


def bank_stats(session: Session, actor: Actor) -> pd.DataFrame:
    """Questions per course and type (current versions of active questions).
    Columns: one per question type; index: course title."""
    _require(actor)
    rows = session.exec(
        select(Course.title, QuestionVersion.type, func.count())
        .join(Question, (Question.id == QuestionVersion.question_id) & (Question.current_version == QuestionVersion.version))
        .join(Course, Course.id == Question.course_id).where(Question.active)
        .group_by(Course.title, QuestionVersion.type)).all()
    df = pd.DataFrame(rows, columns=["course", "type", "n"])
    if df.empty:
        return df
    return df.pivot_table(index="course", columns="type", values="n", fill_value=0, aggfunc="sum")


def list_questions(session: Session, actor: Actor, *, course_id: str | None = None, qtype: str | None = None,
                   text: str = "", difficulty: tuple[int, int] = (1, 5), limit: int = 500) -> pd.DataFrame:
    """Kept for callers of the first bank page: the first `limit` matches as a DataFrame
    (id, version, type, category, difficulty, usage, points, text)."""
    page = search(session, actor, filters=BankFilter(course_id=course_id, qtype=qtype, text=text, difficulty=difficulty),
                  page_size=limit)
    return pd.DataFrame([{k: getattr(r, k) for k in ("id", "version", "type", "category", "difficulty", "usage", "points", "text")}
                         for r in page.rows], columns=["id", "version", "type", "category", "difficulty", "usage", "points", "text"])


def question_record(session: Session, actor: Actor, *, question_id: str, version: int | None = None) -> dict:
    """The full record with its key (trainers only), plus _version, _versions, _active, _course_id."""
    _require(actor)
    q = session.get(Question, question_id)
    if q is None:
        raise NotFound(what="question", id=question_id)
    v = session.exec(select(QuestionVersion).where(QuestionVersion.question_id == question_id,
                                                   QuestionVersion.version == (version or q.current_version))).first()
    if v is None:
        raise NotFound(what="question version", id=f"{question_id} v{version}")
    n = session.exec(select(func.count()).select_from(QuestionVersion).where(QuestionVersion.question_id == question_id)).one()
    return {**v.data, "_version": v.version, "_versions": n, "_active": q.active, "_course_id": q.course_id,
            "_current_version": q.current_version}


def courses(session: Session, actor: Actor) -> list[tuple[str, str]]:
    _require(actor)
    return [(c.id, c.title) for c in session.exec(select(Course).where(Course.active).order_by(col(Course.position))).all()]


# ---- editing -----------------------------------------------------------------------------------

def validate_question(data: dict[str, Any]) -> tuple[QuestionIn | None, list[str]]:
    """Live validation for the editor: the question, or the reasons it is not valid yet."""
    try:
        q = QuestionIn.model_validate(data)
    except ValidationError as exc:
        return None, pydantic_errors(exc)
    from services.formats.base import _control_fields
    bad = _control_fields(q.record())
    return (None, [f"control characters in {', '.join(bad)}"]) if bad else (q, [])


def _next_id(session: Session, prefix: str) -> str:
    """The next free <prefix>-NNN id."""
    ids = session.exec(select(Question.id).where(col(Question.id).like(_like_escape(prefix) + "-%", escape="\\"))).all()
    nums = [int(m.group(1)) for i in ids if (m := re.fullmatch(re.escape(prefix) + r"-(\d+)", i))]
    return f"{prefix}-{(max(nums) + 1 if nums else 1):03d}"


def _prefix(session: Session, course_id: str | None) -> str:
    """Questions of a course are numbered after the course's own question prefix (e.g. strat-052)."""
    if course_id:
        first = session.exec(select(Question.id).where(Question.course_id == course_id).order_by(Question.id)).first()
        if first and "-" in first:
            return first.rsplit("-", 1)[0]
        return re.sub(r"[^a-z0-9-]", "", course_id.lower()) or "q"
    return "q"


class _IdAllocator:
    """Next free <prefix>-NNN ids, read from the database once per prefix (an import of thousands of
    questions must not scan the question table for each one)."""

    def __init__(self, session: Session) -> None:
        self.session, self.next = session, {}

    def __call__(self, prefix: str) -> str:
        if prefix not in self.next:
            self.next[prefix] = int(_next_id(self.session, prefix).rsplit("-", 1)[1])
        n = self.next[prefix]
        self.next[prefix] = n + 1
        return f"{prefix}-{n:03d}"


def _write_version(session: Session, actor: Actor, q: QuestionIn, *, question_id: str | None,
                   course_id: str | None, new_id=None) -> tuple[str, int, str]:
    """Store q as a new question or a new version of question_id; returns (id, version, outcome)."""
    if course_id and session.get(Course, course_id) is None:
        raise NotFound(what="course", id=course_id)
    qid = question_id or q.id or (new_id or _IdAllocator(session))(_prefix(session, course_id))
    record = q.model_copy(update={"id": qid}).record()
    digest = content_hash(record)
    row = session.get(Question, qid)
    if row is None:
        row = Question(id=qid, course_id=course_id, current_version=1)
        session.add(row)          # the flush orders the inserts by their foreign keys
        version, outcome = 1, "new"
    else:
        current = session.exec(select(QuestionVersion).where(QuestionVersion.question_id == qid,
                                                             QuestionVersion.version == row.current_version)).one()
        if current.content_hash == digest and (course_id is None or course_id == row.course_id):
            return qid, row.current_version, "unchanged"
        version, outcome = row.current_version + 1, "new_version"
        row.current_version = version
        if course_id:
            row.course_id = course_id
        session.add(row)
    session.add(QuestionVersion(question_id=qid, version=version, type=q.type, category=q.category,
                                difficulty=q.difficulty, usage=q.usage, points=q.points, data=record,
                                content_hash=digest, created_by=actor.id))
    return qid, version, outcome


def save_question(session: Session, actor: Actor, *, data: dict[str, Any], question_id: str | None = None,
                  course_id: str | None = None) -> tuple[str, int]:
    """Create a question or save an edit as a new version (past papers keep the version they drew)."""
    _require(actor)
    q, errors = validate_question(data)
    if q is None:
        raise ValidationFailed("error.question_invalid", errors=errors, n=len(errors))
    if question_id and session.get(Question, question_id) is None:
        raise NotFound(what="question", id=question_id)
    qid, version, outcome = _write_version(session, actor, q, question_id=question_id, course_id=course_id)
    session.flush()
    if outcome != "unchanged":
        audit.record(session, actor.id, "question.save", question=qid, version=version)
    return qid, version


@dataclass
class VersionInfo:
    version: int
    created_at: Any
    created_by: str | None
    type: str
    category: str
    text: str


def history(session: Session, actor: Actor, *, question_id: str) -> list[VersionInfo]:
    """Every version, newest first, with who saved it (None: loaded from question_bank/)."""
    _require(actor)
    from models import User
    rows = session.exec(select(QuestionVersion, User.name).join(User, User.id == QuestionVersion.created_by, isouter=True)
                        .where(QuestionVersion.question_id == question_id).order_by(col(QuestionVersion.version).desc())).all()
    if not rows:
        raise NotFound(what="question", id=question_id)
    return [VersionInfo(v.version, v.created_at, name, v.type, v.category, v.data["text"]) for v, name in rows]


def diff(session: Session, actor: Actor, *, question_id: str, old: int, new: int) -> str:
    """A unified diff between two versions, field by field as the YAML interchange format shows them."""
    a = question_record(session, actor, question_id=question_id, version=old)
    b = question_record(session, actor, question_id=question_id, version=new)
    dump = lambda r: yaml.safe_dump({k: v for k, v in r.items() if not k.startswith("_")},
                                    allow_unicode=True, sort_keys=False, width=100).splitlines()
    return "\n".join(difflib.unified_diff(dump(a), dump(b), f"v{old}", f"v{new}", lineterm=""))


def set_active(session: Session, actor: Actor, *, question_ids: list[str], active: bool) -> int:
    """Retire (active=False) or restore questions. Retired questions are never drawn; past papers keep them."""
    _require(actor)
    if not question_ids:
        return 0
    n = session.exec(update(Question).where(col(Question.id).in_(question_ids), Question.active != active)
                     .values(active=active)).rowcount
    audit.record(session, actor.id, "question.restore" if active else "question.retire", questions=question_ids[:200], n=n)
    session.flush()
    return n


def bulk_edit(session: Session, actor: Actor, *, question_ids: list[str], category: str | None = None,
              add_tags: list[str] = (), remove_tags: list[str] = ()) -> int:
    """Move to a category and/or add and remove tags: each changed question gets a new version."""
    _require(actor)
    changed = 0
    for qid in question_ids:
        rec = question_record(session, actor, question_id=qid)
        data = {k: v for k, v in rec.items() if not k.startswith("_")}
        if category:
            data["category"] = category
        tag_list = [t for t in data.get("tags", []) if t not in set(remove_tags)]
        tag_list += [t for t in add_tags if t and t not in tag_list]
        data["tags"] = tag_list
        q, errors = validate_question(data)
        if q is None:
            raise ValidationFailed("error.question_invalid", errors=[f"{qid}: {e}" for e in errors], n=len(errors))
        _, _, outcome = _write_version(session, actor, q, question_id=qid, course_id=None)
        session.flush()
        changed += outcome != "unchanged"
    if changed:
        audit.record(session, actor.id, "question.bulk_edit", questions=question_ids[:200], n=changed,
                     category=category, add_tags=list(add_tags), remove_tags=list(remove_tags))
    return changed


# ---- import and export ---------------------------------------------------------------------------

@dataclass
class ImportPreview:
    report: ImportReport
    duplicates: dict[int, str]           # index in report.questions → id of the bank question with the same text
    updates: dict[int, str]              # index → existing id the item will give a new version to

    def as_json(self) -> dict[str, Any]:
        out = self.report.as_json()
        out["duplicates"] = [{"line": self.report.questions[i].line, "existing": qid} for i, qid in self.duplicates.items()]
        return out


def preview_import(session: Session, actor: Actor, *, data: bytes, name: str = "", fmt: str = "auto",
                   category: str | None = None) -> ImportPreview:
    """Parse and validate everything, write nothing; flag duplicates of bank questions (normalised text)
    and within the file."""
    _require(actor)
    report = formats.read(data, fmt=fmt, name=name, category=category)
    by_text: dict[str, str] = {}
    for qid, record in session.exec(select(QuestionVersion.question_id, QuestionVersion.data).join(Question, _IS_CURRENT)
                                    .where(Question.active)).all():
        by_text.setdefault(normalised_text(record.get("text", "")), qid)
    dups, updates, seen = {}, {}, {}
    for i, p in enumerate(report.questions):
        key = normalised_text(p.question.text)
        if p.question.id and session.get(Question, p.question.id) is not None:
            updates[i] = p.question.id
        elif key in by_text:
            dups[i] = by_text[key]
        elif key in seen:
            dups[i] = f"line {report.questions[seen[key]].line}"
        seen.setdefault(key, i)
    return ImportPreview(report, dups, updates)


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    new_versions: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped_duplicates: int = 0
    skipped_invalid: int = 0


def import_questions(session: Session, actor: Actor, *, preview: ImportPreview, course_id: str | None = None,
                     only_valid: bool = False, skip_duplicates: bool = True, progress=None) -> ImportResult:
    """Write the previewed questions in the caller's unit of work: nothing when the file has errors, unless
    the trainer chose to import only the valid items after seeing the report. `progress(done, total)`."""
    _require(actor)
    report = preview.report
    if report.errors and not only_valid:
        raise ValidationFailed("error.import_has_errors", count=len(report.errors))
    result = ImportResult(skipped_invalid=len(report.errors) if only_valid else 0)
    total = len(report.questions)
    allocate = _IdAllocator(session)
    prefix = _prefix(session, course_id)
    for i, p in enumerate(report.questions):
        if skip_duplicates and i in preview.duplicates:
            result.skipped_duplicates += 1
            continue
        question = p.question
        if not question.id and i not in preview.updates:
            question = question.model_copy(update={"id": allocate(prefix)})
        qid, _, outcome = _write_version(session, actor, question, question_id=preview.updates.get(i), course_id=course_id,
                                         new_id=allocate)
        {"new": result.created, "new_version": result.new_versions, "unchanged": result.unchanged}[outcome].append(qid)
        if progress and (i % 25 == 0 or i == total - 1):
            progress(i + 1, total)
    audit.record(session, actor.id, "question.import", format=report.format, created=len(result.created),
                 new_versions=len(result.new_versions), skipped_duplicates=result.skipped_duplicates,
                 skipped_invalid=result.skipped_invalid, course=course_id)
    session.flush()
    return result


def export_questions(session: Session, actor: Actor, *, fmt: str, question_ids: list[str] | None = None,
                     filters: BankFilter | None = None) -> bytes:
    """The selection (ids) or everything matching the filters, in one format (current versions)."""
    _require(actor)
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed("error.export_format", format=fmt)
    ids = question_ids if question_ids is not None else matching_ids(session, actor, filters=filters or BankFilter(), limit=100_000)
    rows = session.exec(_current_col(QuestionVersion.data).where(col(Question.id).in_(ids))
                        .order_by(QuestionVersion.category, QuestionVersion.question_id)).all() if ids else []
    audit.record(session, actor.id, "question.export", format=fmt, n=len(rows))
    return formats.FORMATS[fmt].write([dict(r) for r in rows])


def not_carried(fmt: str) -> tuple[str, ...]:
    """Fields a format cannot hold (said to the trainer before exporting)."""
    return tuple(formats.FORMATS[fmt].NOT_CARRIED)


__all__ = ["QUESTION_TYPES", "BankFilter", "BankPage", "BankRow", "ImportPreview", "ImportResult", "bank_stats",
           "bulk_edit", "category_tree", "courses", "diff", "export_questions", "history", "import_questions",
           "list_questions", "matching_ids", "not_carried", "preview_import", "question_record", "save_question",
           "search", "set_active", "tags", "validate_question"]
