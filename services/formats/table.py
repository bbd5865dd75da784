"""The spreadsheet layout shared by the Excel and CSV question formats: one row per question under
Chinese headings (the downloadable template). Rows are read into interchange dicts here, so the two
formats differ only in how cells are read and written.

答案 by type: 单选 `B`; 多选 `ABD` (each key 1/k, every other option −0.5 as in the bank) or explicit
`A=50%;B=50%;C=-100%`; 判断 对/错 (正确/错误, T/F, √/×); 填空 accepted answers separated by `|`, each with
an optional `=50%`; 数值 `3`, `3±0.5` or `1..5` (several separated by `|`, each with an optional `=50%`);
匹配 pairs in the option columns as `左项 -> 右项` (an empty left item is a distractor); 问答 the rubric, one
`评分要点：分值` per line."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from services.formats.base import DEFAULT_CATEGORY, ImportIssue, ImportReport, validate

TYPE_NAMES = {"single_choice": "单选", "multiple_choice": "多选", "true_false": "判断", "fill_blank": "填空",
              "numerical": "数值", "matching": "匹配", "essay": "问答"}
TYPE_ALIASES = {**{v: k for k, v in TYPE_NAMES.items()}, "单选题": "single_choice", "多选题": "multiple_choice",
                "判断题": "true_false", "填空题": "fill_blank", "数值题": "numerical", "计算题": "numerical",
                "匹配题": "matching", "问答题": "essay", "简答": "essay", "简答题": "essay", "论述": "essay",
                "论述题": "essay", **{t: t for t in TYPE_NAMES}}
USAGE_NAMES = {"both": "练习和考试", "practice": "练习", "exam": "考试"}
USAGE_ALIASES = {**{v: k for k, v in USAGE_NAMES.items()}, "都": "both", "两者": "both", "练习考试": "both",
                 "仅练习": "practice", "仅考试": "exam", **{u: u for u in USAGE_NAMES}}
TRUE_WORDS, FALSE_WORDS = {"对", "正确", "是", "t", "true", "√", "✓", "y"}, {"错", "错误", "否", "f", "false", "×", "✗", "n"}
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
WRONG_DEFAULT = -0.5

REQUIRED = ["题型", "题干"]
TEMPLATE_HEADINGS = ["题型", "题干", "选项A", "选项B", "选项C", "选项D", "选项E", "选项F", "答案", "解析", "分类",
                     "难度", "标签", "用途", "分值"]
OPTIONAL = ["编号", "标题", "选项反馈", "法律依据"]
NOT_CARRIED: tuple[str, ...] = ()   # every field has a column (optional ones after the template's)
HELP_ROWS = [
    ["单选", "《中华人民共和国网络安全法》自何时起施行？", "2016年11月7日", "2017年6月1日", "2017年10月1日", "2021年9月1日", "", "",
     "B", "该法于2016年11月7日通过，2017年6月1日起施行。", "信息安全/法律法规", 2, "网络安全法", "练习和考试", 1],
]


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()[:10]
    return str(v).strip()


def _percent(token: str) -> tuple[str, float | None]:
    m = re.match(r"^(.*?)\s*=\s*(-?\d+(?:\.\d+)?)\s*%$", token, flags=re.DOTALL)
    return (m.group(1).strip(), round(float(m.group(2)) / 100, 7)) if m else (token.strip(), None)


def read_rows(report: ImportReport, header: list[Any], rows: list[tuple[int, list[Any]]], category: str | None) -> None:
    heads = [_text(h) for h in header]
    dup = {h for h in heads if h and heads.count(h) > 1}
    if dup:
        report.errors.append(ImportIssue(1, f"column {sorted(dup)[0]!r} appears twice"))
        return
    missing = [h for h in REQUIRED if h not in heads]
    if missing:
        report.errors.append(ImportIssue(1, f"missing column {missing[0]!r} (use the template's headings)"))
        return
    known = set(TEMPLATE_HEADINGS) | set(OPTIONAL)
    unknown = [h for h in heads if h and h not in known and not re.match(r"^选项[A-Z]$", h)]
    if unknown:
        report.errors.append(ImportIssue(1, f"unknown column {unknown[0]!r} (use the template's headings)"))
        return
    option_cols = sorted((h for h in heads if re.match(r"^选项[A-Z]$", h)), key=lambda h: h[-1])
    seen_any = False
    for line, cells in rows:
        cell = {h: _text(cells[i]) if i < len(cells) else "" for i, h in enumerate(heads) if h}
        if not any(cell.values()):
            continue
        seen_any = True
        try:
            q = _question(cell, option_cols, category)
        except ValueError as exc:
            report.errors.append(ImportIssue(line, str(exc)))
            continue
        validate(report, line, q)
    if not seen_any:
        report.errors.append(ImportIssue(2, "the sheet has headings but no questions"))


def _question(cell: dict[str, str], option_cols: list[str], category: str | None) -> dict[str, Any]:
    raw_type = cell.get("题型", "")
    qtype = TYPE_ALIASES.get(raw_type) or TYPE_ALIASES.get(raw_type.lower())
    if not qtype:
        raise ValueError(f"题型 {raw_type!r} is not one of {'、'.join(TYPE_NAMES.values())}")
    q: dict[str, Any] = {"type": qtype, "text": cell.get("题干", ""),
                         "category": cell.get("分类") or category or DEFAULT_CATEGORY}
    if not q["text"]:
        raise ValueError("题干 is empty")
    for src, dst in (("编号", "id"), ("标题", "title"), ("解析", "explanation")):
        if cell.get(src):
            q[dst] = cell[src]
    if cell.get("难度"):
        try:
            q["difficulty"] = int(float(cell["难度"]))
        except ValueError:
            raise ValueError(f"难度 {cell['难度']!r} must be a whole number 1–5") from None
    if cell.get("分值"):
        try:
            q["points"] = float(cell["分值"])
        except ValueError:
            raise ValueError(f"分值 {cell['分值']!r} must be a number") from None
    if cell.get("标签"):
        q["tags"] = [t.strip() for t in re.split(r"[,，;；、|]", cell["标签"]) if t.strip()]
    if cell.get("用途"):
        usage = USAGE_ALIASES.get(cell["用途"])
        if not usage:
            raise ValueError(f"用途 {cell['用途']!r} is not one of {'、'.join(USAGE_NAMES.values())}")
        q["usage"] = usage
    if cell.get("法律依据"):
        q["legal_basis"] = _legal(cell["法律依据"])
    options = [(c[-1], cell.get(c, "")) for c in option_cols]
    while options and not options[-1][1]:
        options.pop()
    answer = cell.get("答案", "")
    if qtype in ("single_choice", "multiple_choice"):
        letters = [letter for letter, text in options if text]
        if len(letters) != len(options):
            gap = next(letter for letter, text in options if not text)
            raise ValueError(f"选项{gap} is empty but a later option is filled")
        fractions = _choice_key(answer, letters, qtype)
        feedback = _option_feedback(cell.get("选项反馈", ""), letters)
        q["options"] = [{"text": text, "fraction": fractions[letter], "feedback": feedback.get(letter)}
                        for letter, text in options]
    elif qtype == "true_false":
        a = answer.lower()
        if a not in TRUE_WORDS | FALSE_WORDS:
            raise ValueError(f"答案 {answer!r} of a 判断 question must be 对 or 错")
        q["answer"] = a in TRUE_WORDS
    elif qtype == "fill_blank":
        if not answer:
            raise ValueError("答案 is empty: list the accepted answers separated by |")
        q["answers"] = []
        for token in answer.split("|"):
            text, frac = _percent(token)
            if text:
                q["answers"].append({"text": text, "fraction": 1.0 if frac is None else frac})
    elif qtype == "numerical":
        if not answer:
            raise ValueError("答案 is empty: write 3, 3±0.5 or 1..5")
        q["answers"] = [_numeric(token) for token in answer.split("|") if token.strip()]
    elif qtype == "matching":
        pairs = []
        for letter, text in options:
            if not text:
                continue
            if "->" not in text:
                raise ValueError(f"选项{letter} of a 匹配 question must be written 左项 -> 右项")
            left, right = text.split("->", 1)
            pairs.append({"left": left.strip(), "right": right.strip()})
        q["pairs"] = pairs
    elif qtype == "essay" and answer:
        rubric = []
        for ln in answer.split("\n"):
            if not ln.strip():
                continue
            m = re.match(r"^(.*?)[：:]\s*(\d+(?:\.\d+)?)\s*分?$", ln.strip())
            if not m:
                raise ValueError(f"答案 (rubric) line {ln.strip()[:30]!r} must be written 评分要点：分值")
            rubric.append({"criterion": m.group(1).strip(), "points": float(m.group(2))})
        q["rubric"] = rubric
    return q


def _choice_key(answer: str, letters: list[str], qtype: str) -> dict[str, float]:
    a = answer.replace(" ", "").upper()
    if not a:
        raise ValueError("答案 is empty: write the letters of the right options, e.g. B or ABD")
    if "=" in a:   # explicit fractions A=50%;B=50%;C=-100%
        out = dict.fromkeys(letters, 0.0)
        for token in re.split(r"[;,，；]", a):
            if not token:
                continue
            m = re.match(r"^([A-Z])=(-?\d+(?:\.\d+)?)%$", token)
            if not m:
                raise ValueError(f"答案 part {token!r} must be written like A=50%")
            if m.group(1) not in out:
                raise ValueError(f"答案 names 选项{m.group(1)}, which is empty")
            out[m.group(1)] = round(float(m.group(2)) / 100, 7)
        return out
    keys = list(dict.fromkeys(a))
    bad = [k for k in keys if k not in letters]
    if bad:
        raise ValueError(f"答案 {answer!r} names 选项{bad[0]}, which " + ("is empty" if bad[0] in LETTERS else "is not a letter"))
    if qtype == "single_choice":
        if len(keys) != 1:
            raise ValueError(f"答案 {answer!r}: a 单选 question has exactly one right option")
        return {letter: 1.0 if letter == keys[0] else 0.0 for letter in letters}
    share = round(1 / len(keys), 7)
    out = {letter: (share if letter in keys else WRONG_DEFAULT) for letter in letters}
    out[keys[-1]] = round(1 - share * (len(keys) - 1), 7)   # the shares add up to exactly 1
    return out


def _option_feedback(value: str, letters: list[str]) -> dict[str, str]:
    out = {}
    for ln in value.split("\n"):
        m = re.match(r"^\s*([A-Z])\s*[：:]\s*(.*)$", ln)
        if m and m.group(2).strip():
            if m.group(1) not in letters:
                raise ValueError(f"选项反馈 names 选项{m.group(1)}, which is empty")
            out[m.group(1)] = m.group(2).strip()
    return out


def _numeric(token: str) -> dict[str, Any]:
    text, frac = _percent(token)
    t = text.replace(" ", "")
    try:
        if ".." in t:
            lo, hi = (float(x) for x in t.split("..", 1))
            if hi < lo:
                raise ValueError
            value, tol = (lo + hi) / 2, (hi - lo) / 2
        elif "±" in t or "+-" in t:
            v, tol_s = re.split(r"±|\+-", t, maxsplit=1)
            value, tol = float(v), abs(float(tol_s))
        else:
            value, tol = float(t), 0.0
    except ValueError:
        raise ValueError(f"答案 {text!r} of a 数值 question must be written 3, 3±0.5 or 1..5") from None
    return {"value": value, "tolerance": tol, "fraction": 1.0 if frac is None else frac}


def _legal(value: str) -> dict[str, Any]:
    parts = [p.strip() for p in value.split("|")]
    if len(parts) < 3:
        raise ValueError("法律依据 must be written 法律名称|条款|施行日期[|修订日期,修订日期]")
    out: dict[str, Any] = {"law": parts[0], "article": parts[1] or None, "effective": parts[2]}
    if len(parts) > 3 and parts[3]:
        out["amended"] = [d.strip() for d in re.split(r"[,，]", parts[3]) if d.strip()]
    return out


# ---- writing -----------------------------------------------------------------------------------

def headings_for(questions: list[dict[str, Any]]) -> list[str]:
    n_opts = max([6] + [len(q.get("options") or q.get("pairs") or []) for q in questions])
    opts = [f"选项{LETTERS[i]}" for i in range(n_opts)]
    return ["题型", "题干", *opts, "答案", "解析", "分类", "难度", "标签", "用途", "分值", *OPTIONAL]


def row_for(q: dict[str, Any], headings: list[str]) -> list[Any]:
    t = q["type"]
    cells: dict[str, Any] = {"题型": TYPE_NAMES[t], "题干": q["text"], "解析": q.get("explanation") or "",
                             "分类": q.get("category", ""), "难度": q.get("difficulty", 3),
                             "标签": "、".join(q.get("tags") or []), "用途": USAGE_NAMES[q.get("usage", "both")],
                             "分值": q.get("points", 1), "编号": q.get("id") or "", "标题": q.get("title") or ""}
    if t in ("single_choice", "multiple_choice"):
        opts = q["options"]
        for i, o in enumerate(opts):
            cells[f"选项{LETTERS[i]}"] = o["text"]
        cells["答案"] = _key_text(opts, t)
        cells["选项反馈"] = "\n".join(f"{LETTERS[i]}：{o['feedback']}" for i, o in enumerate(opts) if o.get("feedback"))
    elif t == "true_false":
        cells["答案"] = "对" if q["answer"] else "错"
    elif t == "fill_blank":
        cells["答案"] = "|".join(a["text"] + ("" if a["fraction"] == 1 else f"={a['fraction'] * 100:.10g}%") for a in q["answers"])
    elif t == "numerical":
        cells["答案"] = "|".join((f"{a['value']:.10g}±{a['tolerance']:.10g}" if a.get("tolerance") else f"{a['value']:.10g}")
                                + ("" if a["fraction"] == 1 else f"={a['fraction'] * 100:.10g}%") for a in q["answers"])
    elif t == "matching":
        for i, p in enumerate(q["pairs"]):
            cells[f"选项{LETTERS[i]}"] = f"{p['left']} -> {p['right']}"
    elif t == "essay":
        cells["答案"] = "\n".join(f"{r['criterion']}：{r['points']:g}" for r in q.get("rubric") or [])
    if q.get("legal_basis"):
        lb = q["legal_basis"]
        cells["法律依据"] = "|".join([lb["law"], lb.get("article") or "", str(lb["effective"])]
                                     + ([",".join(str(d) for d in lb["amended"])] if lb.get("amended") else []))
    return [cells.get(h, "") for h in headings]


def _key_text(opts: list[dict[str, Any]], t: str) -> str:
    if t == "single_choice":
        return next(LETTERS[i] for i, o in enumerate(opts) if o["fraction"] >= 0.999)
    keys = [i for i, o in enumerate(opts) if o["fraction"] > 0]
    plain = _choice_key("".join(LETTERS[i] for i in keys), [LETTERS[i] for i in range(len(opts))], t)
    if all(abs(plain[LETTERS[i]] - o["fraction"]) < 1e-9 for i, o in enumerate(opts)):
        return "".join(LETTERS[i] for i in keys)
    return ";".join(f"{LETTERS[i]}={o['fraction'] * 100:.10g}%" for i, o in enumerate(opts))
