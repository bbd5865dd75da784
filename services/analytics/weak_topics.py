"""Weak topics: where a unit's learners score lowest, as a unit x category table, within a trainer's scope.

How the figures are made (the page's help says the same):
- Every scored item of a graded attempt (status "submitted") of an exam or a course quiz counts, by
  the learner's current unit (the current-unit rule of the HR dashboard) and the question's category on
  that paper (the version the attempt drew).
- Facility of a cell = Σ score / Σ points of its answers (the pooled P of design §2: 0 = nobody right,
  1 = everybody right); n = answers, learners = distinct learners behind them.
- Units are shown at one level of the tree (`depth`): a learner counts in their unit's ancestor at that
  level (or in their own unit when it sits higher up), optionally only under one unit (`under`).
- Categories are cut to their first `category_depth` levels ("信息安全/法律法规" -> "信息安全" at 1).
- Optional filters: one exam or one course quiz (the page starts with the one being analysed: at city
  scale every answer of every exam is millions of rows, seconds on SQLite), a date range of the
  attempts' submission (UTC datetimes from the caller).
SQL groups by (learner's unit, category): a few thousand rows however many answers; the roll-up to
the chosen level happens in Python.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, col, func, select

from models import Attempt, AttemptItem, OrgUnit, QuestionVersion, User
from models.learning import ATTEMPT_DONE
from services.analytics.dashboard import unit_label
from services.errors import NotFound, PermissionDenied
from services.permissions import ALL, Actor, require_role, scope_paths


@dataclass
class Cell:
    unit_id: int
    unit: str
    category: str
    facility: float | None
    n: int
    learners: int
    score: float = 0.0
    points: float = 0.0


@dataclass
class WeakTopics:
    depth: int
    under: int | None
    cells: list[Cell]                                   # weakest first
    units: list[tuple[int, str]] = field(default_factory=list)    # the rows, in tree order
    categories: list[str] = field(default_factory=list)

    def weakest(self, min_n: int = 1) -> list[Cell]:
        return [c for c in self.cells if c.n >= min_n]


def _scope(actor: Actor) -> tuple[str, ...]:
    require_role(actor, "trainer")
    return scope_paths(actor, "trainer")


def _inside(path: str, paths: tuple[str, ...]) -> bool:
    return ALL in paths or any(path.startswith(p) for p in paths)


def levels(session: Session, actor: Actor) -> list[tuple[int, list[str]]]:
    """(depth, unit kinds at that depth) of the units inside the trainer's scope, top first."""
    paths = _scope(actor)
    q = select(OrgUnit.depth, OrgUnit.kind).where(OrgUnit.active).distinct()
    if ALL not in paths:
        q = q.where(or_(*[col(OrgUnit.path).startswith(p) for p in paths]))
    out: dict[int, set[str]] = {}
    for depth, kind in session.exec(q).all():
        out.setdefault(depth, set()).add(kind)
    return [(d, sorted(k)) for d, k in sorted(out.items())]


def category_at(category: str, depth: int) -> str:
    parts = [p for p in (category or "").split("/") if p]
    return "/".join(parts[:depth]) if depth > 0 and parts else (category or "")


def weak_topics(session: Session, actor: Actor, *, depth: int | None = None, under: int | None = None,
                category_depth: int = 1, exam_id: int | None = None, course_id: str | None = None,
                since: datetime | None = None, until: datetime | None = None) -> WeakTopics:
    """The unit x category table; see the module docstring. depth None: the level just below the
    trainer's top scope unit (or below `under`)."""
    paths = _scope(actor)
    units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    base = None
    if under is not None:
        base = units.get(under)
        if base is None:
            raise NotFound(what="unit", id=under)
        if not _inside(base.path, paths):
            raise PermissionDenied("error.out_of_scope")
    if depth is None:
        if base is not None:
            depth = base.depth + 1
        else:
            tops = [u.depth for u in units.values() if _inside(u.path, paths)]
            depth = (min(tops) + 1) if tops else 1
    if exam_id is not None:
        from services import exams
        exams.get_exam(session, actor, exam_id=exam_id)       # the exam must be theirs
    if course_id is not None:
        from models import Course
        from services.analytics.item_report import _course_in_scope
        course = session.get(Course, course_id)
        if course is None:
            raise NotFound(what="course", id=course_id)
        if not _course_in_scope(session, actor, course):
            raise PermissionDenied("error.out_of_scope")
    q = (select(User.unit_id, QuestionVersion.category, func.sum(AttemptItem.score), func.sum(AttemptItem.points),
                func.count(), func.count(func.distinct(Attempt.user_id)))
         .select_from(AttemptItem)
         .join(Attempt, Attempt.id == AttemptItem.attempt_id)
         .join(QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id)
         .join(User, User.id == Attempt.user_id)
         .join(OrgUnit, OrgUnit.id == User.unit_id)
         .where(Attempt.status == ATTEMPT_DONE, col(Attempt.kind).in_(("exam", "quiz")), col(AttemptItem.score).is_not(None))
         .group_by(User.unit_id, QuestionVersion.category))
    if ALL not in paths:
        q = q.where(or_(*[col(OrgUnit.path).startswith(p) for p in paths]))
    if base is not None:
        q = q.where(col(OrgUnit.path).startswith(base.path))
    if exam_id is not None:
        q = q.where(Attempt.exam_id == exam_id)
    if course_id is not None:
        q = q.where(Attempt.course_id == course_id, Attempt.kind == "quiz", col(Attempt.exam_id).is_(None))
    if since is not None:
        q = q.where(Attempt.submitted_at >= since)
    if until is not None:
        q = q.where(Attempt.submitted_at < until)
    cells: dict[tuple[int, str], Cell] = {}
    for unit_id, category, score, points, n, learners in session.exec(q).all():
        u = units.get(unit_id)
        if u is None:
            continue
        ids = [int(x) for x in u.path.strip("/").split("/") if x]
        target = ids[depth] if len(ids) > depth else u.id         # the ancestor at that level, or itself
        cat = category_at(category, category_depth)
        c = cells.get((target, cat))
        if c is None:
            c = cells[(target, cat)] = Cell(target, unit_label(units, target), cat, None, 0, 0)
        c.score += float(score or 0)
        c.points += float(points or 0)
        c.n += int(n)
        c.learners += int(learners)      # a learner is in one unit: distinct counts add up
    for c in cells.values():
        c.facility = c.score / c.points if c.points > 0 else None
    ordered = sorted(cells.values(), key=lambda c: (c.facility if c.facility is not None else 2.0, -c.n, c.unit, c.category))
    tree_order = sorted({c.unit_id for c in ordered}, key=lambda i: [int(x) for x in units[i].path.strip("/").split("/") if x])
    return WeakTopics(depth, under, ordered, [(i, unit_label(units, i)) for i in tree_order],
                      sorted({c.category for c in ordered}))


def data_version(session: Session) -> tuple:
    """Changes when graded exam or quiz attempts change, or the org tree does (the key for caching)."""
    a = session.exec(select(func.count(), func.max(Attempt.id), func.sum(Attempt.score))
                     .where(Attempt.status == ATTEMPT_DONE, col(Attempt.kind).in_(("exam", "quiz")))).one()
    u = session.exec(select(func.count(), func.max(OrgUnit.id))).one()
    return (*a, *u)
