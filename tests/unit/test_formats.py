"""Question formats: Moodle's own import expectations (tests/fixtures/moodle, see SOURCE.md), malformed
files named by line, one round trip over the whole built-in bank for every format, and fuzzing."""
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services import formats
from services.content import read_bank
from services.formats import aiken, gift, moodlexml

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "moodle"
GIFT_CASES = json.loads((FIX / "gift_expected_from_giftformat_test.json").read_text())["import_cases"]
QTYPE = {"essay": "essay", "match": "matching", "numerical": "numerical", "shortanswer": "fill_blank",
         "truefalse": "true_false"}


def _type(expected: dict) -> str:
    if expected["qtype"] == "multichoice":
        return "single_choice" if expected.get("single", 1) else "multiple_choice"
    return QTYPE[expected["qtype"]]


@pytest.mark.parametrize("case", GIFT_CASES, ids=[c["test"] for c in GIFT_CASES])
def test_gift_reproduces_moodles_import_cases(case):
    report = gift.read(case["gift"].encode())
    assert report.ok, report.errors
    assert len(report.questions) == 1
    q, e = report.questions[0].question, case["expected"]
    assert q.title == e["name"] and q.type == _type(e)
    if "questiontext" in e:
        want = e["questiontext"]
        if e.get("questiontextformat") == "html":   # HTML becomes Markdown-safe text (bold kept as **)
            assert q.text.replace("**", "") == formats.base.html_to_text(want).replace("**", "")
        else:
            assert q.text == want
    if "generalfeedback" in e:
        assert (q.explanation or "") == e["generalfeedback"]
    if q.type in ("single_choice", "multiple_choice"):
        assert [o.text for o in q.options] == [a[0] for a in e["answer"]]
        assert [o.fraction for o in q.options] == pytest.approx(e["fraction"])
        assert [o.feedback or "" for o in q.options] == [f[0] for f in e["feedback"]]
    elif q.type == "fill_blank":
        assert [a.text for a in q.answers] == e["answer"]
        assert [a.fraction for a in q.answers] == pytest.approx(e["fraction"])
    elif q.type == "numerical":
        # Moodle keeps the catch-all "*" (0 %); we drop it with a warning, since it scores 0 anyway
        kept = [(a, f, t) for a, f, t in zip(e["answer"], e["fraction"], e["tolerance"]) if a != "*"]
        assert [(a.value, a.fraction, a.tolerance) for a in q.answers] == [(float(a), f, float(t)) for a, f, t in kept]
        assert any("catch-all" in w.message for w in report.warnings)
    elif q.type == "matching":
        assert [(p.left, p.right) for p in q.pairs] == list(zip([s[0] for s in e["subquestions"]], e["subanswers"]))
    elif q.type == "true_false":
        assert q.answer is bool(e["correctanswer"])
    if "tags" in e:
        assert q.tags == e["tags"] and q.id == e["idnumber"]


def test_gift_fixture_files_give_moodles_counts_types_and_categories():
    r = gift.read((FIX / "gift_questions.gift.txt").read_bytes())
    assert r.ok and sorted(p.question.type for p in r.questions) == sorted(
        ["essay", "matching", "single_choice", "multiple_choice", "numerical", "fill_blank",
         "true_false", "true_false", "true_false"])
    r = gift.read((FIX / "gift_questions_in_category.gift.txt").read_bytes(), category="默认")
    assert r.ok and [p.question.type for p in r.questions] == ["matching", "single_choice", "fill_blank", "true_false"]
    assert {p.question.category for p in r.questions} == {"Default for New Features"}
    greeting = r.questions[1].question
    assert [o.fraction for o in greeting.options] == [0, 1, 0, 0] and "<a" not in greeting.text


def test_aiken_two_valid_questions():
    r = aiken.read((FIX / "aiken_questions.aiken.txt").read_bytes())
    exp = json.loads((FIX / "aiken_expected.json").read_text())["aiken_questions.aiken.txt"]
    assert r.ok and len(r.questions) == exp["expected_question_count"]
    assert r.questions[0].question.text == exp["first_questiontext"]
    keys = ["ABCD"[[o.fraction for o in p.question.options].index(1.0)] for p in r.questions]
    assert keys == exp["correct"]


def test_aiken_errors_with_moodles_messages_and_lines():
    r = aiken.read((FIX / "aiken_errors.txt").read_bytes())
    exp = json.loads((FIX / "aiken_expected.json").read_text())["aiken_errors.txt"]
    assert [p.question.text for p in r.questions] == [q["name"] for q in exp["questions"]]
    for p, q in zip(r.questions, exp["questions"]):
        assert [o.fraction for o in p.question.options].index(1.0) == q["correct_index"]
    messages = " | ".join(e.message for e in r.errors)
    for sub in exp["expected_error_substrings"]:
        assert sub in messages, sub
    assert {e.line for e in r.errors} == {3, 5, 7, 18} and not r.ok


def test_moodle_xml_nested_categories():
    r = moodlexml.read((FIX / "xml_nested_categories_with_questions.xml").read_bytes())
    assert r.ok
    got = [(p.question.title, p.question.type, p.question.category) for p in r.questions]
    assert got == [("Iota Question", "true_false", "Iota"), ("Kappa Essay Question", "essay", "Iota/Kappa"),
                   ("Kappa Question", "true_false", "Iota/Kappa"), ("Lambda Question", "true_false", "Iota/Kappa/Lambda"),
                   ("Mu Question", "true_false", "Iota/Mu")]
    assert r.questions[0].question.answer is True and r.questions[0].question.text == "Testing Iota Question"
    assert len({p.question.category for p in r.questions}) == 4


def test_moodle_xml_refuses_entities():
    bomb = b'<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><quiz>&b;</quiz>'
    r = moodlexml.read(bomb)
    assert not r.ok and "entities" in r.errors[0].message
    ext = b'<?xml version="1.0"?><!DOCTYPE q [<!ENTITY x SYSTEM "file:///etc/passwd">]><quiz>&x;</quiz>'
    assert not moodlexml.read(ext).ok


@pytest.mark.parametrize("fmt, data, line, words", [
    ("gift", b"::a:: no block here\n", 1, "no answer block"),
    ("gift", b"// c\n\n::a:: first {T}\n\n::b:: second {=x ~y\n", 5, "not closed"),
    ("gift", b"::n:: number? {#abc}\n", 1, "not a number"),
    ("gift", b"::n:: range {#5..1}\n", 1, "maximum is below"),
    ("gift", b"::m:: pairs {=a -> b =c}\n", 1, "left -> right"),
    ("gift", b"::mc:: q {~%50%a ~%20%b ~c}\n", 1, "sum to 1.0"),
    ("gift", "::t:: bad\u0000name {T}\n".encode(), 1, "control characters"),
    ("aiken", b"Q?\nA) x\nB) y\nANSWER: C\n", 4, "not one of the choices"),
    ("moodlexml", b"<quiz><question type='multichoice'><name><text>x</text></name>", 1, "XML error"),
    ("moodlexml", b"<quiz><question type='cloze'/></quiz>", 1, "not supported"),
    ("yaml", b"- type: single_choice\n  text: q\n  category: c\n  options: [{text: a, fraction: 1}]\n", 1, "at least 2 options"),
    ("yaml", b"- type: true_false\n  text: [unclosed\n", 3, "YAML error"),
])
def test_malformed_files_name_the_line_and_the_reason(fmt, data, line, words):
    r = formats.read(data, fmt=fmt)
    assert not r.ok
    assert any(e.line == line and words in e.message for e in r.errors), [e.as_json() for e in r.errors]


def _strip(x):
    if isinstance(x, str):
        return x.strip()
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    return x


BANK = [q.record() for c in read_bank(include_drafts=False).courses for q in c.questions]


@pytest.mark.parametrize("name", ["gift", "moodlexml", "yaml", "xlsx", "csv", "aiken"])
def test_round_trip_over_the_whole_bank_keeps_every_question(name):
    mod = formats.FORMATS[name]
    source = [q for q in BANK if name != "aiken" or q["type"] == "single_choice"]
    report = mod.read(mod.write(source))
    assert report.ok, report.errors[:3]
    assert len(report.questions) == len(source) > 100
    drop = set(mod.NOT_CARRIED)
    if name == "aiken":    # Aiken holds a text and its options, nothing else
        for a, p in zip(source, report.questions):
            assert " ".join(a["text"].split()) == p.question.text
            assert [o["fraction"] == 1.0 for o in a["options"]] == [o.fraction == 1.0 for o in p.question.options]
        return
    for a, p in zip(source, report.questions):
        want = _strip({k: v for k, v in a.items() if k not in drop})
        got = _strip({k: v for k, v in p.question.record().items() if k not in drop})
        if name == "gift":   # defaults come back for what GIFT cannot carry
            assert p.question.points == 1 and p.question.usage == "both"
        assert got == want, a.get("id")


def test_auto_detection():
    assert formats.detect("x.gift", b"") == "gift"
    assert formats.detect("export.xml", b"") == "moodlexml"
    assert formats.detect("q.txt", b"What?\nA) a\nB) b\nANSWER: A\n") == "aiken"
    assert formats.detect("q.txt", b"::t:: x {T}") == "gift"
    assert formats.detect("bank.yaml", b"") == "yaml"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["gift", "aiken", "moodlexml", "yaml"]),
       st.one_of(st.binary(max_size=400),
                 st.lists(st.sampled_from(list("{}=~#:%->\\\n ABC)TF.题干") + ["ANSWER: A", "::", "<quiz>", "</quiz>",
                                                                                   "- type: ", "\n\n", "$CATEGORY:"]),
                          max_size=60).map(lambda parts: "".join(parts).encode())))
def test_parsers_never_crash(fmt, data):
    report = formats.read(data, fmt=fmt)
    assert report.ok or report.errors
    for e in report.errors:
        assert isinstance(e.line, int) and e.message


def _sheet(rows, headings=None):
    import io

    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    ws.append(headings or ["题型", "题干", "选项A", "选项B", "选项C", "选项D", "答案", "解析", "分类", "难度", "标签", "用途", "分值"])
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_excel_template_is_one_sheet_with_chinese_headings_and_reads_back():
    import io

    from openpyxl import load_workbook

    from services.formats import xlsx
    data = xlsx.template()
    wb = load_workbook(io.BytesIO(data))
    assert len(wb.worksheets) == 1
    heads = [c.value for c in wb.worksheets[0][1]]
    assert heads[:9] == ["题型", "题干", "选项A", "选项B", "选项C", "选项D", "选项E", "选项F", "答案"]
    r = xlsx.read(data)
    assert r.ok and r.questions[0].question.type == "single_choice"
    assert [o.fraction for o in r.questions[0].question.options] == [0, 1, 0, 0]


def test_excel_rows_each_type_and_row_errors():
    from services.formats import xlsx
    rows = [
        ["单选", "哪个是省会？", "包头", "呼和浩特", "乌海", "", "B", "呼和浩特是首府。", "地理", 2, "内蒙古", "练习", 1],
        ["多选", "属于乌海市辖区的有", "海勃湾区", "乌达区", "海南区", "东河区", "ABC", "", "地理/乌海", 3, "", "", 2],
        ["判断", "乌海市位于内蒙古自治区。", "", "", "", "", "对", "", "地理", 1, "", "", 1],
        ["填空", "乌海市有____个区。", "", "", "", "", "三|3", "", "地理", 1, "", "", 1],
        ["数值", "一年有几个月？", "", "", "", "", "12", "", "常识", 1, "", "", 1],
        ["匹配", "配对", "海勃湾区 -> 区", "乌海市 -> 市", " -> 县", "", "", "", "地理", 2, "", "", 2],
        ["问答", "谈谈数字政府。", "", "", "", "", "概念准确：4\n联系实际：6", "", "论述", 3, "", "考试", 10],
        ["单选", "错在答案", "甲", "乙", "丙", "", "E", "", "c", 1, "", "", 1],
        ["多选", "错在用途", "甲", "乙", "丙", "丁", "AB", "", "c", 1, "", "随便", 1],
        ["判断", "错在答案", "", "", "", "", "也许", "", "c", 1, "", "", 1],
    ]
    r = xlsx.read(_sheet(rows))
    assert [p.question.type for p in r.questions] == ["single_choice", "multiple_choice", "true_false", "fill_blank",
                                                       "numerical", "matching", "essay"]
    mc = r.questions[1].question
    assert [o.fraction for o in mc.options] == pytest.approx([1 / 3, 1 / 3, 1 / 3, -0.5], abs=1e-6)
    assert r.questions[6].question.rubric[1].points == 6 and r.questions[6].question.usage == "exam"
    assert {(e.line, e.message.split(" ")[0]) for e in r.errors} == {(9, "答案"), (10, "用途"), (11, "答案")}
    assert "选项E" in next(e.message for e in r.errors if e.line == 9)


def test_excel_header_errors_name_the_column():
    from services.formats import xlsx
    r = xlsx.read(_sheet([["单选", "x"]], headings=["题型", "问题"]))
    assert not r.ok and r.errors[0].line == 1 and "题干" in r.errors[0].message
    r = xlsx.read(_sheet([["单选", "x", "y"]], headings=["题型", "题干", "备注"]))
    assert "备注" in r.errors[0].message
    assert not xlsx.read(b"PK\x03\x04 not really a zip").ok


def test_exports_hold_no_formula_cells():
    import io

    from openpyxl import load_workbook

    from services.formats import csvfmt, xlsx
    q = {"type": "single_choice", "text": "=HYPERLINK(\"http://x\",\"y\")", "category": "c",
         "options": [{"text": "=1+1", "fraction": 1.0}, {"text": "@SUM(A1)", "fraction": 0.0}, {"text": "-1", "fraction": 0.0}]}
    wb = load_workbook(io.BytesIO(xlsx.write([q])))
    cells = [c for row in wb.worksheets[0].iter_rows() for c in row]
    assert not [c for c in cells if c.data_type == "f"]
    assert "=1+1" in [c.value for c in cells]
    back = csvfmt.read(csvfmt.write([q]))
    assert back.ok and back.questions[0].question.options[0].text == "=1+1"
    assert xlsx.read(xlsx.write([q])).questions[0].question.text == q["text"]
