import pytest

from services.grading import correct_response, score

SC = {"type": "single_choice", "options": [{"text": "a", "fraction": 1.0}, {"text": "b", "fraction": 0.0},
                                            {"text": "c", "fraction": -0.5}]}
MC = {"type": "multiple_choice", "options": [{"text": "a", "fraction": 0.5}, {"text": "b", "fraction": 0.5},
                                              {"text": "c", "fraction": -0.5}, {"text": "d", "fraction": -0.5}]}


@pytest.mark.parametrize("record,response,points,expected", [
    (SC, 0, 1, 1.0), (SC, 1, 1, 0.0), (SC, 2, 1, 0.0), (SC, None, 1, 0.0), (SC, 7, 1, 0.0),
    (MC, [0, 1], 2, 2.0), (MC, [0], 2, 1.0), (MC, [0, 2], 2, 0.0), (MC, [0, 1, 2, 3], 2, 0.0), (MC, [2, 3], 2, 0.0),
    (MC, [0, 0, 1, 1], 2, 2.0),     # repeated indices never score twice: never above the maximum
    ({"type": "true_false", "answer": False}, False, 1, 1.0), ({"type": "true_false", "answer": False}, True, 1, 0.0),
    ({"type": "fill_blank", "answers": [{"text": "等级保护", "fraction": 1.0}, {"text": "等保", "fraction": 0.5}]}, " 等级保护 ", 1, 1.0),
    ({"type": "fill_blank", "answers": [{"text": "等级保护", "fraction": 1.0}, {"text": "等保", "fraction": 0.5}]}, "等保", 2, 1.0),
    ({"type": "fill_blank", "answers": [{"text": "GB*9704", "fraction": 1.0}]}, "gb/t 9704", 1, 1.0),
    ({"type": "fill_blank", "answers": [{"text": "HTTPS", "fraction": 1.0}]}, "ｈｔｔｐｓ", 1, 1.0),   # full-width input
    ({"type": "numerical", "answers": [{"value": 1024, "tolerance": 0, "fraction": 1.0}]}, "1024", 1, 1.0),
    ({"type": "numerical", "answers": [{"value": 3.14, "tolerance": 0.01, "fraction": 1.0}]}, "3.149", 1, 1.0),
    ({"type": "numerical", "answers": [{"value": 3.14, "tolerance": 0.01, "fraction": 1.0}]}, "3.2", 1, 0.0),
    ({"type": "numerical", "answers": [{"value": 8, "tolerance": 0, "fraction": 1.0}]}, "eight", 1, 0.0),
    ({"type": "matching", "pairs": [{"left": "a", "right": "1"}, {"left": "b", "right": "2"}, {"left": "", "right": "3"}]},
     {"a": "1", "b": "3"}, 1, 0.5),
    ({"type": "fill_blank", "answers": [{"text": "IPv6?*", "fraction": 1.0}]}, "IPv6X", 1, 0.0),   # only * is a wildcard
    ({"type": "fill_blank", "answers": [{"text": "[1]*", "fraction": 1.0}]}, "[1] ref", 1, 1.0),
    (MC, [True, True], 2, 0.0),                                                                      # not indices
    ({"type": "multiple_choice", "options": [{"text": x, "fraction": f} for x, f in
      (("a", 0.3333333), ("b", 0.3333333), ("c", 0.3333333), ("d", -0.5))]}, [0, 1, 2], 3, 3.0),
    ({"type": "essay"}, "text", 10, None),
])
def test_scores_stay_within_zero_and_points(record, response, points, expected):
    assert score(record, response, points) == expected


def test_correct_response_scores_full_marks():
    for rec in (SC, MC, {"type": "true_false", "answer": True},
                {"type": "fill_blank", "answers": [{"text": "x", "fraction": 1.0}]},
                {"type": "numerical", "answers": [{"value": 2, "tolerance": 0, "fraction": 1.0}]},
                {"type": "matching", "pairs": [{"left": "a", "right": "1"}, {"left": "b", "right": "2"}]}):
        assert score(rec, correct_response(rec), 3) == 3


def test_an_answered_essay_waits_for_a_human_an_empty_one_scores_zero():
    essay = {"type": "essay"}
    assert score(essay, "我的回答", 10) is None          # pending grading, not 0
    assert score(essay, None, 10) == 0.0                  # nothing to grade
    assert score(essay, "   ", 10) == 0.0
    assert score(essay, 5, 10) == 0.0                     # malformed
