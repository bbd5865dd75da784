"""Excel (.xlsx) questions: the template's one sheet with Chinese headings (services/formats/table.py).
Read with openpyxl (which parses through defusedxml when installed); written with the one safe writer
(services/spreadsheets.py: user text is never a formula)."""
from __future__ import annotations

import io
import zipfile
from typing import Any

from services.formats import table
from services.formats.base import (
    MAX_FILE_BYTES,
    MAX_QUESTIONS,
    ImportIssue,
    ImportReport,
)

NOT_CARRIED = table.NOT_CARRIED


def read(data: bytes, *, category: str | None = None) -> ImportReport:
    report = ImportReport(format="xlsx")
    if len(data) > MAX_FILE_BYTES:
        report.errors.append(ImportIssue(0, "file larger than 20 MB"))
        return report
    from openpyxl import load_workbook
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        report.errors.append(ImportIssue(0, f"not a readable .xlsx file ({type(exc).__name__})"))
        return report
    try:
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            report.errors.append(ImportIssue(1, "the sheet is empty"))
            return report
        body = []
        for n, row in enumerate(rows, start=2):
            if len(body) >= MAX_QUESTIONS:
                report.errors.append(ImportIssue(n, f"at most {MAX_QUESTIONS} questions per file"))
                break
            body.append((n, list(row)))
        table.read_rows(report, list(header), body, category)
    finally:
        wb.close()
    return report


def write(questions: list[dict[str, Any]]) -> bytes:
    from services.spreadsheets import Column, table_xlsx
    heads = table.headings_for(questions)
    wide = {"题干": 50, "解析": 40, "分类": 20, "标签": 16}
    cols = [Column(h, width=wide.get(h, 16 if h.startswith("选项") else 10)) for h in heads]
    return table_xlsx(columns=cols, rows=[table.row_for(q, heads) for q in questions], sheet="题目", auto_filter=False)


def template() -> bytes:
    """The downloadable template: the headings and one worked example row."""
    from services.spreadsheets import Column, table_xlsx
    cols = [Column(h, width=50 if h == "题干" else 14) for h in table.TEMPLATE_HEADINGS]
    return table_xlsx(columns=cols, rows=table.HELP_ROWS, sheet="题目", auto_filter=False)
