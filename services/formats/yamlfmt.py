"""Our own YAML (the question_bank format, design.md §4): a list of interchange records. Carries every field."""
from __future__ import annotations

from typing import Any

import yaml

from services.formats.base import (
    DEFAULT_CATEGORY,
    MAX_QUESTIONS,
    ImportIssue,
    ImportReport,
    decode,
    validate,
)

NOT_CARRIED: tuple[str, ...] = ()


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """The safe loader (libyaml's when installed: ten times faster) remembering the line where each mapping
    starts, for error messages."""


def _mapping_with_line(loader, node):
    value = loader.construct_mapping(node, deep=True)
    value["__line__"] = node.start_mark.line + 1
    return value


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def read(data: bytes, *, category: str | None = None) -> ImportReport:
    report = ImportReport(format="yaml")
    text = decode(data, report)
    if text is None:
        return report
    try:
        items = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        report.errors.append(ImportIssue(mark.line + 1 if mark else 0, f"YAML error: {getattr(exc, 'problem', exc)}"))
        return report
    if isinstance(items, dict) and "questions" in items:
        items = items["questions"]
    if not isinstance(items, list):
        report.errors.append(ImportIssue(1, "the file must be a YAML list of questions"))
        return report
    for i, item in enumerate(items[:MAX_QUESTIONS], start=1):
        if not isinstance(item, dict):
            report.errors.append(ImportIssue(0, f"item {i} is not a question (a mapping)"))
            continue
        line = item.pop("__line__", 0)
        _strip_lines(item)
        if category and not item.get("category"):
            item["category"] = category
        item.setdefault("category", DEFAULT_CATEGORY)
        validate(report, line, item)
    if len(items) > MAX_QUESTIONS:
        report.errors.append(ImportIssue(0, f"at most {MAX_QUESTIONS} questions per file"))
    return report


def _strip_lines(value: Any) -> None:
    if isinstance(value, dict):
        value.pop("__line__", None)
        for v in value.values():
            _strip_lines(v)
    elif isinstance(value, list):
        for v in value:
            _strip_lines(v)


def write(questions: list[dict[str, Any]]) -> bytes:
    return yaml.dump(questions, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), allow_unicode=True,
                     sort_keys=False, width=120).encode("utf-8")
