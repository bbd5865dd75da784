"""Question formats: one module per format, each with `read(data: bytes, *, category=...) -> ImportReport`
and `write(questions) -> bytes`, registered here (the plugin-folder pattern: one contract, one round-trip
test over all of them). Every reader produces the interchange schema (services.interchange.QuestionIn)
and reports errors with the line (or row) and the reason; nothing here touches the database."""
from __future__ import annotations

from services.formats import aiken, csvfmt, gift, moodlexml, xlsx, yamlfmt
from services.formats.base import ImportIssue, ImportReport, ParsedQuestion, validate

FORMATS = {
    "gift": gift,
    "aiken": aiken,
    "moodlexml": moodlexml,
    "yaml": yamlfmt,
    "xlsx": xlsx,
    "csv": csvfmt,
}
# suffix → format, for --format auto
SUFFIXES = {".gift": "gift", ".txt": None, ".xml": "moodlexml", ".yaml": "yaml", ".yml": "yaml", ".xlsx": "xlsx",
            ".csv": "csv"}


def detect(name: str, data: bytes) -> str:
    """The format of a file from its name, else from its first bytes."""
    lower = name.lower()
    for suffix, fmt in SUFFIXES.items():
        if lower.endswith(suffix) and fmt:
            return fmt
    if data[:2] == b"PK":
        return "xlsx"
    head = data[:4096].decode("utf-8-sig", errors="replace").lstrip()
    if head.startswith(("<?xml", "<quiz")):
        return "moodlexml"
    if lower.endswith(".gift.txt") or "::" in head or "{" in head:
        return "gift"
    if "ANSWER:" in head.upper():
        return "aiken"
    return "yaml"


def read(data: bytes, *, fmt: str = "auto", name: str = "", category: str | None = None) -> ImportReport:
    fmt = detect(name, data) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        report = ImportReport(format=fmt)
        report.errors.append(ImportIssue(0, f"unknown format {fmt!r} (known: {', '.join(FORMATS)})"))
        return report
    return FORMATS[fmt].read(data, category=category)


__all__ = ["FORMATS", "ImportIssue", "ImportReport", "ParsedQuestion", "detect", "read", "validate"]
