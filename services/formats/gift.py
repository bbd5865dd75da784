"""GIFT, Moodle's plain-text format (rules in tests/fixtures/moodle/SOURCE.md and Moodle's parser):
a blank line ends a question; `//` lines are comments (`[tag:x]`, `[id:y]` in them are kept);
`::title::`; the answer block runs from the first unescaped `{` to the next `}`; `$CATEGORY:` switches
the category; escapes `\\: \\# \\= \\{ \\} \\~ \\\\` and `\\n`.

GIFT cannot carry difficulty, points, usage, legal_basis or an essay rubric: the writer says so
(NOT_CARRIED) and the reader gives those fields their defaults."""
from __future__ import annotations

import re
from typing import Any

from services.formats.base import (
    DEFAULT_CATEGORY,
    MAX_QUESTIONS,
    ImportIssue,
    ImportReport,
    decode,
    html_to_text,
    strip_context,
    validate,
)

NOT_CARRIED = ("difficulty", "points", "usage", "legal_basis", "rubric")
_SPECIAL = "~=#{}:\\"
# While parsing, an escaped special becomes a private-use character of its own, so splitting on the
# unescaped ones is plain string work; _restore turns them back into the literal characters.
_PUA = {c: chr(0xE000 + i) for i, c in enumerate(_SPECIAL)}
_UNPUA = {v: k for k, v in _PUA.items()}


def _protect(s: str) -> str:
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n in _PUA:
                out.append(_PUA[n])
                i += 2
                continue
            if n == "n":
                out.append("\n")
                i += 2
                continue
        out.append(c)
        i += 1
    return "".join(out)


def _restore(s: str) -> str:
    return "".join(_UNPUA.get(c, c) for c in s)


def _text(raw: str) -> tuple[str, str]:
    """(text, format) from a GIFT text with an optional [html]/[moodle]/[plain]/[markdown] prefix."""
    raw = raw.strip()
    m = re.match(r"^\[(html|moodle|plain|markdown)\]", raw)
    fmt = "moodle"
    if m:
        fmt, raw = m.group(1), raw[m.end():]
    raw = _restore(raw).strip()
    return (html_to_text(raw) if fmt == "html" else raw), fmt


def _weight(s: str) -> tuple[float | None, str]:
    m = re.match(r"^\s*%(-?\d+(?:\.\d+)?)%", s)
    return (round(float(m.group(1)) / 100, 7), s[m.end():]) if m else (None, s)


def _split_feedback(s: str) -> tuple[str, str | None]:
    if "#" in s:
        a, fb = s.split("#", 1)
        return a, _text(fb)[0] or None
    return s, None


def _answers(block: str) -> list[tuple[str, str]]:
    """Split an answer block into (marker, body) at unescaped = and ~."""
    parts = re.split(r"([=~])", block)
    out, i = [], 1
    while i < len(parts):
        out.append((parts[i], parts[i + 1] if i + 1 < len(parts) else ""))
        i += 2
    return out


def _comment_meta(comments: list[str]) -> tuple[list[str], str | None]:
    text = "\n".join(c.lstrip()[2:] for c in comments).replace("\\]", _PUA["}"])   # \] inside a tag or id
    unesc = lambda v: v.strip().replace(_PUA["}"], "]")
    tags = [unesc(t) for t in re.findall(r"\[tag:([^\]\n]*)\]", text) if t.strip()]
    ids = re.findall(r"\[id:([^\]\n]*)\]", text)
    return tags, (unesc(ids[0]) if ids else None)


def read(data: bytes, *, category: str | None = None) -> ImportReport:
    report = ImportReport(format="gift")
    text = decode(data, report)
    if text is None:
        return report
    current_category = category or DEFAULT_CATEGORY
    block: list[tuple[int, str]] = []

    def flush() -> None:
        nonlocal current_category
        if not block:
            return
        comments = [ln for _, ln in block if ln.lstrip().startswith("//")]
        body_lines = [(n, ln) for n, ln in block if not ln.lstrip().startswith("//")]
        block.clear()
        rest = []
        for n, ln in body_lines:
            m = re.match(r"^\s*\$CATEGORY:\s*(.*)$", ln)
            if m:
                current_category = strip_context(m.group(1).strip()) or current_category
            else:
                rest.append((n, ln))
        if not rest:
            return
        if len(report.questions) + len(report.errors) >= MAX_QUESTIONS:
            return
        _parse_question(report, rest[0][0], "\n".join(ln for _, ln in rest), comments, current_category)

    for n, line in enumerate(text.split("\n"), start=1):
        if line.strip() == "":
            flush()
        else:
            block.append((n, line))
    flush()
    if not report.questions and not report.errors:
        report.errors.append(ImportIssue(0, "no questions found"))
    return report


def _parse_question(report: ImportReport, line: int, raw: str, comments: list[str], category: str) -> None:
    tags, idnumber = _comment_meta(comments)
    s = _protect(raw)
    title = None
    m = re.match(r"^\s*::(.*?)::", s, flags=re.DOTALL)
    if m:
        title = _restore(m.group(1)).strip() or None
        s = s[m.end():]
    start = s.find("{")
    if start < 0:
        report.errors.append(ImportIssue(line, "no answer block { … } found"))
        return
    end = s.find("}", start)
    if end < 0:
        report.errors.append(ImportIssue(line, "answer block not closed: a } is missing"))
        return
    before, block, after = s[:start], s[start + 1:end], s[end + 1:]
    after_clean = after.strip().rstrip('";').strip()   # Moodle's own fixture ends two questions with ";
    qtext, _fmt = _text(before + ("_____" + _restore(after_clean) if after_clean else ""))
    general = None
    if "####" in block:
        block, fb = block.split("####", 1)
        general = _text(fb)[0] or None
    q: dict[str, Any] = {"title": title, "text": qtext or (title or ""), "category": category, "explanation": general}
    if tags:
        q["tags"] = tags
    if idnumber:
        if re.match(r"^[a-z0-9][a-z0-9-]{1,62}$", idnumber):
            q["id"] = idnumber
        else:
            report.warnings.append(ImportIssue(line, f"id {idnumber!r} is not a valid question id (a–z, 0–9, -): not kept"))
    b = block.strip()
    try:
        _answer_block(report, line, q, b)
    except ValueError as exc:
        report.errors.append(ImportIssue(line, str(exc)))
        return
    validate(report, line, {k: v for k, v in q.items() if v is not None})


def _answer_block(report: ImportReport, line: int, q: dict[str, Any], b: str) -> None:
    if b == "":
        q["type"] = "essay"
        return
    if b.startswith("#"):
        q["type"] = "numerical"
        q["answers"] = _numerical(report, line, b[1:])
        return
    tf = re.match(r"^(T|TRUE|F|FALSE)\s*(#.*)?$", b, flags=re.DOTALL | re.IGNORECASE)
    if tf:
        q["type"] = "true_false"
        q["answer"] = tf.group(1).upper().startswith("T")
        if tf.group(2) and tf.group(2).strip("#").strip():
            report.warnings.append(ImportIssue(line, "true/false answer feedback is not kept (only the general feedback is)"))
        return
    answers = _answers(b)
    if not answers:
        raise ValueError("answer block has no answers (each starts with = or ~)")
    if any(mk == "=" and "->" in body for mk, body in answers):
        q["type"] = "matching"
        pairs = []
        for _mk, body in answers:
            if "->" not in body:
                raise ValueError("matching: every answer must be written left -> right")
            left, right = body.split("->", 1)
            pairs.append({"left": _text(left)[0], "right": _text(right)[0]})
        q["pairs"] = pairs
        return
    if any(mk == "~" for mk, _ in answers):
        single = any(mk == "=" for mk, _ in answers)
        q["type"] = "single_choice" if single else "multiple_choice"
        opts = []
        for mk, body in answers:
            w, body = _weight(body)
            body, fb = _split_feedback(body)
            frac = w if w is not None else (1.0 if mk == "=" else 0.0)
            opts.append({"text": _text(body)[0], "fraction": frac, "feedback": fb})
        if single and sum(1 for o in opts if o["fraction"] >= 0.999) > 1:
            q["type"] = "multiple_choice"   # several fully right options: Moodle treats it as multi-answer
        q["options"] = opts
        return
    q["type"] = "fill_blank"
    out = []
    for _mk, body in answers:
        w, body = _weight(body)
        body, fb = _split_feedback(body)
        out.append({"text": _text(body)[0], "fraction": 1.0 if w is None else w, "feedback": fb})
    q["answers"] = out


def _numerical(report: ImportReport, line: int, body: str) -> list[dict[str, Any]]:
    body = body.strip()
    parts = _answers(body if body[:1] in ("=", "~") else "=" + body)
    out = []
    for mk, ans in parts:
        w, ans = _weight(ans)
        ans, fb = _split_feedback(ans)
        ans = _restore(ans).strip()
        if mk == "~" or ans in ("", "*"):
            report.warnings.append(ImportIssue(line, "numerical: the catch-all wrong answer is not kept (it scores 0 anyway)"))
            continue
        frac = 1.0 if w is None else w
        if ".." in ans:
            lo, hi = (float(x) for x in ans.split("..", 1))
            if hi < lo:
                raise ValueError(f"numerical range {lo:g}..{hi:g}: the maximum is below the minimum")
            out.append({"value": (lo + hi) / 2, "tolerance": (hi - lo) / 2, "fraction": frac, "feedback": fb})
        else:
            v, _, tol = ans.partition(":")
            try:
                out.append({"value": float(v), "tolerance": abs(float(tol)) if tol else 0.0, "fraction": frac, "feedback": fb})
            except ValueError:
                raise ValueError(f"numerical answer {ans!r} is not a number (write 3, 3:0.5 or 1..5)") from None
    return out


# ---- writer ----------------------------------------------------------------------------------

def _esc(s: str) -> str:
    s = s.replace("\\", "\\\\")
    for c in "~=#{}:":
        s = s.replace(c, "\\" + c)
    return s.replace("\n", "\\n")


def _w(f: float) -> str:
    return f"%{f * 100:.10g}%"


def write(questions: list[dict[str, Any]]) -> bytes:
    """Questions (interchange records) → GIFT text. Fields GIFT cannot hold: NOT_CARRIED."""
    out: list[str] = []
    category = None
    for q in questions:
        if q.get("category") != category:
            category = q.get("category")
            out.append(f"$CATEGORY: $course$/{category}\n")
        meta = "".join(f"[tag:{t.replace(']', chr(92) + ']')}]" for t in q.get("tags") or [])
        if q.get("id"):
            meta += f"[id:{q['id']}]"
        out.append(f"// question: {q.get('id') or ''} {meta}".rstrip())
        head = f"::{_esc(q['title'])}::" if q.get("title") else ""
        text = "[markdown]" + _esc(q["text"])
        t = q["type"]
        gf = f"####[markdown]{_esc(q['explanation'])}" if q.get("explanation") else ""
        if t == "essay":
            body = gf
        elif t == "true_false":
            body = ("TRUE" if q["answer"] else "FALSE") + gf
        elif t in ("single_choice", "multiple_choice"):
            lines = []
            for o in q["options"]:
                fb = f"#{_esc(o['feedback'])}" if o.get("feedback") else ""
                if t == "single_choice":
                    mark = "=" if o["fraction"] >= 0.999 else ("~" if not o["fraction"] else "~" + _w(o["fraction"]))
                else:
                    mark = "~" + _w(o["fraction"])
                lines.append(f"\t{mark}{_esc(o['text'])}{fb}")
            body = "\n" + "\n".join(lines) + ("\n\t" + gf if gf else "") + "\n"
        elif t == "fill_blank":
            lines = [f"\t={_w(a['fraction'])}{_esc(a['text'])}" + (f"#{_esc(a['feedback'])}" if a.get("feedback") else "")
                     for a in q["answers"]]
            body = "\n" + "\n".join(lines) + ("\n\t" + gf if gf else "") + "\n"
        elif t == "numerical":
            lines = [f"\t={_w(a['fraction'])}{a['value']:g}:{a.get('tolerance', 0):g}" + (f"#{_esc(a['feedback'])}" if a.get("feedback") else "")
                     for a in q["answers"]]
            body = "#\n" + "\n".join(lines) + ("\n\t" + gf if gf else "") + "\n"
        elif t == "matching":
            lines = [f"\t={_esc(p['left'])} -> {_esc(p['right'])}" for p in q["pairs"]]
            body = "\n" + "\n".join(lines) + ("\n\t" + gf if gf else "") + "\n"
        else:
            continue
        out.append(f"{head}{text}{{{body}}}\n")
    return "\n".join(out).encode("utf-8")
