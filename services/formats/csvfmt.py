"""CSV questions: the same columns as the Excel template (services/formats/table.py); UTF-8 (with or
without BOM) or GB18030 as saved by Excel in China. Written with the safe writer's CSV rule."""
from __future__ import annotations

import csv
import io
import threading
from typing import Any

from services.formats import table
from services.formats.base import MAX_QUESTIONS, ImportIssue, ImportReport, decode

NOT_CARRIED = table.NOT_CARRIED
MAX_CELL = 100_000
_LIMIT_LOCK = threading.Lock()


def read(data: bytes, *, category: str | None = None) -> ImportReport:
    report = ImportReport(format="csv")
    text = decode(data, report)
    if text is None:
        return report
    with _LIMIT_LOCK:   # the csv module's field limit is process-wide: lift it for this read only
        old = csv.field_size_limit()
        csv.field_size_limit(max(old, MAX_CELL * 2))
        try:
            header, body = _rows(report, text)
        finally:
            csv.field_size_limit(old)
    if header is None:
        return report
    table.read_rows(report, header, body, category)
    return report


def _rows(report: ImportReport, text: str) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    reader = csv.reader(io.StringIO(text))
    body: list[tuple[int, list[str]]] = []
    try:
        header = next(reader, None)
        if header is None:
            report.errors.append(ImportIssue(1, "the file is empty"))
            return None, body
        for row in reader:
            line = reader.line_num
            if len(body) >= MAX_QUESTIONS:
                report.errors.append(ImportIssue(line, f"at most {MAX_QUESTIONS} questions per file"))
                break
            if any(len(c) > MAX_CELL for c in row):
                report.errors.append(ImportIssue(line, f"a cell is longer than {MAX_CELL} characters"))
                continue
            body.append((line, [_unquote(c) for c in row]))
    except csv.Error as exc:
        report.errors.append(ImportIssue(reader.line_num, f"CSV error: {str(exc)[:100]}"))
        return None, body
    return header, body


def _unquote(cell: str) -> str:
    # our writer prefixes formula-like text with an apostrophe; take it off again
    return cell[1:] if cell.startswith("'") and cell[1:2] in ("=", "+", "-", "@", "\t", "\r") else cell


def write(questions: list[dict[str, Any]]) -> bytes:
    from services.spreadsheets import csv_cell
    heads = table.headings_for(questions)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(heads)
    for q in questions:
        w.writerow([csv_cell(v) for v in table.row_for(q, heads)])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
