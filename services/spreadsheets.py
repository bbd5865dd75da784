"""The one writer for every spreadsheet we hand out (.xlsx and .csv).

User-supplied strings are always stored as text, never as formulas (design §3, security baseline):
a string starting with = + - @, a tab or a carriage return (what Excel, LibreOffice and WPS would
read as a formula or a DDE call) is written as an explicit string cell with Excel's "quote prefix"
style in .xlsx, so the text stays exactly as entered and editing the cell keeps it text; in .csv,
where a cell has no type, it is prefixed with an apostrophe (the OWASP rule for CSV injection).
Characters that XML cannot carry (NUL and other C0 controls) are replaced by U+FFFD instead of
crashing the export. Aware datetimes are written in the city's local time.

Usage:
    data = table_xlsx(columns=[Column("用户名", width=16), Column("学时", number_format="0.00")],
                      rows=[("li", 12.5)], sheet="学时", title_rows=["学时统计 · 2026年"])
"""
from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from models.db import LOCAL_TZ

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")

_TITLE_FONT = Font(bold=True, size=14)
_SUBTITLE_FONT = Font(size=10, color="555555")
_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="1F5FA8")
_HEADER_BORDER = Border(bottom=Side(style="thin", color="444444"))
_HEADER_ALIGN = Alignment(horizontal="center", vertical="center", wrap_text=True)


@dataclass
class Column:
    """One column: its heading, width in characters (None = from the heading and the first rows)
    and an Excel number format for numbers (e.g. "0.00", "0.0%", "yyyy-mm-dd hh:mm")."""
    heading: str
    width: float | None = None
    number_format: str | None = None


@dataclass
class Sheet:
    name: str
    columns: Sequence[Column | str] = ()
    rows: Iterable[Sequence[Any]] = ()
    title_rows: Sequence[str] = ()      # above the header: the first one large and bold
    freeze_header: bool = True
    auto_filter: bool = False


def is_formula_like(value: str) -> bool:
    return value.startswith(FORMULA_START)


def _clean(value: str) -> str:
    return _XML_ILLEGAL.sub("\ufffd", value)


def _plain(value: Any) -> Any:
    """numpy/pandas scalars to Python, NaN/NaT to empty, aware datetimes to local naive ones
    (Excel has no time zones)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if type(value).__name__ in ("NaTType", "NAType"):   # pandas' missing values
        return None
    if hasattr(value, "to_pydatetime"):          # pandas Timestamp
        value = value.to_pydatetime()
    elif hasattr(value, "item"):                 # numpy scalar
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(LOCAL_TZ).replace(tzinfo=None)
    return value


def _display_len(value: Any) -> int:
    text = str(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)   # CJK characters are about two wide


def _sheet_name(name: str) -> str:
    return (_SHEET_NAME_BAD.sub("_", _clean(name)) or "Sheet")[:31]


def _text_cell(ws, value: str, *, font: Font | None = None):
    cell = WriteOnlyCell(ws, value=None)
    cell.value = value          # may bind as a formula ...
    cell.data_type = "s"        # ... never: always a string
    if is_formula_like(value):
        cell.quotePrefix = True  # Excel keeps it text when the cell is edited
    if font is not None:
        cell.font = font
    return cell


def _write_sheet(wb: Workbook, sheet: Sheet) -> None:
    ws = wb.create_sheet(_sheet_name(sheet.name))
    cols = [c if isinstance(c, Column) else Column(str(c)) for c in sheet.columns]
    rows = iter(sheet.rows)
    # widths must be set before the first row in write-only mode: look ahead at the first rows
    head: list[list[Any]] = []
    for row in rows:
        head.append([_plain(v) for v in row])
        if len(head) >= 200:
            break
    ncols = max([len(cols)] + [len(r) for r in head]) if (cols or head) else 0
    for i in range(ncols):
        col = cols[i] if i < len(cols) else None
        width = col.width if col and col.width else None
        if width is None:
            sample = [_display_len(col.heading) if col else 0] + [_display_len(r[i]) for r in head
                                                                  if i < len(r) and r[i] is not None]
            width = min(60, max(8, max(sample) + 2))
        ws.column_dimensions[get_column_letter(i + 1)].width = width
    header_row = len(sheet.title_rows) + (1 if sheet.title_rows else 0) + (1 if cols else 0)
    if sheet.freeze_header and cols:
        ws.freeze_panes = f"A{header_row + 1}"
    if sheet.auto_filter and cols:
        ws.auto_filter.ref = f"A{header_row}:{get_column_letter(len(cols))}{header_row}"
    for i, line in enumerate(sheet.title_rows):
        ws.append([_text_cell(ws, _clean(str(line)), font=_TITLE_FONT if i == 0 else _SUBTITLE_FONT)])
    if sheet.title_rows:
        ws.append([])
    if cols:
        cells = []
        for c in cols:
            cell = _text_cell(ws, _clean(c.heading), font=_HEADER_FONT)
            cell.fill, cell.border, cell.alignment = _HEADER_FILL, _HEADER_BORDER, _HEADER_ALIGN
            cells.append(cell)
        ws.append(cells)
    formats = [c.number_format for c in cols]

    def emit(values: list[Any]) -> None:
        out = []
        for i, v in enumerate(values):
            if isinstance(v, str):
                out.append(_text_cell(ws, _clean(v)))
            elif (isinstance(v, (int, float, datetime, date)) and not isinstance(v, bool)
                  and i < len(formats) and formats[i]):
                cell = WriteOnlyCell(ws, value=v)
                cell.number_format = formats[i]
                out.append(cell)
            elif v is None or isinstance(v, (bool, int, float, datetime, date)):
                out.append(v)
            else:                                   # anything else is shown as its text
                out.append(_text_cell(ws, _clean(str(v))))
        ws.append(out)
    for values in head:
        emit(values)
    for row in rows:
        emit([_plain(v) for v in row])


def workbook_xlsx(*sheets: Sheet) -> bytes:
    """A workbook of one or more sheets, as .xlsx bytes (write-only: fine for 20,000+ rows)."""
    wb = Workbook(write_only=True)
    for sheet in sheets:
        _write_sheet(wb, sheet)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def table_xlsx(*, columns: Sequence[Column | str], rows: Iterable[Sequence[Any]], sheet: str = "Sheet1",
               title_rows: Sequence[str] = (), auto_filter: bool = True) -> bytes:
    """One table as an .xlsx: optional title rows, a formatted header, the rows."""
    return workbook_xlsx(Sheet(sheet, columns, rows, title_rows, auto_filter=auto_filter))


def csv_cell(value: Any) -> str:
    """A value as a CSV cell: formula-like strings get a leading apostrophe."""
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value)
    return "'" + text if is_formula_like(text) else text


def table_csv(*, columns: Sequence[Column | str], rows: Iterable[Sequence[Any]], title_rows: Sequence[str] = ()) -> bytes:
    """One table as UTF-8 CSV with a BOM (so Excel in a Chinese locale opens it correctly), CRLF."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    for line in title_rows:
        w.writerow([csv_cell(line)])
    if title_rows:
        w.writerow([])
    if columns:
        w.writerow([csv_cell(c.heading if isinstance(c, Column) else c) for c in columns])
    for row in rows:
        w.writerow([csv_cell(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
