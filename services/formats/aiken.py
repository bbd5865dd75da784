"""Aiken: a question on one line, choices `A)` or `A.` on the following lines, then `ANSWER: X`;
a blank line between questions. Single choice only (as in Moodle). Errors follow Moodle's wording and
line numbers (tests/fixtures/moodle/aiken_expected.json)."""
from __future__ import annotations

import re
from typing import Any

from services.formats.base import (
    DEFAULT_CATEGORY,
    ImportIssue,
    ImportReport,
    decode,
    validate,
)

NOT_CARRIED = ("title", "explanation", "feedback", "tags", "difficulty", "points", "usage", "legal_basis",
               "every type but single choice")
_CHOICE = re.compile(r"^([A-Z])[.)]\s*(.*)$")
_ANSWER = re.compile(r"^ANSWER:\s*(.*)$", re.IGNORECASE)


def read(data: bytes, *, category: str | None = None) -> ImportReport:
    report = ImportReport(format="aiken")
    text = decode(data, report)
    if text is None:
        return report
    category = category or DEFAULT_CATEGORY
    question: dict[str, Any] | None = None   # {"text", "line", "options": [(letter, text)]}
    for n, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        choice, answer = _CHOICE.match(line), _ANSWER.match(line)
        if answer:
            if question is None:
                report.errors.append(ImportIssue(n, f"Question not started on line {n}"))
                continue
            letters = [c[0] for c in question["options"]]
            key = answer.group(1).strip().upper()
            if len(letters) < 2:
                report.errors.append(ImportIssue(n, f"Error importing question {question['text']}: "
                                                    f"Question must have at least 2 answers on line {n}"))
            elif key not in letters:
                report.errors.append(ImportIssue(n, f"Error importing question {question['text']}: "
                                                    f"ANSWER {key!r} is not one of the choices {', '.join(letters)} on line {n}"))
            else:
                validate(report, question["line"], {
                    "type": "single_choice", "text": question["text"], "category": category,
                    "options": [{"text": t, "fraction": 1.0 if letter == key else 0.0} for letter, t in question["options"]]})
            question = None
        elif choice and question is not None:
            question["options"].append((choice.group(1), choice.group(2).strip()))
        elif choice:
            report.errors.append(ImportIssue(n, f"Question not started on line {n}"))
        else:
            if question is not None and question["options"]:
                report.errors.append(ImportIssue(n, f"Error importing question {question['text']}: "
                                                    f"Question not completed before next question start on line {n}"))
            elif question is not None:   # a question text over several lines
                question["text"] += "\n" + line
                continue
            question = {"text": line, "line": n, "options": []}
    if question is not None:
        report.errors.append(ImportIssue(question["line"], f"Error importing question {question['text']}: "
                                                           "Question not completed: ANSWER: missing at the end of the file"))
    if not report.questions and not report.errors:
        report.errors.append(ImportIssue(0, "no questions found"))
    return report


def write(questions: list[dict[str, Any]]) -> bytes:
    """Single-choice questions only (Aiken has nothing else); text flattened to one line."""
    out = []
    for q in questions:
        if q["type"] != "single_choice" or len(q["options"]) > 26:
            continue
        lines = [" ".join(q["text"].split())]
        key = "A"
        for i, o in enumerate(q["options"]):
            letter = chr(ord("A") + i)
            lines.append(f"{letter}) {' '.join(o['text'].split())}")
            if o["fraction"] > 0.99:
                key = letter
        lines.append(f"ANSWER: {key}")
        out.append("\n".join(lines) + "\n")
    return "\n".join(out).encode("utf-8")
