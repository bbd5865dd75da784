"""services/papers.py, the one drawing mechanism: satisfiable without sharing (most specific rule first),
how many distinct papers, stable seeded shuffles, points per rule, usage per purpose, fixed papers, and
the content checker on the same core."""
import math

import pytest
from sqlmodel import select

from models import QuestionVersion
from services import papers
from services.content import rules_satisfiable
from services.interchange import QuestionIn
from tests.unit.examkit import make_questions, record


def test_the_most_specific_rule_is_filled_first_and_no_question_is_shared(session):
    parent, _ = make_questions(6, "single_choice", session=session)
    child, child_ids = make_questions(3, "single_choice", category=parent + "/子类", session=session)
    # 9 questions under parent, 3 of them in the child: "6 of parent" + "3 of child" fits only if the child
    # rule goes first (drawn the other way round, the parent rule could take child questions)
    rules = [{"type": "single_choice", "category": parent, "count": 6},
             {"type": "single_choice", "category": child, "count": 3}]
    check = papers.check_rules(session, rules)
    assert check.ok, check.problems
    assert [(r.pool, r.available) for r in check.rules] == [(9, 6), (3, 3)]
    for seed in range(20):
        paper = papers.draw_paper(session, seed=seed, rules=rules)
        ids = [i.question_id for i in paper.items]
        assert len(ids) == len(set(ids)) == 9
        assert {i.question_id for i in paper.items if i.rule_index == 1} == set(child_ids)
    too_many = [{"type": "single_choice", "category": parent, "count": 7},
                {"type": "single_choice", "category": child, "count": 3}]
    check = papers.check_rules(session, too_many)
    assert not check.ok and check.problems == [f"exam rule needs 7 × single_choice in {parent}, the bank has 6"]
    with pytest.raises(papers.Unsatisfiable):
        papers.draw_paper(session, seed=1, rules=too_many)


def test_difficulty_type_and_usage_decide_the_pool(session):
    cat, _ = make_questions(3, "true_false", difficulty=2, session=session)
    make_questions(2, "true_false", category=cat, difficulty=4, session=session)
    make_questions(4, "true_false", category=cat, usage="practice", session=session)
    make_questions(5, "true_false", category=cat, usage="exam", session=session)
    make_questions(1, "single_choice", category=cat, session=session)
    pool = lambda purpose, **r: papers.check_rules(session, [{"type": "true_false", "category": cat, "count": 1, **r}],  # noqa: E731
                                                   purpose=purpose).rules[0].pool
    assert pool("exam") == 3 + 2 + 5                 # exam and both, never practice-only
    assert pool("quiz") == 3 + 2 + 4                 # practice and both, never exam-only
    assert pool("exam", difficulty=[1, 3]) == 3 + 5
    assert pool("exam", difficulty=4) == 2           # a single level is a range of one
    exam_paper = papers.draw_paper(session, seed=3, rules=[{"type": "true_false", "category": cat, "count": 10}])
    usages = set(session.exec(select(QuestionVersion.usage).where(
        QuestionVersion.id.in_([i.version_id for i in exam_paper.items]))).all())
    assert usages <= {"exam", "both"}


def test_points_set_in_a_rule_are_the_points_on_the_paper(session):
    cat, _ = make_questions(5, "true_false", points=1, session=session)
    paper = papers.draw_paper(session, seed=7, rules=[{"type": "true_false", "category": cat, "count": 4, "points": 2.5}])
    assert [i.points for i in paper.items] == [2.5] * 4 and paper.max_score == 10
    own = papers.draw_paper(session, seed=7, rules=[{"type": "true_false", "category": cat, "count": 4}])
    assert own.max_score == 4
    assert papers.check_rules(session, [{"type": "true_false", "category": cat, "count": 4, "points": 2.5}]).max_score == 10


def test_the_same_seed_gives_the_same_paper_and_order_and_seeds_differ(session):
    cat, _ = make_questions(12, "single_choice", session=session)
    rules = [{"type": "single_choice", "category": cat, "count": 8}]
    shape = lambda p: [(i.question_id, i.option_order) for i in p.items]  # noqa: E731
    assert shape(papers.draw_paper(session, seed=42, rules=rules)) == shape(papers.draw_paper(session, seed=42, rules=rules))
    shapes = {tuple(map(str, shape(papers.draw_paper(session, seed=s, rules=rules)))) for s in range(30)}
    assert len(shapes) == 30                                    # everyone does not get the same paper
    sets = {frozenset(i.question_id for i in papers.draw_paper(session, seed=s, rules=rules).items) for s in range(30)}
    assert len(sets) > 10                                       # C(12, 8) = 495 question sets
    orders = {tuple(i.option_order) for s in range(30) for i in papers.draw_paper(session, seed=s, rules=rules).items}
    assert len(orders) > 1 and all(sorted(o) == [0, 1, 2, 3] for o in orders)
    fixed = papers.draw_paper(session, seed=5, rules=rules, shuffle_questions=False, shuffle_options=False)
    assert all(i.option_order == [0, 1, 2, 3] for i in fixed.items)


def test_how_many_distinct_papers(session):
    a, _ = make_questions(10, "true_false", session=session)
    b, _ = make_questions(6, "single_choice", session=session)
    count = papers.paper_count(session, [{"type": "true_false", "category": a, "count": 3},
                                         {"type": "single_choice", "category": b, "count": 2}])
    assert count.exact == math.comb(10, 3) * math.comb(6, 2) == 1800 and str(count) == "1,800"
    # overlapping pools: the child rule (3 of 4) goes first, the parent rule chooses among the 10 + 4 - 3 left
    child, _ = make_questions(4, "true_false", category=a + "/子", session=session)
    count = papers.paper_count(session, [{"type": "true_false", "category": a, "count": 5},
                                         {"type": "true_false", "category": child, "count": 3}])
    assert count.exact == math.comb(4, 3) * math.comb(14 - 3, 5)
    assert papers.paper_count(session, [{"type": "true_false", "category": a, "count": 15}]).exact == 0
    cat, _ = make_questions(120, "true_false", session=session)
    huge = papers.paper_count(session, [{"type": "true_false", "category": cat, "count": 60}])
    assert huge.exact is None and huge.log10 == pytest.approx(math.log10(math.comb(120, 60)), abs=0.01)
    assert str(huge).startswith("≈10^")


def test_a_fixed_paper_keeps_its_questions(session):
    _, ids = make_questions(4, "true_false", session=session)
    _, practice_only = make_questions(1, "true_false", usage="practice", session=session)
    paper = papers.draw_paper(session, seed=1, question_ids=ids, shuffle_questions=False)
    assert [i.question_id for i in paper.items] == ids and [i.position for i in paper.items] == [1, 2, 3, 4]
    shuffled = papers.draw_paper(session, seed=2, question_ids=ids)
    assert sorted(i.question_id for i in shuffled.items) == sorted(ids)
    assert papers.fixed_problems(session, ids + ["nope"]) == ["no such active question: nope"]
    assert papers.fixed_problems(session, ids + practice_only) == [f"usage does not suit exam: {practice_only[0]}"]
    assert papers.fixed_problems(session, ids + ids[:1])[0].startswith("listed more than once")


def test_the_content_checker_uses_the_same_core():
    cat = "测试检查"
    qs = [QuestionIn.model_validate(record(f"cc-{i}", "true_false", cat + ("/子" if i < 3 else ""))) for i in range(8)]
    rules = [papers.DrawRule(type="true_false", category=cat, count=5),
             papers.DrawRule(type="true_false", category=cat + "/子", count=3)]
    assert rules_satisfiable(qs, rules, "exam") == []
    rules[0] = papers.DrawRule(type="true_false", category=cat, count=6)
    assert rules_satisfiable(qs, rules, "exam") == [f"exam rule needs 6 × true_false in {cat}, the bank has 5"]
    assert rules_satisfiable(qs, [papers.DrawRule(type="true_false", count=1, category="其他")], "quiz")


def test_rules_are_validated():
    with pytest.raises(ValueError):
        papers.DrawRule(type="true_false", count=1, difficulty=(4, 2))
    with pytest.raises(ValueError):
        papers.DrawRule(type="essay", count=0)
    assert papers.DrawRule(type="essay", count=1, category=" 信息安全/ ").category == "信息安全"


def test_pools_kept_between_draws_follow_every_change_of_the_bank(session):
    from models import Question
    from tests.unit.examkit import correct_key
    cat, ids = make_questions(4, "true_false", session=session)
    rules = [{"type": "true_false", "category": cat, "count": 4}]
    first = papers.draw_paper(session, seed=1, rules=rules)          # pools read and kept
    retired = session.get(Question, ids[0])
    retired.active = False
    session.add(retired)
    session.flush()
    assert not papers.check_rules(session, rules).ok                  # the kept pool is not used any more
    paper = papers.draw_paper(session, seed=1, rules=[dict(rules[0], count=3)])
    assert ids[0] not in {i.question_id for i in paper.items}
    old = {i.question_id: i.version_id for i in first.items}
    data = session.exec(select(QuestionVersion.data).where(QuestionVersion.id == old[ids[1]])).one()
    correct_key(ids[1], data, session)                                 # a new version becomes current
    paper = papers.draw_paper(session, seed=2, rules=[dict(rules[0], count=3)])
    drawn = {i.question_id: i.version_id for i in paper.items}
    assert drawn[ids[1]] != old[ids[1]] and drawn[ids[2]] == old[ids[2]]
