"""Practice and the mistake notebook in Chromium on the real server: a learner practises a category, gets two
wrong (each check shows the key and explanation at once), opens the notebook (nothing due today: the misses
come back tomorrow), and "tomorrow" — the stored review dates moved back a day in the database, the
server's clock left alone — reviews exactly the two missed questions, rates them, and sees the next due date
move out."""
import re
import uuid
from datetime import timedelta

from playwright.sync_api import expect
from sqlmodel import select

from models import Attempt, AttemptItem, Course, Lesson, Question, QuestionVersion, User
from models.db import session_scope
from models.practice import Mistake, ReviewCard
from services.grading import correct_response
from tests.e2e.helpers import make_org, make_user, msg, msg_pattern, sign_in
from tests.unit.examkit import record


def _bank(db: str, trainer: str) -> tuple[str, list[str]]:
    """Three true/false questions in a category and a course of this test's own."""
    t = uuid.uuid4().hex[:6]
    category, course = f"练习测试{t}/网络安全", f"e2e{t}"
    ids = []
    from services.interchange import content_hash
    with session_scope(db) as s:
        tid = s.exec(select(User.id).where(User.username == trainer)).one()
        s.add(Course(id=course, title=f"练习课程{t}", category="测试", created_by=tid))
        s.flush()
        s.add(Lesson(id=f"{course}-l1", course_id=course, position=1, title="一", body_md="# 一", minutes=10))
        for i in range(3):
            qid = f"{course}-{i}"
            data = record(qid, "true_false", category, key=i)
            data["text"] = f"判断题{i + 1}：这是第 {i + 1} 道练习题（{t}）"
            data["explanation"] = f"第 {i + 1} 题的解析（{t}）"
            s.add(Question(id=qid, course_id=course, current_version=1))
            s.flush()
            s.add(QuestionVersion(question_id=qid, version=1, type="true_false", category=category, difficulty=2,
                                  usage="both", points=1, data=data, content_hash=content_hash(data)))
            ids.append(qid)
    return category, ids


def _item_box(page, text: str):
    heading = page.get_by_text(text, exact=True)
    return page.get_by_test_id("stVerticalBlock").filter(has=heading).last


def _answer_and_check(tab, data: dict, right: bool) -> None:
    page = tab.page
    box = _item_box(page, data["text"])
    value = correct_response(data) if right else not correct_response(data)
    tab.act(box.get_by_text(msg("quiz.true") if value else msg("quiz.false"), exact=True).click)
    tab.act(lambda: page.get_by_role("button", name=msg("player.check")).click())
    expect(page.get_by_text(data["explanation"], exact=True)).to_be_visible()     # feedback at once


def _shift_a_day_back(db: str, user_id: int) -> None:
    """'Tomorrow': every stored review date of the learner moves one day into the past (the server's clock
    is the real one; this is the same as the day passing)."""
    day = timedelta(days=1)
    with session_scope(db) as s:
        for card in s.exec(select(ReviewCard).where(ReviewCard.user_id == user_id)).all():
            card.due -= day
            card.last_review = card.last_review - day if card.last_review else None
            s.add(card)
        for m in s.exec(select(Mistake).where(Mistake.user_id == user_id)).all():
            m.first_missed_at -= day
            m.last_missed_at -= day
            s.add(m)


def test_practise_miss_two_review_them_tomorrow(server, tabs):
    db = server["database_url"]
    units = make_org(db)
    trainer = make_user(db, ("trainer", units["city"]), unit=units["dept"])
    learner = make_user(db, "learner", unit=units["village"], name="练习学员")
    category, ids = _bank(db, trainer)
    with session_scope(db) as s:
        uid = s.exec(select(User.id).where(User.username == learner)).one()

    tab = tabs(server["url"])
    page = tab.page
    sign_in(tab, learner, "Staff2026ok", path="/practice")
    expect(tab.heading()).to_have_text(msg("practice.title"))

    # 1. practise the category: three questions, one right and two wrong, each checked at once
    tab.act(lambda: page.get_by_text(msg("practice.scope.category"), exact=True).click())
    tab.choose(page.get_by_role("combobox", name=msg("practice.category")), category,
               msg("practice.category_option", path=category, n=3))
    count = page.get_by_label(msg("practice.count"))
    count.fill("3")
    tab.act(lambda: count.press("Enter"))
    tab.shot("practice-01-form")
    tab.act(lambda: page.get_by_role("button", name=msg("practice.start"), exact=True).click())
    expect(page.get_by_text(msg("practice.in_progress"))).to_be_visible()
    with session_scope(db) as s:
        attempt = s.exec(select(Attempt).where(Attempt.user_id == uid, Attempt.kind == "practice",
                                               Attempt.status == "in_progress")).one()
        paper = [v.data for _, v in s.exec(select(AttemptItem, QuestionVersion).join(QuestionVersion)
                                           .where(AttemptItem.attempt_id == attempt.id)
                                           .order_by(AttemptItem.position)).all()]
    assert sorted(d["id"] for d in paper) == sorted(ids)
    right_one = paper[0]["id"]
    for n, data in enumerate(paper):
        expect(page.get_by_text(data["explanation"], exact=True)).to_have_count(0)   # no key before the check
        _answer_and_check(tab, data, right=data["id"] == right_one)
        if n == 1:
            tab.shot("practice-02-checked-wrong")
        if n < len(paper) - 1:
            tab.act(lambda: page.get_by_role("button", name=msg("player.next")).click())
    tab.act(lambda: page.get_by_role("button", name=msg("quiz.submit")).click())
    tab.act(lambda: page.get_by_role("button", name=msg("player.confirm_submit")).click())
    expect(page.get_by_text(msg("practice.last_result"), exact=True)).to_be_visible()
    tab.shot("practice-03-result")

    # 2. the notebook: the two misses, grouped under the category, due tomorrow (nothing today)
    missed = {d["id"] for d in paper} - {right_one}
    tab.goto("/notebook")
    expect(tab.heading()).to_have_text(msg("notebook.title"))
    expect(page.get_by_text(msg_pattern("notebook.group", category=category, n=2, misses=2, due=0))).to_be_visible()
    nothing_due = page.get_by_text(msg_pattern("notebook.nothing_due"))
    expect(nothing_due).to_be_visible()
    due_before = nothing_due.inner_text().rsplit("：", 1)[1]
    for data in paper:
        expect(page.get_by_text(data["text"], exact=False)).to_have_count(1 if data["id"] in missed else 0)
    tab.shot("practice-04-notebook-today")
    with session_scope(db) as s:
        first_due = {c.question_id: c.due for c in s.exec(select(ReviewCard).where(ReviewCard.user_id == uid)).all()}
    assert set(first_due) == missed

    # 3. tomorrow: exactly the two missed questions are due; review them, both right, rated "记得" (Good)
    _shift_a_day_back(db, uid)
    tab.goto("/")
    expect(page.get_by_text(msg("home.due_reviews"), exact=True)).to_be_visible()
    reviews = page.locator('[class*="st-key-home_due_reviews"]')
    expect(reviews.get_by_test_id("stMetricValue")).to_have_text("2")
    tab.shot("practice-05-home-due")
    tab.act(lambda: page.get_by_role("button", name=msg("home.review_button")).click())
    tab.expect_path("/notebook")
    start = page.get_by_role("button", name=msg("notebook.start_review", n=2))
    expect(start).to_be_visible()
    tab.shot("practice-06-notebook-due")
    tab.act(start.click)
    expect(page.get_by_text(msg("notebook.reviewing", n=2))).to_be_visible()
    with session_scope(db) as s:
        review = s.exec(select(Attempt).where(Attempt.user_id == uid, Attempt.kind == "review",
                                              Attempt.status == "in_progress")).one()
        rpaper = [v.data for _, v in s.exec(select(AttemptItem, QuestionVersion).join(QuestionVersion)
                                            .where(AttemptItem.attempt_id == review.id)
                                            .order_by(AttemptItem.position)).all()]
    assert {d["id"] for d in rpaper} == missed                       # exactly the missed ones
    for n, data in enumerate(rpaper, start=1):
        _answer_and_check(tab, data, right=True)
        good = page.get_by_role("button", name=re.compile("^" + re.escape(msg("notebook.rating_name.3")) + " · "))
        expect(good).to_be_visible()
        if n == 1:
            tab.shot("practice-07-rating-buttons")
        tab.act(good.click)
        expect(page.get_by_text(msg_pattern("notebook.next_due", n=n))).to_be_visible()
        if n < len(rpaper):
            tab.act(lambda: page.get_by_role("button", name=msg("player.next")).click())
    tab.act(lambda: page.get_by_role("button", name=msg("quiz.submit")).click())
    tab.act(lambda: page.get_by_role("button", name=msg("player.confirm_submit")).click())
    expect(page.get_by_text(msg("notebook.review_done"), exact=True)).to_be_visible()
    tab.act(lambda: page.get_by_role("button", name=msg("notebook.back")).click())

    # 4. the next due date moved out: nothing due today, the next review days away
    expect(nothing_due).to_be_visible()
    due_after = nothing_due.inner_text().rsplit("：", 1)[1]
    # before the day passed the two were due the next day; after "记得" (Good) the next review is later still
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", due_after) and due_after > due_before, (due_before, due_after)
    expect(page.get_by_text(msg_pattern("notebook.group", category=category, n=2, misses=2, due=0))).to_be_visible()
    tab.shot("practice-08-notebook-after-review")
    with session_scope(db) as s:
        cards = {c.question_id: c for c in s.exec(select(ReviewCard).where(ReviewCard.user_id == uid)).all()}
    for qid in missed:
        # before the review it was due "today" (first_due minus the day); after Good it is further out than a day
        assert cards[qid].due - cards[qid].last_review >= timedelta(days=2), (qid, cards[qid].due)
        assert cards[qid].due > first_due[qid]
    tab.expect_no_error()
