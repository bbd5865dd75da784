"""Grading of every type over generated questions and responses: a score always lies between 0 and the
item's points, the keyed answer always earns full marks, and normalisation follows the bank's promises."""
from hypothesis import given, settings
from hypothesis import strategies as st

from services.content import read_bank
from services.grading import correct_response, score
from services.interchange import QuestionIn

BANK = [q.record() for c in read_bank(include_drafts=False).courses for q in c.questions]

any_response = st.one_of(st.none(), st.booleans(), st.integers(-3, 10), st.floats(allow_nan=True),
                         st.text(max_size=30), st.lists(st.integers(-2, 8), max_size=8),
                         st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=4))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(BANK), any_response, st.floats(0.5, 20))
def test_score_is_between_zero_and_the_points(record, response, points):
    s = score(record, response, points)
    assert s is None or 0 <= s <= points
    if s is None:
        assert record["type"] == "essay"


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([q for q in BANK if q["type"] != "essay"]), st.floats(0.5, 20))
def test_the_key_earns_full_marks(record, points):
    assert abs(score(record, correct_response(record), points) - points) < 1e-4


fractions = st.lists(st.sampled_from([-1.0, -0.5, -0.3333333, 0.0, 0.25, 0.3333333, 0.5, 1.0]), min_size=2, max_size=6)


@settings(max_examples=300, deadline=None)
@given(fractions, st.lists(st.integers(0, 5), max_size=6, unique=True))
def test_multiple_choice_with_penalties_never_below_zero(fr, picked):
    pos = [f for f in fr if f > 0]
    if not pos or abs(sum(pos) - 1) > 0.001:
        return
    record = QuestionIn(type="multiple_choice", text="q", category="c",
                        options=[{"text": str(i), "fraction": f} for i, f in enumerate(fr)]).record()
    s = score(record, [i for i in picked if i < len(fr)], 2.0)
    assert 0 <= s <= 2.0


def test_fill_blank_normalises_width_case_and_spaces():
    record = QuestionIn(type="fill_blank", text="____", category="c",
                        answers=[{"text": "GB 18030", "fraction": 1.0}, {"text": "国标*", "fraction": 0.5}]).record()
    assert score(record, "ＧＢ　１８０３０", 1) == 1          # full-width letters, digits and space
    assert score(record, "  gb   18030 ", 1) == 1
    assert score(record, "国标一八零三零", 1) == 0.5           # wildcard, partial fraction
    assert score(record, "GB18031", 1) == 0


def test_numerical_value_tolerance_and_full_width_input():
    record = QuestionIn(type="numerical", text="?", category="c",
                        answers=[{"value": 12.5, "tolerance": 0.5, "fraction": 1.0}]).record()
    assert score(record, "12.9", 1) == 1 and score(record, "13.1", 1) == 0
    assert score(record, "１２．５", 1) == 1
    assert score(record, 12, 1) == 1
