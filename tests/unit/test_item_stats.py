"""Item statistics reproduce Moodle's own expected values (tests/fixtures/moodle, see SOURCE.md)."""
import csv
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from services.analytics.item_stats import analyse, d27_band, read_responses_csv

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "moodle"


def close(actual, expected, rel=1e-5, abs_=1e-6):
    if expected is None:
        return actual is None
    return actual is not None and math.isclose(actual, expected, rel_tol=rel, abs_tol=abs_)


def test_stats00_test_level_matches_moodle():
    r = analyse(read_responses_csv((FIX / "stats00_responses.csv").read_bytes()))
    exp = json.loads((FIX / "stats00_expected_quiz_stats.json").read_text())
    t = r.test
    assert t.attempts == exp["allattemptscount"] == 25 and t.questions == 7
    for ours, theirs in [("mean", "allattemptsavg"), ("median", "median"), ("sd", "standarddeviation"),
                         ("skewness", "skewness"), ("kurtosis", "kurtosis"), ("cic", "cicoefficient" if "cicoefficient" in exp else "cic"),
                         ("error_ratio", "errorratio"), ("standard_error", "standarderror")]:
        assert close(getattr(t, ours), exp[theirs]), (ours, getattr(t, ours), exp[theirs])
    assert "few_attempts" in t.flags and "cic_poor" in t.flags


def test_stats00_items_match_moodle():
    r = analyse(read_responses_csv((FIX / "stats00_responses.csv").read_bytes()))
    by_id = {i.question_id: i for i in r.items}
    rows = [row for row in csv.DictReader((FIX / "stats00_qstats00.csv").open()) if not row["subqname"] and not row["variant"]]
    assert len(rows) == 7
    for row in rows:
        it = by_id[f"slot{row['slot']}"]
        assert it.n == int(row["s"])
        for ours, theirs in [("facility", "facility"), ("sd", "sd"), ("effective_weight", "effectiveweight"),
                             ("discrimination_index", "discriminationindex"),
                             ("discriminative_efficiency", "discriminativeefficiency")]:
            assert close(getattr(it, ours), float(row[theirs])), (it.question_id, ours, getattr(it, ours), row[theirs])


def test_legacy_items_match_moodle_including_undefined_values():
    r = analyse(read_responses_csv((FIX / "legacy_responses.csv").read_bytes()))
    exp = json.loads((FIX / "legacy_expected_qstats.json").read_text())
    by_id = {i.question_id: i for i in r.items}
    assert sorted(by_id) == sorted(f"slot{n}" for n in range(1, 21))
    ordered = [by_id[f"slot{n}"] for n in range(1, 21)]
    scale = {"facility_x100": ("facility", 100), "sd_x1000": ("sd", 1000), "effectiveweight": ("effective_weight", 1),
             "discriminationindex": ("discrimination_index", 1), "discriminativeefficiency": ("discriminative_efficiency", 1)}
    for key, (attr, factor) in scale.items():
        for it, want in zip(ordered, exp[key], strict=True):
            got = getattr(it, attr)
            got = None if got is None else got * factor
            assert close(got, want), (key, it.question_id, got, want)


def test_hand_computed_d27_point_biserial_and_flags():
    # 10 attempts; q1 answered right exactly by the five best (perfect discrimination), q2 right by the five worst
    rows = []
    for a in range(10):
        good = a >= 5
        rows += [{"attempt_id": a, "question_id": "q1", "mark": 1 if good else 0, "max_mark": 1},
                 {"attempt_id": a, "question_id": "q2", "mark": 0 if good else 1, "max_mark": 1},
                 {"attempt_id": a, "question_id": "q3", "mark": a, "max_mark": 10}]
    r = analyse(pd.DataFrame(rows))
    q1, q2, q3 = r.items
    assert q1.d27 == pytest.approx(1.0) and d27_band(q1.d27) == "very_good"
    assert q2.d27 == pytest.approx(-1.0) and "check_key" in q2.flags
    assert q1.facility == pytest.approx(0.5) and q3.facility == pytest.approx(0.45)
    assert q1.point_biserial > 0.8 and q2.point_biserial < 0
    assert all("few_attempts" in i.flags for i in r.items)


def test_zero_variance_and_empty_input_are_undefined_not_errors():
    rows = [{"attempt_id": a, "question_id": "q", "mark": 1, "max_mark": 1} for a in range(5)]
    it = analyse(pd.DataFrame(rows)).items[0]
    assert it.facility == 1.0 and it.sd == 0.0 and it.discrimination_index is None and "too_easy" in it.flags
    empty = analyse(pd.DataFrame(columns=["attempt_id", "question_id", "mark", "max_mark"]))
    assert empty.items == [] and empty.test.attempts == 0


@pytest.mark.parametrize("body, line", [
    (b"a,b,c\n", 1),
    (b"attempt_id,question_id,mark,max_mark\n1,q,x,1\n", 2),
    (b"attempt_id,question_id,mark,max_mark\n1,q,1,1\n1,q,0,1\n", 3),
    (b"attempt_id,question_id,mark,max_mark\n1,q,2,1\n", 2),
    (b"attempt_id,question_id,mark,max_mark\n1,q,1\n", 2),
])
def test_bad_csv_names_the_line(body, line):
    with pytest.raises(ValueError, match=f"line {line}:"):
        read_responses_csv(body)


def test_cli_contract_reproduces_the_fixture(tmp_path):
    import subprocess
    import sys

    from config import ROOT
    r = subprocess.run([sys.executable, str(ROOT / "cli.py"), "stats", "items", "--responses", str(FIX / "stats00_responses.csv"),
                        "--json"], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out["test"]) >= {"attempts", "questions", "mean", "median", "sd", "skewness", "kurtosis", "cic", "error_ratio", "standard_error"}
    assert close(out["test"]["cic"], -87.2230935542)
    item = out["items"][0]
    assert set(item) >= {"question_id", "n", "facility", "sd", "discrimination_index", "discriminative_efficiency",
                         "effective_weight", "d27", "point_biserial", "flags"}
    bad = tmp_path / "bad.csv"
    bad.write_text("attempt_id,question_id,mark,max_mark\n1,q,2,1\n")
    r = subprocess.run([sys.executable, str(ROOT / "cli.py"), "stats", "items", "--responses", str(bad), "--json"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert r.returncode == 1 and "line 2" in r.stderr
