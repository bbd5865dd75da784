"""Weak topics (services/analytics/weak_topics.py): unit x category facility with n, rolled up to a level
of the tree, within the trainer's scope."""
import uuid

import pytest

from models import Question, QuestionVersion
from models.db import session_scope
from services.analytics import weak_topics as wt
from services.errors import PermissionDenied
from services.interchange import content_hash
from services.permissions import system_actor
from tests.unit.examkit import record
from tests.unit.test_item_report import sit


@pytest.fixture(scope="module")
def topics(make_user_module, tree):
    """Two categories of their own; learners in the town, the village below it, and another district."""
    root = f"弱项{uuid.uuid4().hex[:6]}"
    cats = [f"{root}/网络/基础", f"{root}/安全/法规"]
    with session_scope() as s:
        qs = []
        for cat in cats:
            for _ in range(2):
                qid = f"wt-{uuid.uuid4().hex[:10]}"
                data = record(qid, "true_false", cat)
                s.add(Question(id=qid, current_version=1))
                s.flush()
                s.add(QuestionVersion(question_id=qid, version=1, type="true_false", category=cat, points=1,
                                      data=data, content_hash=content_hash(data)))
                qs.append(qid)
        s.flush()
    town, village, other = (make_user_module("learner", unit=u) for u in ("town", "village", "district2"))
    with session_scope() as s:
        net1, net2, sec1, sec2 = qs
        # town learner: 网络 2/2, 安全 0/2; village learner: 网络 1/2, 安全 1/2; other district: all right
        sit(s, user_id=town.id, course_id=None, items=[(net1, True, 1.0), (net2, True, 1.0), (sec1, False, 0.0), (sec2, False, 0.0)],
            exam_id=None)
        sit(s, user_id=village.id, items=[(net1, True, 1.0), (net2, False, 0.0), (sec1, True, 1.0), (sec2, False, 0.0)])
        sit(s, user_id=other.id, items=[(q, True, 1.0) for q in qs])
        sit(s, user_id=other.id, status="in_progress", items=[(net1, None, None)])    # not graded: left out
    return {"root": root, "cats": cats}


def mine(result, root):
    return {(c.unit_id, c.category): c for c in result.cells if c.category.startswith(root)}


def test_a_district_trainer_sees_their_towns_by_category(topics, make_user, tree):
    trainer = make_user(("trainer", "district"))
    root = topics["root"]
    with session_scope() as s:
        r = wt.weak_topics(s, trainer, category_depth=2)       # default level: just below the district
    cells = mine(r, root)
    assert set(cells) == {(tree["town"], f"{root}/网络"), (tree["town"], f"{root}/安全")}   # the village rolls up
    net, sec = cells[(tree["town"], f"{root}/网络")], cells[(tree["town"], f"{root}/安全")]
    assert (net.facility, net.n, net.learners) == (pytest.approx(0.75), 4, 2)
    assert (sec.facility, sec.n, sec.learners) == (pytest.approx(0.25), 4, 2)
    weakest = [c for c in r.cells if c.category.startswith(root)]
    assert weakest[0] is sec                                   # weakest first
    assert tree["district2"] not in {c.unit_id for c in r.cells}


def test_levels_and_under_and_category_depth(topics, tree):
    root = topics["root"]
    with session_scope() as s:
        by_district = mine(wt.weak_topics(s, system_actor(), depth=1, category_depth=1), root)
        villages = mine(wt.weak_topics(s, system_actor(), depth=3, under=tree["town"], category_depth=3), root)
        levels = wt.levels(s, system_actor())
    assert by_district[(tree["district"], root)].facility == pytest.approx(0.5)
    assert by_district[(tree["district2"], root)].facility == pytest.approx(1.0)
    assert by_district[(tree["district2"], root)].n == 4                        # the open attempt is not counted
    # under the town at village level: the town's own learner stays in the town's row
    assert villages[(tree["village"], topics["cats"][0])].facility == pytest.approx(0.5)
    assert villages[(tree["town"], topics["cats"][1])].facility == pytest.approx(0.0)
    assert any(d == 3 and "village" in kinds for d, kinds in levels)


def test_another_districts_unit_is_refused(topics, make_user, tree):
    trainer = make_user(("trainer", "district2"))
    with session_scope() as s:
        with pytest.raises(PermissionDenied):
            wt.weak_topics(s, trainer, under=tree["town"])
        assert not mine(wt.weak_topics(s, trainer, depth=1), topics["root"]).keys() - {(tree["district2"], topics["root"])}
    learner = make_user("learner")
    with session_scope() as s, pytest.raises(PermissionDenied):
        wt.weak_topics(s, learner)


def test_the_cache_key_changes_with_a_graded_attempt(topics, make_user):
    learner = make_user("learner")
    with session_scope() as s:
        before = wt.data_version(s)
        from sqlmodel import select
        qid = s.exec(select(QuestionVersion.question_id).where(QuestionVersion.category == topics["cats"][0])).first()
        sit(s, user_id=learner.id, items=[(qid, True, 1.0)])
        assert wt.data_version(s) != before


def test_one_course_quiz_or_one_exam_only(make_user, tree):
    from models import Course
    from services import exams
    learner = make_user("learner", unit="town")
    district = make_user(("trainer", "district"))
    root = f"课{uuid.uuid4().hex[:6]}"
    with session_scope() as s:
        qid = f"wt-{uuid.uuid4().hex[:10]}"
        data = record(qid, "true_false", f"{root}/一")
        s.add(Question(id=qid, current_version=1))
        s.flush()
        s.add(QuestionVersion(question_id=qid, version=1, type="true_false", category=f"{root}/一", points=1, data=data,
                              content_hash=content_hash(data)))
        cid = f"wt{uuid.uuid4().hex[:8]}"
        s.add(Course(id=cid, title="弱项课程", category="测试", quiz={"title": "测验", "pass_percent": 60, "draw": []}))
        s.flush()
        exam_id = exams.create_exam(s, system_actor(), exam_in=exams.ExamIn(title="弱项考试", question_ids=[qid],
                                                                             audience_units=[tree["district"]]))
        sit(s, user_id=learner.id, course_id=cid, items=[(qid, True, 1.0)])
        sit(s, user_id=learner.id, exam_id=exam_id, items=[(qid, False, 0.0)])
    with session_scope() as s:
        quiz = mine(wt.weak_topics(s, district, course_id=cid), root)
        exam = mine(wt.weak_topics(s, district, exam_id=exam_id), root)
        both = mine(wt.weak_topics(s, district), root)
        assert [c.facility for c in quiz.values()] == [1.0] and [c.facility for c in exam.values()] == [0.0]
        assert [c.facility for c in both.values()] == [0.5]
        s.get(Course, cid).audience = [tree["district2"]]
        s.flush()
        with pytest.raises(PermissionDenied):
            wt.weak_topics(s, district, course_id=cid)
