"""Item analysis from the database (services/analytics/item_report.py): hand-computed marks of a small
exam (fewer than 30 attempts, an unanswered question, multiple-choice distractors), the same numbers as
item_stats.analyse on the same marks (and on Moodle's fixtures), scope, course quizzes, first attempts,
and one attempt taken through the real exam engine."""
import math
import uuid
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert

from models import Attempt, AttemptItem, Course, Question, QuestionVersion
from models.db import session_scope, utcnow
from services import attempts as attempt_service
from services import exams
from services.analytics import item_report as ir
from services.analytics.item_stats import analyse, read_responses_csv
from services.errors import PermissionDenied
from services.interchange import content_hash
from services.permissions import system_actor
from tests.unit.examkit import record

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "moodle"


def close(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def add_questions(s, specs):
    """specs: [(type, key)] -> question ids with their records (one category of their own)."""
    cat = f"题目分析/{uuid.uuid4().hex[:8]}"
    out = []
    for typ, key in specs:
        qid = f"ia-{uuid.uuid4().hex[:10]}"
        data = record(qid, typ, cat, key=key)
        s.add(Question(id=qid, current_version=1))
        s.flush()
        s.add(QuestionVersion(question_id=qid, version=1, type=typ, category=cat, difficulty=3, usage="both",
                              points=1, data=data, content_hash=content_hash(data)))
        out.append((qid, data))
    s.flush()
    return cat, out


def version_id(s, qid):
    from sqlmodel import select
    return s.exec(select(QuestionVersion.id).where(QuestionVersion.question_id == qid)).one()


def sit(s, *, user_id, items, exam_id=None, course_id=None, status="submitted", at=None):
    """One attempt straight into the tables: items = [(question id, response, score)]."""
    at = at or utcnow()
    kind = "exam" if exam_id else "quiz"
    attempt_id = s.execute(insert(Attempt).returning(Attempt.id), [{
        "user_id": user_id, "kind": kind, "exam_id": exam_id, "course_id": course_id, "started_at": at,
        "submitted_at": at + timedelta(minutes=20), "status": status, "score": sum(sc or 0 for _, _, sc in items),
        "max_score": len(items), "pass_percent": 60, "passed": True, "auto_submitted": False, "tab_switches": 0}]).scalar_one()
    s.execute(insert(AttemptItem), [{"attempt_id": attempt_id, "position": p + 1, "question_version_id": version_id(s, q),
                                     "points": 1.0, "response": resp, "score": sc, "version": 1, "flagged": False}
                                    for p, (q, resp, sc) in enumerate(items)])
    s.flush()
    return attempt_id


#      q1 (single)  q2 (multiple)  q3 (true/false)  q4 (single, key 0)   total
# A1        1            1              1                 0  (picked 2)    3   top
# A2        1            1              0                 0                2
# A3        1            0              1                 0                2
# A4        0            1              1                 0                2
# A5        0            0              - (unanswered)    1  (the key)     1   bottom
MARKS = [(1, 1, 1, 0), (1, 1, 0, 0), (1, 0, 1, 0), (0, 1, 1, 0), (0, 0, None, 1)]


@pytest.fixture(scope="module")
def small_exam(make_user_module, tree):
    with session_scope() as s:
        _, qs = add_questions(s, [("single_choice", 1), ("multiple_choice", 0), ("true_false", 0), ("single_choice", 0)])
        ids = [q for q, _ in qs]
        exam_id = exams.create_exam(s, system_actor(), exam_in=exams.ExamIn(
            title="小考", question_ids=ids, audience_units=[tree["district"]]))
        exams.publish_exam(s, system_actor(), exam_id=exam_id)
    learners = [make_user_module("learner") for _ in MARKS]
    attempt_ids = []
    with session_scope() as s:
        for learner, marks in zip(learners, MARKS):
            items = []
            for (qid, data), m in zip(qs, marks):
                if m is None:
                    items.append((qid, None, 0.0))
                elif data["type"] == "single_choice":
                    k = next(i for i, o in enumerate(data["options"]) if o["fraction"] > 0)
                    items.append((qid, k if m else 2 if k != 2 else 3, float(m)))
                elif data["type"] == "multiple_choice":
                    items.append((qid, [0, 1] if m else [0, 2], float(m)))
                else:
                    items.append((qid, data["answer"] if m else not data["answer"], float(m)))
            attempt_ids.append(sit(s, user_id=learner.id, exam_id=exam_id, items=items))
        # an open attempt and one waiting for an essay grade are not analysed
        sit(s, user_id=learners[0].id, exam_id=exam_id, status="in_progress", items=[(ids[0], None, None)])
    return {"exam_id": exam_id, "ids": ids, "attempts": attempt_ids, "learners": learners}


def test_hand_computed_facility_d27_flags_and_the_caution(small_exam):
    q1, q2, q3, q4 = small_exam["ids"]
    with session_scope() as s:
        rep = ir.item_report(s, system_actor(), exam_id=small_exam["exam_id"])
    assert rep.test.attempts == 5 and rep.test.questions == 4 and rep.caution
    assert "few_attempts" in rep.test.flags
    assert rep.test.mean == pytest.approx(2.0) and rep.test.median == pytest.approx(2.0)
    by = {i.question_id: i for i in rep.items}
    assert [by[q].facility for q in (q1, q2, q3, q4)] == pytest.approx([0.6, 0.6, 0.6, 0.2])
    assert all(by[q].n == 5 for q in (q1, q2, q3, q4))      # the unanswered q3 counts as 0
    # n = 5: groups of max(1, round(0.27 * 5)) = 1: top A1 (total 3), bottom A5 (total 1)
    assert [by[q].d27 for q in (q1, q2, q3, q4)] == pytest.approx([1.0, 1.0, 1.0, -1.0])
    assert by[q4].band == "check_key" and "check_key" in by[q4].flags and "too_hard" in by[q4].flags
    assert by[q1].band == "very_good"
    assert all("few_attempts" in i.flags for i in rep.items)
    assert rep.items[0].question_id == q4                     # worst first
    assert by[q2].type == "multiple_choice" and by[q4].text.startswith("题目")


def test_the_same_numbers_as_item_stats_on_the_same_marks(small_exam):
    with session_scope() as s:
        rep = ir.item_report(s, system_actor(), exam_id=small_exam["exam_id"])
    rows = []
    for a, marks in zip(small_exam["attempts"], MARKS):
        rows += [{"attempt_id": a, "question_id": q, "mark": float(m or 0), "max_mark": 1.0}
                 for q, m in zip(small_exam["ids"], marks)]
    ref = analyse(rows)
    assert close(asdict(rep.test), asdict(ref.test))
    mine = {i.question_id: {k: getattr(i, k) for k in asdict(ref.items[0])} for i in rep.items}
    assert close(mine, {i.question_id: asdict(i) for i in ref.items})


@pytest.mark.parametrize("name", ["stats00_responses.csv", "legacy_responses.csv"])
def test_the_array_engine_gives_item_stats_numbers_on_moodles_fixtures(name):
    df = read_responses_csv((FIX / name).read_bytes())
    ref = analyse(df)
    order = list(dict.fromkeys(df["question_id"]))
    attempts = {a: i for i, a in enumerate(dict.fromkeys(df["attempt_id"]))}
    got, _ = ir.analyse_arrays(np.array([attempts[a] for a in df["attempt_id"]]), order,
                               np.array([order.index(q) for q in df["question_id"]]),
                               df["mark"].to_numpy(float), df["max_mark"].to_numpy(float))
    assert close(got.as_json(), ref.as_json())


def test_distractors_of_the_top_and_bottom_groups(small_exam):
    q1, q2, q3, q4 = small_exam["ids"]
    with session_scope() as s:
        rep = ir.item_report(s, system_actor(), exam_id=small_exam["exam_id"])
        single = ir.option_analysis(s, system_actor(), rep, q4)
        multi = ir.option_analysis(s, system_actor(), rep, q2)
        tf = ir.option_analysis(s, system_actor(), rep, q3)
    assert (single.high_n, single.low_n, single.n) == (1, 1, 5)
    rows = {r.option: r for r in single.rows}
    assert rows[0].correct and (rows[0].high, rows[0].low, rows[0].all) == (0, 1, 1)   # the bottom chose the key
    assert (rows[2].high, rows[2].low, rows[2].all) == (1, 0, 4)                      # the top chose option 2
    assert rows[0].text == "选项0"
    m = {r.option: r for r in multi.rows}
    assert [m[i].correct for i in range(4)] == [True, True, False, False]
    assert (m[0].high, m[1].high, m[2].high) == (1, 1, 0)            # A1 picked 甲乙
    assert (m[0].low, m[1].low, m[2].low) == (1, 0, 1)               # A5 picked 甲丙
    assert m[0].all == 5 and m[2].all == 2
    t = {r.option: r for r in tf.rows}
    assert t[None].all == 1 and t[None].low == 1                     # A5 left it unanswered
    assert t[1].correct and t[1].all == 3


def test_a_trainer_of_another_district_is_refused(small_exam, make_user):
    own = make_user(("trainer", "district"))
    other = make_user(("trainer", "district2"))
    with session_scope() as s:
        assert ir.item_report(s, own, exam_id=small_exam["exam_id"]).test.attempts == 5
        keys = [o.key for o in ir.sources(s, own)]
        assert f"exam:{small_exam['exam_id']}" in keys
        assert f"exam:{small_exam['exam_id']}" not in [o.key for o in ir.sources(s, other)]
        with pytest.raises(PermissionDenied):
            ir.item_report(s, other, exam_id=small_exam["exam_id"])
        rep = ir.item_report(s, own, exam_id=small_exam["exam_id"])
        with pytest.raises(PermissionDenied):
            ir.option_analysis(s, other, rep, small_exam["ids"][0])
    learner = make_user("learner")
    with session_scope() as s, pytest.raises(PermissionDenied):
        ir.item_report(s, learner, exam_id=small_exam["exam_id"])


def test_no_attempts_yet(tree):
    with session_scope() as s:
        _, qs = add_questions(s, [("true_false", 0)])
        exam_id = exams.create_exam(s, system_actor(), exam_in=exams.ExamIn(title="空考", question_ids=[qs[0][0]],
                                                                             audience_units=[tree["district"]]))
        rep = ir.item_report(s, system_actor(), exam_id=exam_id)
    assert rep.items == [] and rep.test.attempts == 0 and rep.caution and rep.test.flags == ["no_attempts"]


def test_course_quiz_counts_only_learners_in_scope_and_first_attempts(make_user, tree):
    inside = make_user("learner", unit="town")
    outside = make_user("learner", unit="district2")
    district = make_user(("trainer", "district"))
    with session_scope() as s:
        _, qs = add_questions(s, [("true_false", 0), ("true_false", 1)])
        (a, da), (b, db) = qs
        cid = f"ia{uuid.uuid4().hex[:8]}"
        s.add(Course(id=cid, title="测验课程", category="测试", quiz={"title": "测验", "pass_percent": 60, "draw": []}))
        s.flush()
        t0 = utcnow() - timedelta(days=2)
        sit(s, user_id=inside.id, course_id=cid, at=t0, items=[(a, da["answer"], 1.0), (b, db["answer"], 1.0)])
        sit(s, user_id=inside.id, course_id=cid, at=t0 + timedelta(days=1), items=[(a, not da["answer"], 0.0), (b, db["answer"], 1.0)])
        sit(s, user_id=outside.id, course_id=cid, at=t0, items=[(a, not da["answer"], 0.0), (b, not db["answer"], 0.0)])
    with session_scope() as s:
        assert ir.item_report(s, system_actor(), course_id=cid).test.attempts == 3
        mine = ir.item_report(s, district, course_id=cid)
        assert mine.test.attempts == 2 and mine.kind == "quiz"
        first = ir.item_report(s, district, course_id=cid, which="first")
        assert first.test.attempts == 1
        assert {i.question_id: i.facility for i in first.items} == {a: 1.0, b: 1.0}
        quiz = next(o for o in ir.sources(s, district) if o.key == f"quiz:{cid}")
        assert quiz.attempts == 2
        # a course whose audience is another district's is not theirs
        s.get(Course, cid).audience = [tree["district2"]]
        s.flush()
        with pytest.raises(PermissionDenied):
            ir.item_report(s, district, course_id=cid)
        assert f"quiz:{cid}" not in [o.key for o in ir.sources(s, district)]


def test_an_attempt_through_the_exam_engine_is_analysed(make_user, tree):
    learner = make_user("learner", unit="town")
    with session_scope() as s:
        _, qs = add_questions(s, [("true_false", 0), ("single_choice", 2)])
        exam_id = exams.create_exam(s, system_actor(), exam_in=exams.ExamIn(
            title="真考", question_ids=[q for q, _ in qs], audience_units=[tree["district"]], attempts_allowed=2))
        exams.publish_exam(s, system_actor(), exam_id=exam_id)
    with session_scope() as s:
        attempt_id = exams.start_exam(s, learner, exam_id=exam_id)
    with session_scope() as s:
        view = attempt_service.attempt_view(s, learner, attempt_id=attempt_id)
        for item in view.items:
            if item.question["type"] == "true_false":
                attempt_service.save_answer(s, learner, item_id=item.item_id, response=True)   # the key (key 0)
            # the single-choice question stays unanswered
        attempt_service.submit_attempt(s, learner, attempt_id=attempt_id)
    with session_scope() as s:
        rep = ir.item_report(s, system_actor(), exam_id=exam_id)
        by = {i.question_id: i for i in rep.items}
        assert rep.test.attempts == 1 and by[qs[0][0]].facility == 1.0 and by[qs[1][0]].facility == 0.0
        opts = ir.option_analysis(s, system_actor(), rep, qs[1][0])
        assert {r.option: r.all for r in opts.rows}[None] == 1


def test_the_cache_key_changes_when_an_attempt_is_graded_or_retotalled(make_user, tree):
    learner = make_user("learner")
    with session_scope() as s:
        _, qs = add_questions(s, [("true_false", 0)])
        exam_id = exams.create_exam(s, system_actor(), exam_in=exams.ExamIn(title="版本", question_ids=[qs[0][0]],
                                                                             audience_units=[tree["district"]]))
        v0 = ir.data_version(s, exam_id=exam_id)
        sit(s, user_id=learner.id, exam_id=exam_id, status="in_progress", items=[(qs[0][0], None, None)])
        assert ir.data_version(s, exam_id=exam_id) == v0               # open attempts are not analysed
        a = sit(s, user_id=learner.id, exam_id=exam_id, items=[(qs[0][0], True, 1.0)])
        v1 = ir.data_version(s, exam_id=exam_id)
        assert v1 != v0
        s.get(Attempt, a).score = 0.0                                    # a regrade re-totals it
        s.flush()
        assert ir.data_version(s, exam_id=exam_id) != v1


def test_rows_grouped_by_attempt_or_by_question_give_the_same_numbers():
    """The array engine has a fast path for rows grouped by attempt (the database's order) and a general
    one; attempts keep their order of first appearance either way (it breaks ties in the 27 % groups)."""
    df = read_responses_csv((FIX / "stats00_responses.csv").read_bytes())
    ids = {a: i for i, a in enumerate(dict.fromkeys(df["attempt_id"]))}
    by_question = df.assign(k=df["attempt_id"].map(ids)).sort_values(["question_id", "k"], kind="stable").drop(columns="k")
    assert not by_question["attempt_id"].map(ids).is_monotonic_increasing

    def run(d):
        order = list(dict.fromkeys(d["question_id"]))
        got = ir.analyse_arrays(np.array([ids[a] for a in d["attempt_id"]]), order,
                                np.array([order.index(q) for q in d["question_id"]]),
                                d["mark"].to_numpy(float), d["max_mark"].to_numpy(float))[0].as_json()
        return got["test"], {i["question_id"]: i for i in got["items"]}
    grouped, general = run(df), run(by_question)
    ref = analyse(df).as_json()
    assert close(grouped, general) and close(grouped, (ref["test"], {i["question_id"]: i for i in ref["items"]}))
