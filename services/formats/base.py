"""What every format reader returns: the questions it understood and, per line or row, what it did not."""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from pydantic import ValidationError

from services.interchange import QuestionIn, pydantic_errors
from services.text import control_chars

DEFAULT_CATEGORY = "导入题目"
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_QUESTIONS = 10_000


@dataclass
class ImportIssue:
    line: int            # 1-based line (text formats) or row (spreadsheets); 0 = the file as a whole
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "message": self.message}


@dataclass
class ParsedQuestion:
    line: int
    question: QuestionIn


@dataclass
class ImportReport:
    format: str
    questions: list[ParsedQuestion] = field(default_factory=list)
    errors: list[ImportIssue] = field(default_factory=list)
    warnings: list[ImportIssue] = field(default_factory=list)   # kept the question, lost a detail (said which)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_json(self) -> dict[str, Any]:
        """The CLI contract: {"ok", "format", "count", "questions", "errors"} (+ "warnings")."""
        return {"ok": self.ok, "format": self.format, "count": len(self.questions),
                "questions": [p.question.record() for p in self.questions],
                "errors": [e.as_json() for e in self.errors],
                "warnings": [w.as_json() for w in self.warnings]}


def validate(report: ImportReport, line: int, raw: dict[str, Any]) -> None:
    """Validate one question dict against the interchange schema; add it or its errors to the report."""
    bad = _control_fields(raw)
    if bad:
        report.errors.append(ImportIssue(line, f"control characters in {', '.join(bad)}"))
        return
    try:
        report.questions.append(ParsedQuestion(line, QuestionIn.model_validate(raw)))
    except ValidationError as exc:
        for msg in pydantic_errors(exc):
            report.errors.append(ImportIssue(line, msg))


def _control_fields(value: Any, path: str = "") -> list[str]:
    """Paths of text fields holding control characters (newlines allowed: texts are multi-line)."""
    out: list[str] = []
    if isinstance(value, str):
        if control_chars(value, multiline=True):
            out.append(path or "text")
    elif isinstance(value, dict):
        for k, v in value.items():
            out += _control_fields(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _control_fields(v, f"{path}[{i}]")
    return out


def decode(data: bytes, report: ImportReport) -> str | None:
    if len(data) > MAX_FILE_BYTES:
        report.errors.append(ImportIssue(0, f"file larger than {MAX_FILE_BYTES // (1024 * 1024)} MB"))
        return None
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc).replace("\r\n", "\n").replace("\r", "\n")
        except UnicodeDecodeError:
            continue
    report.errors.append(ImportIssue(0, "cannot decode the file: save it as UTF-8"))
    return None


class _HtmlToMarkdown(HTMLParser):
    """HTML question text → Markdown-safe text: bold/italic/line breaks/paragraphs/code kept, every other
    tag dropped (user text is never rendered as HTML)."""
    MAP = {"b": "**", "strong": "**", "i": "*", "em": "*", "code": "`"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.pre = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.MAP:
            self.out.append(self.MAP[tag])
        elif tag == "br":
            self.out.append("\n")
        elif tag in ("p", "div", "li", "tr") and self.out:
            self.out.append("\n\n" if tag in ("p", "div") else "\n")
        elif tag == "pre":
            self.pre += 1
            self.out.append("\n```\n")

    def handle_endtag(self, tag):
        if tag in self.MAP:
            self.out.append(self.MAP[tag])
        elif tag == "pre":
            self.pre -= 1
            self.out.append("\n```\n")

    def handle_data(self, data):
        self.out.append(data if self.pre else re.sub(r"[ \t]+", " ", data))


def html_to_text(value: str) -> str:
    parser = _HtmlToMarkdown()
    parser.feed(value)
    parser.close()
    text = "".join(parser.out)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def markdown_to_html(value: str) -> str:
    """For writers whose format holds HTML (Moodle XML): escaped text, paragraphs and line breaks."""
    paras = [p for p in value.split("\n\n") if p.strip()]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paras) or "<p></p>"


def strip_context(category: str) -> str:
    """Moodle category paths start with a context ($course$/, $system$/, $module$/ …): not ours."""
    parts = [p.strip() for p in category.split("/") if p.strip()]
    if parts and parts[0].startswith("$") and parts[0].endswith("$"):
        parts = parts[1:]
    return "/".join(parts)
