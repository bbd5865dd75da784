"""Moodle XML, the format Moodle exports. Parsed with defusedxml (no entities, no DTDs, no external
references). Category records switch the category (`$course$/` context prefix dropped); HTML texts become
Markdown-safe text. Carries title, text, options with feedback, fractions, general feedback, tags, points
(defaultgrade); not difficulty, usage, legal_basis or an essay rubric (NOT_CARRIED)."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from services.formats.base import (
    DEFAULT_CATEGORY,
    MAX_QUESTIONS,
    ImportIssue,
    ImportReport,
    html_to_text,
    markdown_to_html,
    strip_context,
    validate,
)

NOT_CARRIED = ("difficulty", "usage", "legal_basis", "rubric")
_TYPES = {"multichoice": None, "truefalse": "true_false", "shortanswer": "fill_blank", "numerical": "numerical",
          "matching": "matching", "essay": "essay"}


def _txt(el: ET.Element | None, path: str = "text") -> str:
    if el is None:
        return ""
    node = el.find(path) if path else el
    return (node.text or "") if node is not None else ""


def _rich(el: ET.Element | None) -> str:
    """A Moodle text element (<questiontext format=..><text>…</text>) as our text."""
    if el is None:
        return ""
    raw = _txt(el).strip()
    fmt = el.get("format", "html")
    return html_to_text(raw) if fmt in ("html", "moodle_auto_format") else raw


def _question_lines(data: bytes) -> list[int]:
    """Line where each <question …> element starts (ElementTree keeps no line numbers), in one pass."""
    lines, pos, line, last = [], data.find(b"<question"), 1, 0
    while pos >= 0:
        line += data.count(b"\n", last, pos)
        last = pos
        lines.append(line)
        pos = data.find(b"<question", pos + 1)
    return lines


def read(data: bytes, *, category: str | None = None) -> ImportReport:
    report = ImportReport(format="moodlexml")
    try:
        root = SafeET.fromstring(data)
    except DefusedXmlException as exc:
        report.errors.append(ImportIssue(0, f"XML refused: {type(exc).__name__} (entities and DTDs are not allowed)"))
        return report
    except ET.ParseError as exc:
        report.errors.append(ImportIssue(exc.position[0] if exc.position else 0, f"XML error: {exc}"))
        return report
    if root.tag != "quiz":
        report.errors.append(ImportIssue(1, f"expected a <quiz> root element, found <{root.tag}>"))
        return report
    current = category or DEFAULT_CATEGORY
    lines = _question_lines(data)
    for i, qel in enumerate(root.findall("question")[:MAX_QUESTIONS]):
        line = lines[i] if i < len(lines) else 0
        qtype = qel.get("type", "")
        if qtype == "category":
            path = strip_context(_txt(qel.find("category")))
            current = path or current
            continue
        if qtype not in _TYPES:
            report.errors.append(ImportIssue(line, f"question type {qtype!r} is not supported"))
            continue
        try:
            q = _question(report, line, qel, qtype, current)
        except ValueError as exc:
            report.errors.append(ImportIssue(line, str(exc)))
            continue
        validate(report, line, {k: v for k, v in q.items() if v is not None})
    if not report.questions and not report.errors:
        report.errors.append(ImportIssue(0, "no questions found"))
    return report


def _fraction(a: ET.Element) -> float:
    try:
        return round(float(a.get("fraction", "0")) / 100, 7)
    except ValueError:
        raise ValueError(f"answer fraction {a.get('fraction')!r} is not a number") from None


def _question(report: ImportReport, line: int, qel: ET.Element, qtype: str, category: str) -> dict[str, Any]:
    q: dict[str, Any] = {"title": _txt(qel.find("name")).strip() or None, "text": _rich(qel.find("questiontext")),
                         "category": category, "explanation": _rich(qel.find("generalfeedback")) or None}
    q["text"] = q["text"] or q["title"] or ""
    if q["title"] and " ".join(q["text"].split()).startswith(" ".join(q["title"].split())):
        q["title"] = None   # Moodle needs a name; a name that is only the start of the text is no title of ours
    idnumber = (qel.findtext("idnumber") or "").strip()
    if idnumber and re.match(r"^[a-z0-9][a-z0-9-]{1,62}$", idnumber):
        q["id"] = idnumber
    tags = [t.text.strip() for t in qel.findall("tags/tag/text") if t.text and t.text.strip()]
    if tags:
        q["tags"] = tags
    grade = qel.findtext("defaultgrade")
    if grade:
        try:
            if float(grade) > 0:
                q["points"] = float(grade)
        except ValueError:
            raise ValueError(f"defaultgrade {grade!r} is not a number") from None
    answers = qel.findall("answer")
    if qtype == "multichoice":
        single = (qel.findtext("single") or "true").strip().lower() in ("true", "1")
        q["type"] = "single_choice" if single else "multiple_choice"
        q["options"] = [{"text": _rich(a), "fraction": _fraction(a), "feedback": _rich(a.find("feedback")) or None}
                        for a in answers]
    elif qtype == "truefalse":
        q["type"] = "true_false"
        key = [a for a in answers if _fraction(a) >= 0.999]
        if len(key) != 1:
            raise ValueError("true/false needs exactly one answer with fraction 100")
        q["answer"] = _txt(key[0]).strip().lower() in ("true", "1", "正确", "对")
    elif qtype == "shortanswer":
        q["type"] = "fill_blank"
        q["answers"] = [{"text": _txt(a).strip(), "fraction": _fraction(a), "feedback": _rich(a.find("feedback")) or None}
                        for a in answers]
    elif qtype == "numerical":
        q["type"] = "numerical"
        out = []
        for a in answers:
            value = _txt(a).strip()
            if value == "*":
                report.warnings.append(ImportIssue(line, "numerical: the catch-all answer * is not kept"))
                continue
            try:
                out.append({"value": float(value), "tolerance": abs(float(a.findtext("tolerance") or 0)),
                            "fraction": _fraction(a), "feedback": _rich(a.find("feedback")) or None})
            except ValueError:
                raise ValueError(f"numerical answer {value!r} is not a number") from None
        q["answers"] = out
    elif qtype == "matching":
        q["type"] = "matching"
        q["pairs"] = [{"left": _rich(s), "right": _txt(s, "answer/text").strip()} for s in qel.findall("subquestion")]
    elif qtype == "essay":
        q["type"] = "essay"
    return q


# ---- writer ----------------------------------------------------------------------------------

def _text_el(parent: ET.Element, tag: str, value: str, fmt: str = "html", **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {"format": fmt, **attrs} if fmt else attrs)
    ET.SubElement(el, "text").text = value
    return el


def write(questions: list[dict[str, Any]]) -> bytes:
    quiz = ET.Element("quiz")
    category = None
    for q in questions:
        if q.get("category") != category:
            category = q.get("category")
            c = ET.SubElement(quiz, "question", {"type": "category"})
            ET.SubElement(ET.SubElement(c, "category"), "text").text = f"$course$/{category}"
        t = q["type"]
        mtype = {"single_choice": "multichoice", "multiple_choice": "multichoice", "true_false": "truefalse",
                 "fill_blank": "shortanswer", "numerical": "numerical", "matching": "matching", "essay": "essay"}[t]
        el = ET.SubElement(quiz, "question", {"type": mtype})
        ET.SubElement(ET.SubElement(el, "name"), "text").text = q.get("title") or q["text"][:60]
        _text_el(el, "questiontext", markdown_to_html(q["text"]))
        _text_el(el, "generalfeedback", markdown_to_html(q["explanation"]) if q.get("explanation") else "")
        ET.SubElement(el, "defaultgrade").text = f"{q.get('points', 1):.7f}"
        if q.get("id"):
            ET.SubElement(el, "idnumber").text = q["id"]
        if t in ("single_choice", "multiple_choice"):
            ET.SubElement(el, "single").text = "true" if t == "single_choice" else "false"
            ET.SubElement(el, "shuffleanswers").text = "true"
            for o in q["options"]:
                a = _text_el(el, "answer", markdown_to_html(o["text"]), fraction=f"{o['fraction'] * 100:.10g}")
                _text_el(a, "feedback", markdown_to_html(o["feedback"]) if o.get("feedback") else "")
        elif t == "true_false":
            for value in (True, False):
                a = _text_el(el, "answer", "true" if value else "false", fmt="moodle_auto_format",
                             fraction="100" if q["answer"] == value else "0")
                _text_el(a, "feedback", "")
        elif t == "fill_blank":
            for ans in q["answers"]:
                a = _text_el(el, "answer", ans["text"], fmt="moodle_auto_format", fraction=f"{ans['fraction'] * 100:.10g}")
                _text_el(a, "feedback", markdown_to_html(ans["feedback"]) if ans.get("feedback") else "")
        elif t == "numerical":
            for ans in q["answers"]:
                a = _text_el(el, "answer", f"{ans['value']:g}", fmt="moodle_auto_format", fraction=f"{ans['fraction'] * 100:.10g}")
                ET.SubElement(a, "tolerance").text = f"{ans.get('tolerance', 0):g}"
                _text_el(a, "feedback", markdown_to_html(ans["feedback"]) if ans.get("feedback") else "")
        elif t == "matching":
            for p in q["pairs"]:
                s = _text_el(el, "subquestion", markdown_to_html(p["left"]) if p["left"] else "")
                ET.SubElement(ET.SubElement(s, "answer"), "text").text = p["right"]
        if q.get("tags"):
            tags = ET.SubElement(el, "tags")
            for tag in q["tags"]:
                ET.SubElement(ET.SubElement(tags, "tag"), "text").text = tag
    ET.indent(quiz)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(quiz, encoding="utf-8") + b"\n"
