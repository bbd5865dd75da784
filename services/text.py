"""Checks every piece of user-entered text goes through (forms, imports, CLI): no control
characters (a NUL once crashed every HR page), newlines only where a field is multi-line."""
from __future__ import annotations

import re

from services.errors import ValidationFailed

# C0 and C1 control characters, DEL, and the Unicode line/paragraph separators; TAB is refused too
# (it breaks TSV/CSV exports and is invisible in a name).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")   # includes \t \n \r
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")   # \t \n \r allowed


def control_chars(value: str, *, multiline: bool = False) -> list[str]:
    """The control characters in value, as U+XXXX codes (empty when clean)."""
    pattern = _CONTROL_MULTILINE if multiline else _CONTROL
    return sorted({f"U+{ord(ch):04X}" for ch in pattern.findall(value)})


def clean_text(value: str | None, *, field: str, multiline: bool = False, max_length: int | None = None,
               row: int | None = None) -> str | None:
    """Return value unchanged, or raise ValidationFailed naming the field (and the row of an import)
    when it holds control characters or is too long. The offending value is never echoed whole."""
    if value is None:
        return None
    bad = control_chars(value, multiline=multiline)
    where = {"field": field} | ({"row": row} if row is not None else {})
    if bad:
        raise ValidationFailed("error.control_chars", chars=", ".join(bad), **where)
    if max_length is not None and len(value) > max_length:
        raise ValidationFailed("error.field_too_long", max=max_length, length=len(value), **where)
    return value


def preview(value: str, limit: int = 40) -> str:
    """A short, safe excerpt of user input for an error message."""
    value = _CONTROL.sub("?", value)
    return value if len(value) <= limit else value[:limit] + "…"
