"""Scoring one response against a question record (interchange format). Moodle semantics:
fractions add up, and a score never goes below 0 or above the item's points."""
from __future__ import annotations

import re
import unicodedata
from typing import Any


def _wildcard(pattern: str) -> re.Pattern:
    """Moodle short-answer matching: '*' matches anything, every other character is literal."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def _norm(s: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", str(s)).strip().lower().split())


def valid_response(record: dict[str, Any], response: Any) -> bool:
    """Does a response have the shape its question type expects? (Saved answers are checked first.)"""
    if response is None:
        return True
    t = record["type"]
    if t == "single_choice":
        return isinstance(response, int) and not isinstance(response, bool) and 0 <= response < len(record["options"])
    if t == "multiple_choice":
        return isinstance(response, list) and all(isinstance(i, int) and not isinstance(i, bool)
                                                  and 0 <= i < len(record["options"]) for i in response)
    if t == "true_false":
        return isinstance(response, bool)
    if t == "numerical" and isinstance(response, (int, float)) and not isinstance(response, bool):
        return True
    if t in ("fill_blank", "numerical", "essay"):
        return isinstance(response, str) and len(response) <= 20_000
    if t == "matching":
        return isinstance(response, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in response.items())
    return False


def fraction(record: dict[str, Any], response: Any) -> float | None:
    """Fraction 0..1 earned by `response`; None when it needs a human (an answered essay: "pending
    grading", never a silent 0). Unanswered items, essays included, earn 0; malformed responses earn 0."""
    if record["type"] != "essay" and not valid_response(record, response):
        return 0.0
    t = record["type"]
    if response is None or response == [] or (isinstance(response, str) and not response.strip()):
        return 0.0
    if t == "essay":
        return None if isinstance(response, str) else 0.0
    if t == "single_choice":
        opts = record["options"]
        return max(0.0, opts[int(response)]["fraction"]) if 0 <= int(response) < len(opts) else 0.0
    if t == "multiple_choice":
        opts = record["options"]
        total = sum(opts[i]["fraction"] for i in {int(i) for i in response} if 0 <= i < len(opts))
        # keys written as thirds (0.3333333 ×3) add up to 0.9999999: count that as full marks
        return 1.0 if total > 0.99999 else min(1.0, max(0.0, total))
    if t == "true_false":
        return 1.0 if bool(response) == bool(record["answer"]) else 0.0
    if t == "fill_blank":
        given = _norm(response)
        best = 0.0
        for a in record["answers"]:
            pattern = _norm(a["text"])
            if given == pattern or ("*" in pattern and _wildcard(pattern).fullmatch(given)):
                best = max(best, a["fraction"])
        return min(1.0, max(0.0, best))
    if t == "numerical":
        try:   # full-width digits and point (１２．５) as typed on a Chinese keyboard
            x = float(unicodedata.normalize("NFKC", str(response)).strip().replace(",", ""))
        except ValueError:
            return 0.0
        best = 0.0
        for a in record["answers"]:
            if abs(x - a["value"]) <= a.get("tolerance", 0) + 1e-12:
                best = max(best, a["fraction"])
        return min(1.0, max(0.0, best))
    if t == "matching":
        real = [p for p in record["pairs"] if p["left"].strip()]
        if not isinstance(response, dict):
            return 0.0
        right = sum(1 for p in real if response.get(p["left"]) == p["right"])
        return right / len(real)
    raise ValueError(f"unknown question type {t}")


def score(record: dict[str, Any], response: Any, points: float) -> float | None:
    f = fraction(record, response)
    # round first, then clamp: rounding 1.46875 to 4 places would give 1.4688, above the points
    return None if f is None else min(points, max(0.0, round(f * points, 4)))


def correct_response(record: dict[str, Any]) -> Any:
    """The keyed answer, for review pages after the review policy allows it."""
    t = record["type"]
    if t == "single_choice":
        return next(i for i, o in enumerate(record["options"]) if o["fraction"] >= 1.0)
    if t == "multiple_choice":
        return [i for i, o in enumerate(record["options"]) if o["fraction"] > 0]
    if t == "true_false":
        return record["answer"]
    if t == "fill_blank":
        return next(a["text"] for a in record["answers"] if a["fraction"] >= 1.0)
    if t == "numerical":
        a = next(a for a in record["answers"] if a["fraction"] >= 1.0)
        return a["value"]
    if t == "matching":
        return {p["left"]: p["right"] for p in record["pairs"] if p["left"].strip()}
    return None
