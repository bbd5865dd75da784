"""The question interchange format (design.md §4): one schema for the bank, importers and exporters."""
from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import re
import unicodedata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

QUESTION_TYPES = ("single_choice", "multiple_choice", "true_false", "fill_blank", "numerical", "matching", "essay")
AUTO_GRADED = tuple(t for t in QUESTION_TYPES if t != "essay")


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    fraction: float = 0.0
    feedback: str | None = None


class TextAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    fraction: float = 1.0
    feedback: str | None = None


class NumericAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: float
    tolerance: float = 0.0
    fraction: float = 1.0
    feedback: str | None = None


class Pair(BaseModel):
    model_config = ConfigDict(extra="forbid")
    left: str
    right: str


class RubricItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    criterion: str
    points: float = Field(gt=0)


class LegalBasis(BaseModel):
    """`effective`: when the law first took effect. `amended`: the dates on which amendments took
    effect, oldest first, when the question teaches the amended (current) text; the current text
    has been in force since the last of them."""
    model_config = ConfigDict(extra="forbid")
    law: str
    article: str | None = None
    effective: dt.date
    amended: list[dt.date] | None = None

    @model_validator(mode="after")
    def _amendments_in_order(self) -> LegalBasis:
        if self.amended is not None:
            if not self.amended:
                raise ValueError("amended, when given, lists at least one date")
            dates = [self.effective, *self.amended]
            if any(b <= a for a, b in itertools.pairwise(dates)):
                raise ValueError("amended dates must be later than effective and in ascending order")
        return self

    @property
    def current_text_since(self) -> dt.date:
        return self.amended[-1] if self.amended else self.effective


class QuestionIn(BaseModel):
    """One question. Validation here is the bank's contract; the checker adds cross-item rules."""
    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    type: Literal["single_choice", "multiple_choice", "true_false", "fill_blank", "numerical", "matching", "essay"]
    title: str | None = None
    text: str = Field(min_length=1)
    options: list[Option] | None = None
    answer: bool | None = None
    answers: list[TextAnswer] | list[NumericAnswer] | None = None
    pairs: list[Pair] | None = None
    rubric: list[RubricItem] | None = None
    explanation: str | None = None
    category: str = Field(min_length=1)
    tags: list[str] = []
    difficulty: int = Field(3, ge=1, le=5)
    points: float = Field(1.0, gt=0)
    usage: Literal["practice", "exam", "both"] = "both"
    legal_basis: LegalBasis | None = None

    @field_validator("category")
    @classmethod
    def _category(cls, v: str) -> str:
        parts = [p.strip() for p in v.split("/")]
        if any(not p for p in parts):
            raise ValueError("category path has an empty segment")
        return "/".join(parts)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags_as_text(cls, v: Any) -> Any:
        # YAML reads a tag such as 12345 as a number; a tag is always text
        return [str(x) for x in v] if isinstance(v, list) else v

    @model_validator(mode="after")
    def _by_type(self) -> QuestionIn:
        t = self.type
        present = {k for k in ("options", "answer", "answers", "pairs", "rubric") if getattr(self, k) is not None}
        allowed = {"single_choice": {"options"}, "multiple_choice": {"options"}, "true_false": {"answer"},
                   "fill_blank": {"answers"}, "numerical": {"answers"}, "matching": {"pairs"},
                   "essay": {"rubric"}}[t]
        extra = present - allowed
        if extra:
            raise ValueError(f"{t} does not take: {', '.join(sorted(extra))}")
        if t == "single_choice":
            opts = self.options or []
            if len(opts) < 2:   # Moodle and Aiken allow two; the bank's own items need more (content check)
                raise ValueError("single_choice needs at least 2 options")
            full = [o for o in opts if abs(o.fraction - 1.0) < 1e-9]
            if len(full) != 1:
                raise ValueError(f"single_choice needs exactly one option with fraction 1.0 (found {len(full)})")
            if any(o.fraction > 1 or o.fraction < -1 for o in opts):
                raise ValueError("fractions must lie in -1..1")
        elif t == "multiple_choice":
            opts = self.options or []
            if len(opts) < 2:   # Moodle allows a multi-answer question with one key; the bank's rules are stricter
                raise ValueError("multiple_choice needs at least 2 options")
            if any(o.fraction > 1 or o.fraction < -1 for o in opts):
                raise ValueError("fractions must lie in -1..1")
            pos = sum(o.fraction for o in opts if o.fraction > 0)
            if abs(pos - 1.0) > 0.001:
                raise ValueError(f"multiple_choice positive fractions must sum to 1.0 (sum {pos:.4f})")
        elif t == "true_false":
            if self.answer is None:
                raise ValueError("true_false needs answer: true|false")
        elif t == "fill_blank":
            if not self.answers or not all(isinstance(a, TextAnswer) for a in self.answers):
                raise ValueError("fill_blank needs answers: [{text, fraction}]")
            if not any(abs(a.fraction - 1.0) < 1e-9 for a in self.answers):
                raise ValueError("fill_blank needs an answer with fraction 1.0")
        elif t == "numerical":
            if not self.answers or not all(isinstance(a, NumericAnswer) for a in self.answers):
                raise ValueError("numerical needs answers: [{value, tolerance, fraction}]")
            if not any(abs(a.fraction - 1.0) < 1e-9 for a in self.answers):
                raise ValueError("numerical needs an answer with fraction 1.0")
        elif t == "matching":
            real = [p for p in (self.pairs or []) if p.left.strip()]
            if len(real) < 2:
                raise ValueError("matching needs at least 2 pairs")
            if len({p.left for p in real}) != len(real):
                raise ValueError("matching left items must be unique")
        elif t == "essay":
            if self.rubric:
                total = sum(r.points for r in self.rubric)
                if abs(total - self.points) > 0.001:
                    raise ValueError(f"rubric points ({total:g}) must equal the question's points ({self.points:g})")
        return self

    def record(self) -> dict[str, Any]:
        """The JSON stored on a question version (dates as ISO strings, no empty fields)."""
        return self.model_dump(mode="json", exclude_none=True)


def content_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "id"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def normalised_text(text: str) -> str:
    """For duplicate detection: NFKC, lower case, without whitespace and punctuation."""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", text).lower())


def pydantic_errors(exc) -> list[str]:
    out = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        out.append(f"{loc}: {msg}" if loc else msg)
    return out
