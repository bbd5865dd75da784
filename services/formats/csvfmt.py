"""CSV questions: the same columns as the Excel template (services/formats/table.py); UTF-8 (with or
without BOM) or GB18030 as saved by Excel in China. Written with the safe writer's CSV rule."""
from __future__ import annotations

import csv
import io
from typing import Any

from services.formats import table
from services.formats.base import MAX_QUESTIONS, ImportIssue, ImportReport, decode

NOT_CARRIED = table.NOT_CARRIED
MAX_CELL = 100_000


def read(data: bytes, *, category: str | None = None) -> ImportReport:
    report = ImportReport(format="csv")
    text = decode(data, report)
    if text is None:
        return report
    csv.field_size_limit(MAX_CELL * 2)
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
        if header is None:
            report.errors.append(ImportIssue(1, "the file is empty"))
            return report
        body = []
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
        return report
    table.read_rows(report, header, body, category)
    return report


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
