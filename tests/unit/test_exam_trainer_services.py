"""What the trainer's exam pages read (services/exams.py): attempt counts per exam, people for the audience
inside the trainer's scope only, audience labels, grading progress with blank essays, the questions of the
drawn papers, and the audit rows of one exam only."""
import pytest
from sqlmodel import select

from models import AttemptItem, QuestionVersion
from models.db import session_scope
from services import attempts, exams
from services.errors import PermissionDenied
from services.grading import correct_response
from tests.unit.examkit import correct_key, exam_in, make_questions


def sit(actor, exam_id, *, essay=None, submit=True):
    with session_scope() as s:
        attempt_id = exams.start_exam(s, actor, exam_id=exam_id)
        for it in attempts.attempt_view(s, actor, attempt_id=attempt_id).items:
            data = s.get(QuestionVersion, s.get(AttemptItem, it.item_id).question_version_id).data
            if data["type"] == "essay":
                if essay:
                    attempts.save_answer(s, actor, item_id=it.item_id, response=essay, expected_version=it.version)
            else:
                attempts.save_answer(s, actor, item_id=it.item_id, response=correct_response(data), expected_version=it.version)
        if submit:
            attempts.submit_attempt(s, actor, attempt_id=attempt_id)
    return attempt_id


@pytest.fixture
def essay_exam(make_user, tree):
    trainer = make_user(("trainer", "district"), unit="district")
    cat, _ = make_questions(1, "essay", points=10)
    _, tf = make_questions(2, "true_false", category=cat)
    with session_scope() as s:
        exam_id = exams.create_exam(s, trainer, exam_in=exam_in(cat, audience_units=[tree["district"]], rules=[
            {"type": "essay", "category": cat, "count": 1}, {"type": "true_false", "category": cat, "count": 2}]))
        exams.publish_exam(s, trainer, exam_id=exam_id)
    return trainer, exam_id, tf


def test_rows_count_attempts_per_status_and_progress_counts_blank_essays(make_user, essay_exam):
    trainer, exam_id, _ = essay_exam
    a, b, c, d = (make_user("learner", unit="town") for _ in range(4))
    sit(a, exam_id, essay="论述一")
    sit(b, exam_id, essay="论述二")
    sit(c, exam_id)                        # blank essay: settled with 0 for it
    sit(d, exam_id, submit=False)          # still in progress
    with session_scope() as s:
        (row,) = [r for r in exams.exam_rows(s, trainer) if r.exam.id == exam_id]
        assert (row.attempts, row.learners, row.in_progress, row.pending, row.submitted) == (4, 4, 1, 2, 1)
        assert row.passed == 0             # 2 of 12 is below 60 %
        p = exams.grading_progress(s, trainer, exam_id=exam_id)
        assert (p.essays, p.blank, p.waiting, p.graded, p.attempts_pending) == (3, 1, 2, 0, 2)
        assert p.done_fraction == 0
        task = attempts.grading_queue(s, trainer, exam_id=exam_id)[0]
        attempts.grade_essay(s, trainer, item_id=task.item_id, score=8)
    with session_scope() as s:
        p = exams.grading_progress(s, trainer, exam_id=exam_id)
        assert (p.waiting, p.graded, p.attempts_pending, p.done_fraction) == (1, 1, 1, 0.5)


def test_audience_people_stay_inside_the_trainers_scope(make_user, tree):
    trainer = make_user(("trainer", "district"), unit="district")
    inside = make_user("learner", unit="village")
    outside = make_user("learner", unit="district2")
    with session_scope() as s:
        found = {p.id for p in exams.audience_people(s, trainer, text=inside.username)}
        assert found == {inside.id}
        assert exams.audience_people(s, trainer, text=outside.username) == []
        assert [p.id for p in exams.audience_people(s, trainer, ids=[inside.id, outside.id])] == [inside.id]
        assert exams.audience_people(s, trainer, text="") == []
        assert exams.audience_people(s, trainer, text="%") == []          # a literal %, not a wildcard
    with pytest.raises(PermissionDenied):
        with session_scope() as s:
            exams.audience_people(s, inside, text="x")


def test_audience_labels_name_units_and_people(make_user, tree):
    trainer = make_user(("trainer", "district"), unit="district")
    person = make_user("learner", unit="village")
    cat, _ = make_questions(2, "true_false")
    with session_scope() as s:
        e1 = exams.create_exam(s, trainer, exam_in=exam_in(cat, count=2, audience_units=[tree["town"]]))
        e2 = exams.create_exam(s, trainer, exam_in=exam_in(cat, count=2, audience_users=[person.id]))
        pub = [exams.get_exam(s, trainer, exam_id=e) for e in (e1, e2)]
        labels = exams.audience_labels(s, trainer, exams_=pub)
    assert labels[e1] == (["测试市 / 测试区 / 测试镇"], [])
    assert labels[e2][0] == [] and person.username in labels[e2][1][0]


def test_paper_questions_and_the_audit_of_one_exam_only(make_user, essay_exam):
    trainer, exam_id, tf = essay_exam
    learner = make_user("learner", unit="town")
    sit(learner, exam_id, essay="论述")
    with session_scope() as s:
        held = {q.question_id for q in exams.paper_questions(s, trainer, exam_id=exam_id)}
        assert set(tf) <= held and len(held) == 3
        old = s.exec(select(QuestionVersion).where(QuestionVersion.question_id == tf[0])).one().data
        correct_key(tf[0], old, s)
    cat2, _ = make_questions(2, "true_false")
    with session_scope() as s:
        other = exams.create_exam(s, trainer, exam_in=exam_in(cat2, count=2, audience_units=[exams.get_exam(
            s, trainer, exam_id=exam_id).audience_units[0]]))
        exams.regrade_exam(s, trainer, exam_id=exam_id, question_id=tf[0])
    with session_scope() as s:
        rows = exams.exam_audit(s, trainer, exam_id=exam_id)
        assert [r.action for r in rows][:2] == ["exam.regrade", "exam.publish"]
        assert rows[0].detail["question"] == tf[0] and rows[0].username == trainer.username
        assert [r.action for r in exams.exam_audit(s, trainer, exam_id=other)] == ["exam.create"]
        assert [q.version for q in exams.paper_questions(s, trainer, exam_id=exam_id) if q.question_id == tf[0]] == [2]
