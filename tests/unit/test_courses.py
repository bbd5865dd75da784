"""Course authoring: fields and audience within the trainer's scope, lessons with honest minutes,
attachments by content hash, quiz rules checked against the bank, packages in and out."""
import io
import uuid
import zipfile

import pytest
import yaml

from models import Lesson, LessonProgress
from models.db import session_scope
from services import courses, learning
from services.courses import CourseIn
from services.errors import NotFound, PermissionDenied, ValidationFailed

BODY = "# 第一节\n\n" + "乌海市信息化建设的示例文字。" * 200 + "\n\n## 小结\n\n要点。"   # about 2,800 characters


def slug():
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture
def city_trainer(make_user):
    return make_user("trainer", unit="dept")      # a grant without a unit: the whole organisation


@pytest.fixture
def district_trainer(make_user):
    return make_user(("trainer", "district"), unit="district")


def test_learner_cannot_author(make_user, session):
    learner = make_user("learner")
    with pytest.raises(PermissionDenied):
        courses.create_course(session, learner, course_id=slug(), course_in=CourseIn("x", "y"))


def test_create_edit_and_list(session, city_trainer):
    cid = courses.create_course(session, city_trainer, course_id=slug(),
                                course_in=CourseIn("数据安全实务", "信息安全", objectives=["理解分类分级", " "]))
    courses.update_course(session, city_trainer, course_id=cid,
                          course_in=CourseIn("数据安全实务（2026版）", "信息安全", required=True, summary="简介"))
    row = next(c for c in courses.list_courses(session, city_trainer) if c["id"] == cid)
    assert row["title"] == "数据安全实务（2026版）" and row["required"] and row["lessons"] == 0
    with pytest.raises(ValidationFailed):
        courses.create_course(session, city_trainer, course_id=cid, course_in=CourseIn("重复", "x"))
    with pytest.raises(ValidationFailed):
        courses.create_course(session, city_trainer, course_id="Bad Id!", course_in=CourseIn("x", "y"))
    with pytest.raises(ValidationFailed):
        courses.create_course(session, city_trainer, course_id=slug(), course_in=CourseIn("名称\x00", "y"))


def test_audience_is_limited_to_the_trainers_scope(session, district_trainer, tree):
    with pytest.raises(PermissionDenied):      # "everyone" is more than a district
        courses.create_course(session, district_trainer, course_id=slug(), course_in=CourseIn("区课程", "c"))
    with pytest.raises(PermissionDenied):
        courses.create_course(session, district_trainer, course_id=slug(),
                              course_in=CourseIn("区课程", "c", audience=[tree["district2"]]))
    cid = courses.create_course(session, district_trainer, course_id=slug(),
                                course_in=CourseIn("区课程", "c", audience=[tree["town"]]))
    assert courses.course_for_edit(session, district_trainer, course_id=cid).audience == [tree["town"]]


def test_audience_decides_who_sees_the_course(session, city_trainer, make_user, tree):
    inside = make_user("learner", unit="village")      # people first: the test's session then holds the write lock
    outside = make_user("learner", unit="district2")
    cid = courses.create_course(session, city_trainer, course_id=slug(), course_in=CourseIn("镇课程", "c", audience=[tree["town"]]))
    assert courses.course_visible_to(session, inside, cid) and not courses.course_visible_to(session, outside, cid)


def test_lesson_minutes_are_capped_at_a_quarter_above_the_estimate(session, city_trainer):
    cid = courses.create_course(session, city_trainer, course_id=slug(), course_in=CourseIn("c", "c"))
    est, cap = courses.max_minutes(BODY, 0, 0)
    assert 8 < est < 11 and cap == int(1.25 * est)
    lid = courses.save_lesson(session, city_trainer, course_id=cid, title="第一节", body_md=BODY)
    assert session.get(Lesson, lid).minutes == round(est)
    with pytest.raises(ValidationFailed) as exc:
        courses.save_lesson(session, city_trainer, course_id=cid, lesson_id=lid, title="第一节", body_md=BODY, minutes=cap + 1)
    assert exc.value.params["cap"] == cap
    courses.save_lesson(session, city_trainer, course_id=cid, lesson_id=lid, title="第一节", body_md=BODY, minutes=cap)
    with pytest.raises(ValidationFailed):
        courses.save_lesson(session, city_trainer, course_id=cid, title="坏", body_md="正文<script>alert(1)</script>")


def test_retired_lessons_keep_progress_and_ids(session, city_trainer, make_user):
    learner = make_user("learner")
    cid = courses.create_course(session, city_trainer, course_id=slug(), course_in=CourseIn("c", "c"))
    l1 = courses.save_lesson(session, city_trainer, course_id=cid, title="一", body_md=BODY)
    l2 = courses.save_lesson(session, city_trainer, course_id=cid, title="二", body_md=BODY)
    learning.record_study(session, learner, lesson_id=l1)
    courses.move_lesson(session, city_trainer, lesson_id=l2, delta=-1)
    assert [ls.id for ls in courses.course_for_edit(session, city_trainer, course_id=cid).lessons] == [l2, l1]
    courses.set_lesson_active(session, city_trainer, lesson_id=l1, active=False)
    assert session.get(Lesson, l1) is not None and not session.get(Lesson, l1).active
    assert session.exec(__import__("sqlmodel").select(LessonProgress).where(LessonProgress.lesson_id == l1)).first()
    l3 = courses.save_lesson(session, city_trainer, course_id=cid, title="三", body_md=BODY)
    assert l3 not in (l1, l2)


def _mp4(seconds: int) -> bytes:
    import struct
    mvhd = b"mvhd" + bytes([0, 0, 0, 0]) + b"\0" * 8 + struct.pack(">II", 1000, seconds * 1000) + b"\0" * 80
    return struct.pack(">I", 24) + b"ftypisom" + b"\0" * 12 + struct.pack(">I", len(mvhd) + 4) + mvhd


def test_attachments_by_type_from_bytes_and_hash(session, city_trainer, make_user):
    learner = make_user("learner")
    cid = courses.create_course(session, city_trainer, course_id=slug(), course_in=CourseIn("c", "c"))
    lid = courses.save_lesson(session, city_trainer, course_id=cid, title="一", body_md=BODY)
    pdf = b"%PDF-1.4\n" + b"x" * 1000
    f1 = courses.attach_file(session, city_trainer, lesson_id=lid, name="讲义.pdf", data=pdf)
    f2 = courses.attach_file(session, city_trainer, lesson_id=lid, name="视频.mp4", data=_mp4(600))
    with pytest.raises(ValidationFailed):
        courses.attach_file(session, city_trainer, lesson_id=lid, name="evil.pdf", data=b"MZ\x90\x00 not a pdf")
    lesson = session.get(Lesson, lid)
    assert lesson.media_minutes == 10.0
    est, cap = courses.max_minutes(lesson.body_md, 0, lesson.media_minutes)
    assert est > 18                                       # the video's running time counts
    f, data = courses.file_bytes(session, learner, file_id=f1)
    assert data == pdf and f.kind == "pdf" and f.mime == "application/pdf"
    assert [x.id for x in courses.lesson_files(session, learner, lesson_id=lid)] == [f1, f2]
    courses.remove_file(session, city_trainer, file_id=f2)
    assert session.get(Lesson, lid).media_minutes == 0


def test_quiz_rules_must_be_satisfiable(session, city_trainer):
    assert courses.quiz_problems(session, city_trainer, course_id="strat", draw=[{"type": "single_choice", "count": 3}]) == []
    problems = courses.quiz_problems(session, city_trainer, course_id="strat", draw=[{"type": "numerical", "count": 50}])
    assert problems and "numerical" in problems[0]
    cid = courses.create_course(session, city_trainer, course_id=slug(), course_in=CourseIn("c", "c"))
    with pytest.raises(ValidationFailed):
        courses.set_quiz(session, city_trainer, course_id=cid, title="测验", pass_percent=60, draw=[{"type": "single_choice", "count": 1}])


def test_package_round_trip_and_validation(database, make_user):
    trainer = make_user("trainer", unit="dept")
    with session_scope() as s:
        data = courses.export_package(s, trainer, course_id="strat")
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert any(n.endswith("/course.yaml") for n in names) and sum(n.endswith(".md") for n in names) == 6
    with session_scope() as s:
        report = courses.import_package(s, trainer, data=data, dry_run=True)
    assert report.ok and report.course_id == "strat" and report.lessons == 6 and report.questions > 40, report.errors

    # a new course from a package, then a broken package changes nothing
    new_id = slug()
    spec = {"id": new_id, "title": "包导入课程", "category": "测试", "lessons": [{"id": f"{new_id}-l1", "title": "一", "file": "lessons/01.md", "minutes": 9}]}
    qs = [{"id": f"{new_id}-001", "type": "true_false", "text": "示例判断题。", "answer": True, "category": "测试", "explanation": "因为。"},
          {"id": f"{new_id}-002", "type": "true_false", "text": "另一道示例判断题。", "answer": False, "category": "测试", "explanation": "因为。"}]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("pkg/course.yaml", yaml.safe_dump(spec, allow_unicode=True))
        z.writestr("pkg/lessons/01.md", BODY)
        z.writestr("pkg/questions.yaml", yaml.safe_dump(qs, allow_unicode=True))
        z.writestr("pkg/files/" + f"{new_id}-l1/讲义.pdf", b"%PDF-1.4\nhello")
    with session_scope() as s:
        report = courses.import_package(s, trainer, data=buf.getvalue())
    assert report.ok, report.errors
    with session_scope() as s:
        c = courses.course_for_edit(s, trainer, course_id=new_id)
        assert [ls.title for ls in c.lessons] == ["一"] and c.lessons[0].files[0]["name"] == "讲义.pdf"
    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("pkg/course.yaml", yaml.safe_dump({**spec, "title": "改坏了", "lessons": [{**spec["lessons"][0], "file": "lessons/missing.md"}]}, allow_unicode=True))
        z.writestr("pkg/questions.yaml", yaml.safe_dump(qs, allow_unicode=True))
    with session_scope() as s:
        report = courses.import_package(s, trainer, data=bad.getvalue())
    assert not report.ok and any("missing" in e for e in report.errors)
    with session_scope() as s:
        assert courses.course_for_edit(s, trainer, course_id=new_id).title == "包导入课程"
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../etc/course.yaml", "id: x")
    with session_scope() as s:
        report = courses.import_package(s, trainer, data=evil.getvalue())
    assert not report.ok and "unsafe path" in report.errors[0]


def test_reloading_the_bank_keeps_app_edits_of_a_packaged_course(database, make_user):
    from services.content import load_bank
    trainer = make_user("trainer", unit="dept")
    with session_scope() as s:
        c = courses.course_for_edit(s, trainer, course_id="ncre")
        courses.update_course(s, trainer, course_id="ncre", course_in=CourseIn(c.title, c.category, c.required, "培训师改写的简介", c.objectives))
    with session_scope() as s:
        load_bank(s)
    with session_scope() as s:
        assert courses.course_for_edit(s, trainer, course_id="ncre").summary == "培训师改写的简介"


def test_unknown_things_are_not_found(session, city_trainer):
    with pytest.raises(NotFound):
        courses.course_for_edit(session, city_trainer, course_id="no-such")
    with pytest.raises(NotFound):
        courses.save_lesson(session, city_trainer, course_id="no-such", title="x", body_md=BODY)


def test_learners_outside_the_audience_neither_see_nor_open_the_course(session, city_trainer, make_user, tree):
    inside = make_user("learner", unit="village")
    outside = make_user("learner", unit="district2")
    cid = courses.create_course(session, city_trainer, course_id=slug(), course_in=CourseIn("镇里的课", "c", audience=[tree["town"]]))
    courses.save_lesson(session, city_trainer, course_id=cid, title="一", body_md=BODY)
    assert cid in {c.id for c in learning.catalogue(session, inside)}
    assert cid not in {c.id for c in learning.catalogue(session, outside)}
    learning.course_detail(session, inside, course_id=cid)
    with pytest.raises(NotFound):
        learning.course_detail(session, outside, course_id=cid)


def test_a_course_with_app_made_questions_survives_its_own_export(database, make_user):
    from services import bank
    trainer = make_user("trainer", unit="dept")
    cid = slug()
    with session_scope() as s:
        courses.create_course(s, trainer, course_id=cid, course_in=CourseIn("自建课程", "测试"))
        courses.save_lesson(s, trainer, course_id=cid, title="一", body_md=BODY)
        for i, answer in enumerate([True, False]):   # no explanations, as imported questions often are
            bank.save_question(s, trainer, course_id=cid, data={"type": "true_false", "text": f"自建判断题{i}", "answer": answer,
                                                                "category": "测试"})
        data = courses.export_package(s, trainer, course_id=cid)
    with session_scope() as s:
        report = courses.import_package(s, trainer, data=data)
    assert report.ok, report.errors
    assert len(report.warnings) == 2 and all("explanation missing" in w for w in report.warnings)
