"""The one drawing mechanism (design §3): rules -> satisfiable? -> how many papers -> a drawn paper.

Used by the course quiz (services/learning.py), exams (services/exams.py, services/attempts.py) and the
content checker (services/content.rules_satisfiable, on questions read from files).

A rule is category subtree x type x difficulty range x count, with optional points per question:
- a question matches a rule when its type is the rule's, its category is the rule's category or below
  it ("信息安全" matches "信息安全/法律法规"), its difficulty lies in the range (inclusive) and its usage
  suits the purpose: exams and mock exams take usage exam|both, quizzes and practice take practice|both;
- rules never share a question: they are filled most specific first (a category before none, a deeper
  category before a shallower one, a difficulty range before none, a narrower range before a wider one),
  each from what the rules before it left (`allocate`, the same core for the database and for files);
- points set in a rule are the points of every question that rule draws (else the question's own points).

Counting distinct papers (`paper_count`): rules are taken in drawing order; rule i can choose freely
among n_i = |pool_i| - sum(k_j for the earlier rules j whose pools overlap pool_i) questions, so the
product of C(n_i, k_i) is a lower bound of the distinct question sets the rules can draw (exact when the
pools are disjoint). It is reported exactly up to 10**18 and as log10 beyond (`PaperCount`).

Drawing works in SQL: one query of ids per rule (current versions of active questions), a sample in
Python, one query for the chosen versions; the bank is never loaded. Question and option order come from
a seeded random.Random, so an attempt's order is reproducible from its seed; the drawn paper is stored
with the attempt anyway and never changes (design §5).
"""
from __future__ import annotations

import math
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import literal, union_all
from sqlmodel import Session, col, func, select

from models import Question, QuestionVersion

Purpose = Literal["quiz", "practice", "exam", "mock"]
USAGES: dict[str, tuple[str, ...]] = {"quiz": ("practice", "both"), "practice": ("practice", "both"),
                                      "exam": ("exam", "both"), "mock": ("exam", "both")}
COUNT_CAP = 10 ** 18
SHUFFLED_OPTIONS = ("single_choice", "multiple_choice", "matching")
QUESTION_TYPES = ("single_choice", "multiple_choice", "true_false", "fill_blank", "numerical", "matching", "essay")


class DrawRule(BaseModel):
    """How many questions of a type (optionally per category subtree and difficulty range); `points`
    are the points of each question this rule draws (None: the question's own)."""
    model_config = ConfigDict(extra="forbid")
    type: Literal["single_choice", "multiple_choice", "true_false", "fill_blank", "numerical", "matching", "essay"]
    count: int = Field(gt=0, le=500)
    category: str | None = None
    difficulty: tuple[int, int] | None = None
    points: float | None = Field(default=None, gt=0, le=100)

    @field_validator("difficulty", mode="before")
    @classmethod
    def _one_level(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            return (v, v)
        return v

    @field_validator("difficulty")
    @classmethod
    def _range(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and not (1 <= v[0] <= v[1] <= 5):
            raise ValueError("difficulty is a range 1..5, low to high")
        return v

    @field_validator("category")
    @classmethod
    def _category(cls, v: str | None) -> str | None:
        v = (v or "").strip().strip("/")
        return v or None

    def describe(self) -> str:
        return self.type + (f" in {self.category}" if self.category else "") + (
            f" difficulty {self.difficulty[0]}-{self.difficulty[1]}" if self.difficulty else "")


def as_rules(rules: Iterable[DrawRule | dict[str, Any]]) -> list[DrawRule]:
    return [r if isinstance(r, DrawRule) else DrawRule.model_validate(r) for r in rules]


def specificity(rule: DrawRule) -> tuple:
    """Sort key: most specific first (see the module docstring)."""
    depth = rule.category.count("/") + 1 if rule.category else 0
    width = rule.difficulty[1] - rule.difficulty[0] if rule.difficulty else 99
    return (rule.category is None, -depth, rule.difficulty is None, width)


def drawing_order(rules: Sequence[DrawRule]) -> list[int]:
    """Indexes of `rules` in the order they are filled (stable for equally specific rules)."""
    return sorted(range(len(rules)), key=lambda i: specificity(rules[i]))


def in_category(category: str, subtree: str | None) -> bool:
    return subtree is None or category == subtree or category.startswith(subtree + "/")


def matches(rule: DrawRule, *, type: str, category: str, difficulty: int, usage: str, purpose: str) -> bool:
    """The rule's predicate on one question (the same as `_where` in SQL)."""
    return (type == rule.type and usage in USAGES[purpose] and in_category(category, rule.category)
            and (rule.difficulty is None or rule.difficulty[0] <= difficulty <= rule.difficulty[1]))


def _current(course_id: str | None):
    q = (select(QuestionVersion.id).join(Question, (Question.id == QuestionVersion.question_id)
                                         & (Question.current_version == QuestionVersion.version))
         .where(Question.active))
    if course_id is not None:
        q = q.where(Question.course_id == course_id)
    return q


def _where(q, rule: DrawRule, purpose: str):
    q = q.where(QuestionVersion.type == rule.type, col(QuestionVersion.usage).in_(USAGES[purpose]))
    if rule.category:
        q = q.where((QuestionVersion.category == rule.category)
                    | col(QuestionVersion.category).startswith(rule.category + "/", autoescape=True))
    if rule.difficulty:
        q = q.where(QuestionVersion.difficulty >= rule.difficulty[0], QuestionVersion.difficulty <= rule.difficulty[1])
    return q


# ---- the core: fill rules from candidate pools without sharing -------------------------------------

@dataclass
class Allocation:
    picks: list[list[Hashable]]            # per rule (in the caller's order): the chosen keys
    available: list[int]                   # per rule: candidates left when its turn came
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def allocate(rules: Sequence[DrawRule], pools: Sequence[Sequence[Hashable]], *, rng: random.Random | None = None,
             purpose: str = "exam") -> Allocation:
    """Fill every rule from its pool, most specific first, never taking a key twice. With `rng` the
    picks are a random sample (drawing); without, the first keys (a deterministic satisfiability check)."""
    taken: set[Hashable] = set()
    picks: list[list[Hashable]] = [[] for _ in rules]
    available = [0] * len(rules)
    problems = []
    for i in drawing_order(rules):
        rule = rules[i]
        free = [k for k in pools[i] if k not in taken]
        available[i] = len(free)
        if len(free) < rule.count:
            problems.append(f"{purpose} rule needs {rule.count} × {rule.describe()}, the bank has {len(free)}")
            chosen = free
        else:
            chosen = rng.sample(free, rule.count) if rng is not None else free[: rule.count]
        taken.update(chosen)
        picks[i] = list(chosen)
    return Allocation(picks, available, problems)


def check_in_memory(items: Sequence[Any], rules: Sequence[DrawRule], purpose: str,
                    key: Callable[[Any], Hashable], attrs: Callable[[Any], dict[str, Any]]) -> list[str]:
    """The content checker's entry: questions held in memory (read from files)."""
    pools = [[key(q) for q in items if matches(r, purpose=purpose, **attrs(q))] for r in rules]
    return allocate(rules, pools, purpose=purpose).problems


# ---- the bank in the database ---------------------------------------------------------------------

_CACHE_LOCK = threading.Lock()
_POOLS: OrderedDict[tuple, list[list[int]]] = OrderedDict()
_VERSIONS: OrderedDict[tuple, tuple[str, str, float, int]] = OrderedDict()
POOL_CACHE_SIZE, VERSION_CACHE_SIZE = 256, 50_000


def bank_fingerprint(session: Session) -> tuple:
    """Changes whenever a pool may change: a new version (editing, importing) raises max(version id); retiring
    or restoring a question changes the count and sum of current versions of active questions."""
    newest = select(func.max(QuestionVersion.id)).scalar_subquery()
    active = select(func.count(Question.id)).where(Question.active).scalar_subquery()
    versions = select(func.coalesce(func.sum(Question.current_version), 0)).where(Question.active).scalar_subquery()
    return tuple(session.exec(select(newest, active, versions)).one())


def _pools(session: Session, rules: Sequence[DrawRule], purpose: str, course_id: str | None) -> list[list[int]]:
    """Per rule, the ids of the matching current versions (ordered by id, one query per rule). Kept per
    process for the bank's fingerprint (`bank_fingerprint`, one cheap query): 500 learners starting the
    same exam draw from pools read once, and any change of the bank reads them again."""
    key = (str(session.get_bind().url), bank_fingerprint(session), purpose, course_id,
           tuple(r.model_dump_json(exclude={"count", "points"}) for r in rules))
    with _CACHE_LOCK:
        hit = _POOLS.get(key)
        if hit is not None:
            _POOLS.move_to_end(key)
            return hit
    # one statement for every rule (UNION ALL of the rules' queries): one round trip, one plan
    parts = [_where(select(literal(i).label("rule"), QuestionVersion.id.label("vid"))
                    .join(Question, (Question.id == QuestionVersion.question_id)
                          & (Question.current_version == QuestionVersion.version))
                    .where(Question.active), r, purpose) for i, r in enumerate(rules)]
    if course_id is not None:
        parts = [p.where(Question.course_id == course_id) for p in parts]
    pools: list[list[int]] = [[] for _ in rules]
    for i, vid in session.execute(union_all(*parts) if len(parts) > 1 else parts[0]).all():
        pools[i].append(vid)
    for pool in pools:
        pool.sort()
    with _CACHE_LOCK:
        _POOLS[key] = pools
        while len(_POOLS) > POOL_CACHE_SIZE:
            _POOLS.popitem(last=False)
    return pools


def _version_facts(session: Session, ids: list[int]) -> dict[int, tuple[str, str, float, int]]:
    """(question id, type, points, number of options or pairs) of versions. Versions are immutable, so
    these are kept per process once read."""
    url = str(session.get_bind().url)
    out: dict[int, tuple[str, str, float, int]] = {}
    with _CACHE_LOCK:
        for vid in ids:
            hit = _VERSIONS.get((url, vid))
            if hit is not None:
                out[vid] = hit
    missing = [vid for vid in ids if vid not in out]
    if missing:
        rows = session.exec(select(QuestionVersion.id, QuestionVersion.question_id, QuestionVersion.type,
                                   QuestionVersion.points, QuestionVersion.data)
                            .where(col(QuestionVersion.id).in_(missing))).all()
        with _CACHE_LOCK:
            for vid, qid, t, pts, data in rows:
                n = len(data.get("options") or []) if t in ("single_choice", "multiple_choice") else (
                    len(data.get("pairs") or []) if t == "matching" else 0)
                out[vid] = _VERSIONS[(url, vid)] = (qid, t, float(pts), n)
            while len(_VERSIONS) > VERSION_CACHE_SIZE:
                _VERSIONS.popitem(last=False)
    return out


@dataclass
class PaperCount:
    exact: int | None          # None when above COUNT_CAP
    log10: float               # log10 of the count (0 for exactly one paper; -inf never: 0 papers -> exact 0)

    def __str__(self) -> str:
        if self.exact is not None:
            return f"{self.exact:,}"
        return f"≈10^{self.log10:.1f}"


def _log10_comb(n: int, k: int) -> float:
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / math.log(10)


def intersect(a: DrawRule, b: DrawRule) -> DrawRule | None:
    """A rule matching exactly the questions both match (None: the pools are disjoint)."""
    if a.type != b.type:
        return None
    if a.category and b.category:
        if in_category(a.category, b.category):
            category = a.category
        elif in_category(b.category, a.category):
            category = b.category
        else:
            return None
    else:
        category = a.category or b.category
    lo, hi = 1, 5
    for r in (a, b):
        if r.difficulty:
            lo, hi = max(lo, r.difficulty[0]), min(hi, r.difficulty[1])
    if lo > hi:
        return None
    diff = (lo, hi) if (a.difficulty or b.difficulty) else None
    return DrawRule(type=a.type, count=1, category=category, difficulty=diff)


def count_from_sizes(rules: Sequence[DrawRule], size: Callable[[DrawRule], int]) -> PaperCount:
    order = drawing_order(rules)
    log = 0.0
    exact: int | None = 1
    for pos, i in enumerate(order):
        rule = rules[i]
        n = size(rule)
        for j in order[:pos]:
            both = intersect(rule, rules[j])
            if both is not None and size(both) > 0:
                n -= rules[j].count
        if n < rule.count:
            return PaperCount(0, 0.0)
        log += _log10_comb(n, rule.count)
        if exact is not None:
            exact *= math.comb(n, rule.count)
            if exact > COUNT_CAP:
                exact = None
    return PaperCount(exact, round(log, 2))


def paper_count(session: Session, rules: Sequence[DrawRule | dict[str, Any]], *, purpose: str = "exam",
                course_id: str | None = None) -> PaperCount:
    """How many distinct papers the rules can draw (a lower bound when pools overlap; see the module doc)."""
    rules = as_rules(rules)
    cache: dict[str, int] = {}

    def size(r: DrawRule) -> int:
        k = r.model_dump_json(exclude={"count", "points"})
        if k not in cache:
            cache[k] = session.exec(select(func.count()).select_from(
                _where(_current(course_id), r, purpose).subquery())).one()
        return cache[k]
    return count_from_sizes(rules, size)


@dataclass
class RuleCheck:
    index: int          # position in the rule list as given
    rule: DrawRule
    pool: int           # questions matching the rule
    available: int      # left for it after the more specific rules
    ok: bool


@dataclass
class Satisfiability:
    ok: bool
    problems: list[str]
    rules: list[RuleCheck]
    papers: PaperCount
    questions: int      # questions on a paper
    max_score: float    # a paper's total points when every rule sets points; else None-like estimate


def check_rules(session: Session, rules: Sequence[DrawRule | dict[str, Any]], *, purpose: str = "exam",
                course_id: str | None = None) -> Satisfiability:
    """What the builder shows at once: can the bank fill the rules without sharing, per rule how many
    questions are there and left, and how many distinct papers."""
    rules = as_rules(rules)
    if not rules:
        return Satisfiability(False, ["at least one rule is needed"], [], PaperCount(0, 0.0), 0, 0.0)
    pools = _pools(session, rules, purpose, course_id)
    alloc = allocate(rules, pools, purpose=purpose)
    checks = [RuleCheck(i, r, len(pools[i]), alloc.available[i], alloc.available[i] >= r.count) for i, r in enumerate(rules)]
    count = paper_count(session, rules, purpose=purpose, course_id=course_id) if alloc.ok else PaperCount(0, 0.0)
    max_score = 0.0
    for i, r in enumerate(rules):
        if r.points is not None:
            max_score += r.points * r.count
        else:
            pts = session.exec(select(QuestionVersion.points).where(col(QuestionVersion.id).in_(alloc.picks[i]))).all()
            max_score += sum(pts)
    return Satisfiability(alloc.ok, alloc.problems, checks, count, sum(r.count for r in rules), round(max_score, 2))


def fixed_problems(session: Session, question_ids: Sequence[str], *, purpose: str = "exam") -> list[str]:
    """What stops a fixed paper: unknown or retired questions, repeats, a usage that does not suit."""
    if not question_ids:
        return ["a fixed paper needs at least one question"]
    problems = []
    dup = sorted({q for q in question_ids if list(question_ids).count(q) > 1})
    if dup:
        problems.append(f"listed more than once: {', '.join(dup)}")
    rows = dict(session.exec(select(Question.id, QuestionVersion.usage).join(
        QuestionVersion, (Question.id == QuestionVersion.question_id) & (Question.current_version == QuestionVersion.version))
        .where(col(Question.id).in_(list(question_ids)), Question.active)).all())
    missing = [q for q in question_ids if q not in rows]
    if missing:
        problems.append(f"no such active question: {', '.join(missing)}")
    wrong = [q for q in question_ids if q in rows and rows[q] not in USAGES[purpose]]
    if wrong:
        problems.append(f"usage does not suit {purpose}: {', '.join(wrong)}")
    return problems


# ---- drawing ----------------------------------------------------------------------------------------

@dataclass
class PaperItem:
    position: int                     # 1-based display position
    version_id: int
    question_id: str
    type: str
    points: float
    option_order: list[int] | None    # display order of options (choice) or right-hand items (matching)
    rule_index: int | None = None     # which rule drew it (None: fixed paper)


@dataclass
class Paper:
    items: list[PaperItem]

    @property
    def max_score(self) -> float:
        return round(sum(i.points for i in self.items), 4)

    def __len__(self) -> int:
        return len(self.items)


class Unsatisfiable(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def draw_paper(session: Session, *, seed: int, rules: Sequence[DrawRule | dict[str, Any]] | None = None,
               question_ids: Sequence[str] | None = None, purpose: str = "exam", course_id: str | None = None,
               shuffle_questions: bool = True, shuffle_options: bool = True) -> Paper:
    """Draw a paper: by rules (current versions, usage suiting the purpose, no question twice) or a fixed
    list of question ids. The same seed and bank give the same paper and order. Raises Unsatisfiable."""
    rng = random.Random(seed)
    chosen: list[tuple[int, int | None, float | None]] = []     # (version id, rule index, points)
    if question_ids is not None:
        problems = fixed_problems(session, question_ids, purpose=purpose)
        if problems:
            raise Unsatisfiable(problems)
        ids = dict(session.exec(select(Question.id, QuestionVersion.id).join(
            QuestionVersion, (Question.id == QuestionVersion.question_id) & (Question.current_version == QuestionVersion.version))
            .where(col(Question.id).in_(list(question_ids)))).all())
        chosen = [(ids[q], None, None) for q in question_ids]
    else:
        rules = as_rules(rules or [])
        if not rules:
            raise Unsatisfiable(["at least one rule is needed"])
        alloc = allocate(rules, _pools(session, rules, purpose, course_id), rng=rng, purpose=purpose)
        if not alloc.ok:
            raise Unsatisfiable(alloc.problems)
        for i, picks in enumerate(alloc.picks):      # rules in the order given, then shuffled below
            chosen.extend((vid, i, rules[i].points) for vid in picks)
    facts = _version_facts(session, [c[0] for c in chosen])
    if shuffle_questions:
        rng.shuffle(chosen)
    items = []
    for pos, (vid, rule_index, points) in enumerate(chosen, start=1):
        qid, vtype, own_points, n_options = facts[vid]
        order = None
        if vtype in SHUFFLED_OPTIONS:
            order = list(range(n_options))
            if shuffle_options:
                rng.shuffle(order)
        items.append(PaperItem(pos, vid, qid, vtype, float(points if points is not None else own_points), order, rule_index))
    return Paper(items)


def new_seed() -> int:
    """A fresh seed for an attempt (stored on it: the order can be reproduced and checked)."""
    return random.SystemRandom().randrange(1, 2 ** 31 - 1)
