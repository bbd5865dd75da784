"""The exact per-person-year totals (models.rollups.PersonYearTotal) after real service operations:
exams started and submitted on both sides of the year boundary in UTC+8, the deadline sweep, an essay
graded, a regrade, a course completed, a person moving units. After them the table equals a full
recomputation from the raw rows without the safety net having to rebuild anything, and the HR
dashboard's figures are the same read from the table and from the raw rows."""
from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlmodel import select

from models import Attempt, CourseCompletion, Lesson, QuestionVersion, RoleGrant
from models.db import session_scope
from models.rollups import PersonYearTotal
from services import attempts, exams, learning, users
from services.analytics import dashboard as dash
from services.analytics import rollups
from services.grading import correct_response
from services.permissions import load_actor, system_actor
from tests.unit.examkit import Clock, correct_key, exam_in, make_questions, published


def _table(s) -> dict[tuple[int, int], tuple]:
    return {(r.user_id, r.year): (r.exam_attempts, r.exam_passed, round(r.exam_score_sum, 9), r.done)
            for r in s.exec(select(PersonYearTotal)).all()}


def _recomputed(s) -> dict[tuple[int, int], tuple]:
    out = {}
    for year in rollups._years(s):
        for user_id, y, n, p, sc, d in s.execute(rollups._year_select(year)).all():
            if n or d:
                out[(user_id, y)] = (int(n), int(p), round(float(sc), 9), int(d))
    return out


def _key(s, item_id):
    from models import AttemptItem
    return correct_response(s.get(QuestionVersion, s.get(AttemptItem, item_id).question_version_id).data)


def _take(actor, exam_id, right=True, submit=True) -> int:
    with session_scope() as s:
        attempt_id = exams.start_exam(s, actor, exam_id=exam_id)
    with session_scope() as s:
        for it in attempts.attempt_view(s, actor, attempt_id=attempt_id).items:
            response = ("我的论述" if it.question["type"] == "essay"
                        else (_key(s, it.item_id) if right else not _key(s, it.item_id)))
            attempts.save_answer(s, actor, item_id=it.item_id, response=response, expected_version=0)
        if submit:
            attempts.submit_attempt(s, actor, attempt_id=attempt_id)
    return attempt_id


def _board(s, hr, year, unit_id=None):
    b = dash.dashboard(s, hr, dash.Filters(year=year, unit_id=unit_id))
    return ({k: (v.value, v.previous) for k, v in b.kpis.items()}, b.units.reset_index(drop=True),
            b.distribution, b.heatmap)


def _same_boards(x, y):
    assert x[0].keys() == y[0].keys()
    for k in x[0]:
        for u, v in zip(x[0][k], y[0][k]):
            assert (u is None and v is None) or u == pytest.approx(v, rel=1e-12), k
    for a, b in zip(x[1:], y[1:]):
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)


def test_service_operations_keep_the_totals_exact_and_the_dashboard_unchanged(make_user, tree, monkeypatch):
    clock = Clock(monkeypatch)
    clock.now = datetime(2025, 12, 31, 15, 40, tzinfo=UTC)        # 23:40 on 31 December in the city
    with session_scope() as s:          # other tests wrote raw rows: start from an exact table
        rollups.rebuild(s)
    a, b, c, d = (make_user("learner") for _ in range(4))
    hr = make_user("learner", unit="district")
    with session_scope() as s:
        s.add(RoleGrant(user_id=hr.id, role="hr", scope_unit_id=tree["district"]))
        s.flush()
        hr = load_actor(s, hr.id)
    cat, ids = make_questions(2, "true_false")
    tf_exam = published(exam_in(cat, count=2, audience_units=[tree["district"]], time_limit_minutes=10,
                                pass_percent=100, attempts_allowed=3))
    ecat, _ = make_questions(1, "essay", points=10)
    make_questions(1, "true_false", category=ecat)
    essay_exam = published(exam_in(ecat, audience_units=[tree["district"]], pass_percent=60,
                                   rules=[{"type": "essay", "category": ecat, "count": 1},
                                          {"type": "true_false", "category": ecat, "count": 1}]))

    a1 = _take(a, tf_exam)                                  # 2025 (23:40 local), passed
    clock.advance(minutes=15)                               # 23:55 local
    b1 = _take(b, tf_exam, right=False, submit=False)       # left open; the deadline falls in 2026
    clock.advance(minutes=19, seconds=59)                   # 00:14:59 on 1 January 2026 local
    c1 = _take(c, essay_exam)                               # pending grading: not counted yet
    with session_scope() as s:
        assert s.get(Attempt, a1).status == "submitted" and s.get(Attempt, c1).status == "pending_grading"
    clock.advance(seconds=2)
    with session_scope() as s:                              # the deadline sweep closes b's attempt in 2026
        assert attempts.sweep_overdue(s, system_actor()) >= 1
    with session_scope() as s:
        got = _table(s)
        assert got[(a.id, 2025)][:2] == (1, 1) and (a.id, 2026) not in got
        assert got[(b.id, 2026)][:2] == (1, 0) and (b.id, 2025) not in got
        assert s.get(Attempt, b1).auto_submitted
        assert (c.id, 2026) not in got
        task = next(t for t in attempts.grading_queue(s, system_actor(), exam_id=essay_exam) if t.attempt_id == c1)
    grader = make_user(("trainer", "district"), unit="district")
    with session_scope() as s:                              # graded: 7 of 10 + 1 of 1 -> passed
        attempts.grade_essay(s, grader, item_id=task.item_id, rubric_scores=[4, 3])
    with session_scope() as s:
        assert _table(s)[(c.id, 2026)][:2] == (1, 1)
    a2 = _take(a, tf_exam)                                  # a second sitting, 2026
    with session_scope() as s:                              # a corrected key: a's right answers become wrong
        old = s.exec(select(QuestionVersion).where(QuestionVersion.question_id == ids[0])).one()
        correct_key(ids[0], old.data, s)
    with session_scope() as s:
        exams.regrade_exam(s, system_actor(), exam_id=tf_exam, question_id=ids[0])
    with session_scope() as s:
        assert s.get(Attempt, a1).passed is False and s.get(Attempt, a2).passed is False
        got = _table(s)
        assert got[(a.id, 2025)][:3] == (1, 0, 50.0) and got[(a.id, 2026)][:3] == (1, 0, 50.0)
    with session_scope() as s:                              # d completes a course (lessons + quiz) in 2026
        for ls in s.exec(select(Lesson).where(Lesson.course_id == "egov", Lesson.active)).all():
            learning.complete_lesson(s, d, lesson_id=ls.id)
        quiz = learning.start_quiz(s, d, course_id="egov")
        for item in learning.quiz_view(s, d, attempt_id=quiz).items:
            learning.save_answer(s, d, item_id=item.item_id, response=_key(s, item.item_id),
                                 expected_version=item.version)
        learning.submit_quiz(s, d, attempt_id=quiz)
    with session_scope() as s:
        assert _table(s)[(d.id, 2026)] == (0, 0, 0.0, 1)
        users.update_user(s, system_actor(), user_id=b.id, name="搬走的人", unit_id=tree["town"])   # moves unit

    with session_scope() as s:
        assert _table(s) == _recomputed(s)
        assert rollups.ensure_fresh(s) is True       # nothing bypassed the hooks
        with_table = [_board(s, hr, y, u) for y in (2025, 2026) for u in (None, tree["town"])]
    monkeypatch.setattr(dash, "PERSON_ROLLUP", False)
    with session_scope() as s:
        raw = [_board(s, hr, y, u) for y in (2025, 2026) for u in (None, tree["town"])]
    for x, y in zip(with_table, raw):
        _same_boards(x, y)
    assert with_table[2][0]["exam_pass_rate"][0] is not None and with_table[2][0]["completion"][0]   # 2026 had both


def test_a_writer_that_bypasses_the_services_is_caught_and_the_table_rebuilt(make_user):
    a = make_user("learner")
    with session_scope() as s:
        rollups.rebuild(s)
        assert rollups.ensure_fresh(s) is True
        s.add(Attempt(user_id=a.id, kind="exam", status="submitted", score=3, max_score=4, passed=True,
                      submitted_at=datetime(2025, 12, 31, 16, 0, tzinfo=UTC)))      # 1 January 2026 local
        s.flush()
        assert rollups.ensure_fresh(s) is False                    # found, rebuilt
        assert _table(s)[(a.id, 2026)] == (1, 1, 75.0, 0)
        assert rollups.ensure_fresh(s) is True
        s.add(CourseCompletion(user_id=a.id, course_id="egov", completed_at=datetime(2025, 6, 1, tzinfo=UTC)))
        s.flush()
        assert rollups.ensure_fresh(s) is False
        assert _table(s)[(a.id, 2025)] == (0, 0, 0.0, 1) and _table(s) == _recomputed(s)
