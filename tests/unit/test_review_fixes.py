"""Reviewer R1's fixes: what a notebook review hands out of an exam question, the trainer's exam list in a
bounded number of statements, control characters in an exam's rules."""

import uuid

import pytest
from sqlmodel import select

from models import AttemptItem, QuestionVersion
from models.db import session_scope
from services import attempts, exams, notebook, practice
from services.errors import ValidationFailed
from services.permissions import system_actor
from tests.unit.examkit import Clock, exam_in, make_questions, published
from tests.unit.test_notebook import answer_all


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def _by_question(s, view):
    return {s.get(QuestionVersion, s.get(AttemptItem, i.item_id).question_version_id).question_id: i for i in view.items}


@pytest.mark.parametrize("explanations", ["never", "after_close"])
def test_a_review_of_an_exam_only_question_keeps_the_explanation_the_exam_policy_hides(make_user, clock, explanations):
    """An exam shows right answers after submitting but explanations never / only after it closes: its missed
    exam-only questions enter the notebook, and reviewing them must not hand out the explanation (at the
    check, in the open review's view, or once the review is finished)."""
    actor = make_user("learner")
    cat, ids = make_questions(2, "true_false", usage="exam")
    exam_id = published(exam_in(cat, 2, review_answers="after_submit", review_explanations=explanations,
                                closes_at=None))
    with session_scope() as s:
        aid = exams.start_exam(s, actor, exam_id=exam_id)
    answer_all(actor, aid)
    with session_scope() as s:
        attempts.submit_attempt(s, actor, attempt_id=aid)
        exam_view = attempts.attempt_view(s, actor, attempt_id=aid)
        assert exam_view.show_answers and not exam_view.show_explanations
    clock.advance(days=1)
    with session_scope() as s:
        rid = notebook.start_review(s, actor)
    items = answer_all(actor, rid, right={ids[0]})
    with session_scope() as s:
        for qid in ids:
            shown = practice.check_answer(s, actor, item_id=items[qid])
            assert shown.key is not None            # the exam shows right answers already
            assert shown.explanation is None
        view = practice.practice_view(s, actor, attempt_id=rid)
        assert all(i.explanation is None for i in view.items)
        done = practice.finish(s, actor, attempt_id=rid)
        assert all(i.explanation is None for i in done.items)
        # the player's own view of the finished review (attempts.attempt_view) hands out nothing either
        plain = attempts.attempt_view(s, actor, attempt_id=rid)
        assert all(i.key is None and i.explanation is None for i in plain.items)
    if explanations == "after_close":          # once the exam closes, its explanations may show
        with session_scope() as s:
            exams.close_exam(s, system_actor(), exam_id=exam_id)
        with session_scope() as s:
            later = practice.practice_view(s, actor, attempt_id=rid)
            assert all(i.explanation is not None for i in _by_question(s, later).values())


def test_a_review_of_practice_questions_still_shows_the_explanation(make_user, clock):
    actor = make_user("learner")
    cat, ids = make_questions(2, "true_false")
    from tests.unit.test_notebook import in_course
    in_course(ids)
    with session_scope() as s:
        aid = practice.start_practice(s, actor, category=cat, count=2)
    answer_all(actor, aid, check=True)
    clock.advance(days=1)
    with session_scope() as s:
        rid = notebook.start_review(s, actor)
    items = answer_all(actor, rid)
    with session_scope() as s:
        shown = practice.check_answer(s, actor, item_id=items[ids[0]])
        assert shown.key is not None and shown.explanation == f"解析 {ids[0]}"


class Statements:
    """Counts the SQL statements the database engine runs inside the block."""

    def __init__(self):
        self.n = 0

    def _count(self, *_args):
        self.n += 1

    def __enter__(self):
        from sqlalchemy import event

        from models.db import get_engine
        self.engine = get_engine(None)      # the key session_scope() caches it under
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        from sqlalchemy import event
        event.remove(self.engine, "before_cursor_execute", self._count)


def _district_exams(tree, n: int) -> None:
    cat, _ids = make_questions(2, "true_false")
    for i in range(n):
        published(exam_in(cat, 2, title=f"区考试{i}", audience_units=[tree["district"]],
                          rules=[{"type": "true_false", "category": cat, "count": 2, "points": 5}]))
        published(exam_in(cat, 2, title=f"全市考试{i}",
                          rules=[{"type": "true_false", "category": cat, "count": 2, "points": 5}]))


def test_the_trainer_exam_list_and_the_learner_lobby_take_the_same_statements_for_more_exams(make_user, tree):
    """exams.list_exams (the trainer's exams page, grading and results pickers, item analysis) checked each
    exam's audience with its own statements, and exams.lobby each exam's audience units: N+1. (Rules with
    points set: a rule taking the questions' own points still sizes its paper per exam, see the report.)"""
    trainer = make_user(("trainer", "district"))
    learner = make_user("learner", unit="village")
    _district_exams(tree, 1)

    def measure():
        with session_scope() as s, Statements() as trainer_list:
            rows = exams.exam_rows(s, trainer)
        with session_scope() as s, Statements() as lobby:
            got = exams.lobby(s, learner)
        return trainer_list.n, lobby.n, len(rows), len(got.available)
    before = measure()
    _district_exams(tree, 6)
    after = measure()
    assert after[2] == before[2] + 6 and after[3] >= before[3] + 6      # the new district exams are listed
    assert after[0] == before[0]
    assert after[1] == before[1]


@pytest.mark.parametrize("policy, listed", [("never", False), ("after_close", False), ("after_submit", True)])
def test_weak_topics_leave_out_exam_scores_the_review_policy_hides(make_user, clock, policy, listed):
    """practice.weak_topics names a category with the learner's percent score in it: an exam whose scores
    are hidden from the learner (never, or until it closes) must not show them that way."""
    actor = make_user("learner")
    cat, ids = make_questions(3, "true_false", usage="exam")
    exam_id = published(exam_in(cat, 3, review_score=policy, review_answers="never", review_explanations="never"))
    with session_scope() as s:
        aid = exams.start_exam(s, actor, exam_id=exam_id)
    answer_all(actor, aid)
    with session_scope() as s:
        attempts.submit_attempt(s, actor, attempt_id=aid)
        assert (attempts.attempt_view(s, actor, attempt_id=aid).score is not None) is listed
        assert (cat in {w.category for w in practice.weak_topics(s, actor, limit=100)}) is listed
    if policy == "after_close":
        with session_scope() as s:
            exams.close_exam(s, system_actor(), exam_id=exam_id)
        with session_scope() as s:
            assert cat in {w.category for w in practice.weak_topics(s, actor, limit=100)}


def test_item_analysis_sources_take_the_same_statements_for_more_course_quizzes(make_user, tree):
    """item_report.sources read each course quiz's audience with a statement of its own."""
    from models import Course
    from services.analytics import item_report
    trainer = make_user(("trainer", "district"))

    made: list[str] = []

    def add_courses(n):
        with session_scope() as s:
            for i in range(n):
                made.append(f"rq{uuid.uuid4().hex[:8]}")
                s.add(Course(id=made[-1], title=f"审查测验{i}", category="测试",
                             audience=[tree["town"]], quiz={"rules": [{"type": "true_false", "count": 1}]}))
    try:
        add_courses(1)
        with session_scope() as s, Statements() as before:
            n_before = len(item_report.sources(s, trainer))
        add_courses(5)
        with session_scope() as s, Statements() as after:
            n_after = len(item_report.sources(s, trainer))
        assert n_after == n_before + 5
        assert after.n == before.n
    finally:                      # other tests count the course quizzes
        with session_scope() as s:
            for cid in made:
                s.delete(s.get(Course, cid))


def test_the_lobby_sizes_fixed_papers_and_repeated_rule_sets_in_the_same_statements(make_user, tree):
    """exams.lobby sized every exam's paper with statements of its own (a fixed paper's points, a rule set
    taking the questions' own points through check_rules)."""
    learner = make_user("learner", unit="village")
    cat, ids = make_questions(3, "true_false", points=2)

    def add(n):
        for i in range(n):
            published(exam_in(cat, 3, title=f"固定卷{i}", rules=None, question_ids=ids, audience_units=[tree["district"]]))
            published(exam_in(cat, 3, title=f"规则卷{i}", audience_units=[tree["district"]]))
    add(1)
    with session_scope() as s:
        exams.lobby(s, learner)          # warm: what a first reading does once (other tests' exams too)
    with session_scope() as s, Statements() as before:
        got = exams.lobby(s, learner)
    mine = [c for c in got.available if c.title in ("固定卷0", "规则卷0")]
    assert sorted((c.questions, c.max_score) for c in mine) == [(3, 6.0), (3, 6.0)]
    add(4)
    with session_scope() as s, Statements() as after:
        got = exams.lobby(s, learner)
    assert len(got.available) >= len(mine) + 8
    assert after.n == before.n


def test_the_home_pages_due_count_does_not_reread_exams_whose_misses_are_in(make_user, clock):
    """notebook.sync (run by the home page's due count and the notebook) picked up again, on every page,
    each exam attempt holding an unanswered item (scored 0 < points, never logged) and re-rated every
    miss of it: statements per exam ever sat."""
    actor = make_user("learner")

    def sit_exam():
        cat, ids = make_questions(3, "true_false")
        exam_id = published(exam_in(cat, 3, review_answers="after_submit", review_explanations="after_submit"))
        with session_scope() as s:
            aid = exams.start_exam(s, actor, exam_id=exam_id)
            rows = s.exec(select(AttemptItem).where(AttemptItem.attempt_id == aid).order_by(AttemptItem.position)).all()
            for item in rows[:2]:                       # two answered wrong, one left blank
                v = s.get(QuestionVersion, item.question_version_id)
                attempts.save_answer(s, actor, item_id=item.id, response=not v.data["answer"])
            attempts.submit_attempt(s, actor, attempt_id=aid)
    sit_exam()
    with session_scope() as s:
        notebook.due_count(s, actor)
    with session_scope() as s, Statements() as before:
        notebook.due_count(s, actor)
    for _ in range(4):
        sit_exam()
    with session_scope() as s:
        assert notebook.due_count(s, actor) == 0        # misses are due tomorrow
    with session_scope() as s:
        assert len(notebook.notebook(s, actor).entries) == 10     # two misses of each of five exams
    with session_scope() as s, Statements() as after:
        notebook.due_count(s, actor)
    assert after.n == before.n


def test_rating_choices_of_a_review_match_each_items_choice_in_the_same_statements(make_user, clock):
    """The notebook page asked rating_choice once per checked item (statements per item on every rerun);
    rating_choices gives the same choices for the whole review at once, and only to its owner."""
    from services.errors import PermissionDenied
    from tests.unit.test_notebook import in_course
    actor = make_user("learner")
    other = make_user("learner")
    cat, ids = make_questions(6, "true_false")
    in_course(ids)
    with session_scope() as s:
        aid = practice.start_practice(s, actor, category=cat, count=6)
    answer_all(actor, aid, check=True)
    clock.advance(days=1)
    with session_scope() as s:
        rid = notebook.start_review(s, actor)
    items = answer_all(actor, rid, right=set(ids[:3]))
    with session_scope() as s:
        for qid in ids[:2]:
            practice.check_answer(s, actor, item_id=items[qid])
    with session_scope() as s, Statements() as few:
        two = notebook.rating_choices(s, actor, attempt_id=rid)
    with session_scope() as s:
        for qid in ids[2:]:
            practice.check_answer(s, actor, item_id=items[qid])
    with session_scope() as s, Statements() as many:
        six = notebook.rating_choices(s, actor, attempt_id=rid)
    assert len(two) == 2 and len(six) == 6 and many.n == few.n
    with session_scope() as s:
        for item_id, choice in six.items():
            assert choice == notebook.rating_choice(s, actor, item_id=item_id)
        with pytest.raises(PermissionDenied):
            notebook.rating_choices(s, other, attempt_id=rid)


@pytest.mark.parametrize("where", ["category", "question"])
def test_control_characters_in_an_exams_paper_are_refused_as_such(where):
    """An exam's rules and fixed questions are stored (and echoed in the refusal): a control character in a
    rule's category or a question id is refused by clean_text, not passed on as "the bank cannot satisfy
    category 'a\\x00b'"."""
    cat, ids = make_questions(2, "true_false")
    spec = (exam_in(cat, 2, rules=[{"type": "true_false", "category": cat + "\x00", "count": 2}]) if where == "category"
            else exam_in(cat, 2, rules=None, question_ids=[ids[0], ids[1] + "\x1b"]))
    with session_scope() as s:
        with pytest.raises(ValidationFailed) as caught:
            exams.create_exam(s, system_actor(), exam_in=spec)
    assert caught.value.code == "error.control_chars" and caught.value.params["field"] == where
