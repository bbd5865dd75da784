"""The learner's side of an exam in Chromium, on the real server (pages/learner/exams.py, ui/attempt_player.py).

- a learner of 海勃湾区 answers half of a rule-based exam, reloads, finds every answer and the remaining
  time, finishes and passes;
- a learner whose time runs out is submitted with what was saved: once when the deadline is moved into
  the past (the next answer is refused and the result shown) and once when the page's own countdown
  reaches 0 with nobody touching it;
- a learner of another district sees neither the exam in the lobby nor the exam at its address;
- a learner sits a whole exam on a 390-px phone (touch), screenshots in tests/e2e/artifacts/exam-phone-*.png.
Exams are set up through services.exams (the trainer's pages are tested elsewhere)."""
from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect
from sqlmodel import select

from models import Attempt, AttemptItem, OrgUnit, QuestionVersion, User
from models.db import session_scope, utcnow
from services import exams, org
from services.grading import correct_response
from services.permissions import system_actor
from tests.e2e.helpers import Tab, make_org, make_user, msg, msg_pattern, sign_in, tag
from tests.unit.examkit import make_questions

PASSWORD = "Staff2026ok"


def hbw(db: str) -> dict[str, str]:
    """A city of the test's own with its 海勃湾区 (and a town in it) and a second district."""
    codes = make_org(db)
    t = tag().upper()
    with session_scope(db) as s:
        sysa = system_actor()
        city = s.exec(select(OrgUnit).where(OrgUnit.code == codes["city"])).one()
        district = org.create_unit(s, sysa, code=f"HBW{t}", name="海勃湾区", kind="district", parent_id=city.id)
        town = org.create_unit(s, sysa, code=f"HBW{t}-T", name="新华街道", kind="town", parent_id=district.id)
        codes.update(hbw=district.code, hbw_id=str(district.id), hbw_town=town.code)
    return codes


def rule_exam(db: str, district_id: int, *, n_single: int = 3, n_tf: int = 3, **over) -> int:
    """A published rule-based exam for one district: n_single single-choice and n_tf true/false questions
    drawn from categories of its own, one question per screen."""
    with session_scope(db) as s:
        # (examkit keys single-choice question i at option i: at most 4 of them in a category)
        cat_a, _ = make_questions(n_single, "single_choice", session=s)
        cat_b, _ = make_questions(n_tf + 2, "true_false", session=s)
        data = {"title": f"网络安全知识考试 {tag()}", "time_limit_minutes": 30, "attempts_allowed": 1, "pass_percent": 60,
                "rules": [{"category": cat_a, "type": "single_choice", "count": n_single, "points": 2},
                          {"category": cat_b, "type": "true_false", "count": n_tf, "points": 2}],
                "audience_units": [district_id], "review_answers": "after_submit", "review_explanations": "after_submit"}
        data.update(over)
        exam_id = exams.create_exam(s, system_actor(), exam_in=exams.ExamIn.model_validate(data))
        exams.publish_exam(s, system_actor(), exam_id=exam_id)
    return exam_id


def the_attempt(db: str, username: str, exam_id: int):
    """(attempt id, deadline, [(item id, position, record)]) of the learner's attempt."""
    with session_scope(db) as s:
        uid = s.exec(select(User.id).where(User.username == username)).one()
        a = s.exec(select(Attempt).where(Attempt.user_id == uid, Attempt.exam_id == exam_id)).one()
        items = [(it.id, it.position, v.data) for it, v in s.exec(
            select(AttemptItem, QuestionVersion).join(QuestionVersion)
            .where(AttemptItem.attempt_id == a.id).order_by(AttemptItem.position)).all()]
        return a.id, a.deadline_at, items


def open_exam_from_lobby(tab: Tab, exam_id: int, *, tap: bool = False) -> None:
    page = tab.page
    tab.goto("/exams")
    expect(tab.heading()).to_have_text(msg("nav.exams"))
    card = page.locator(f".st-key-exams_card_{exam_id}")
    expect(card).to_be_visible()
    press(tab, card.get_by_role("button", name=msg("lobby.open")), tap)
    expect(page.get_by_text(msg("lobby.rules"), exact=True)).to_be_visible()
    tab.expect_path("/exams")
    assert f"exam={exam_id}" in page.url


def start_exam(tab: Tab, *, tap: bool = False) -> None:
    page = tab.page
    press(tab, page.get_by_role("button", name=msg("lobby.start")), tap)
    expect(page.get_by_text(msg_pattern("lobby.start_confirm"))).to_be_visible()
    press(tab, page.get_by_role("button", name=msg("lobby.start_confirm_button")), tap)
    expect(page.get_by_text(msg_pattern("player.time_left"))).to_be_visible()


def press(tab: Tab, locator, tap: bool = False) -> None:
    tab.act(locator.tap if tap else locator.click)


def answer_on_screen(tab: Tab, base: str, position: int, data: dict, *, tap: bool = False, right: bool = True) -> None:
    """Answer the question on screen (one per page) by its label, inside its own box."""
    box = tab.page.locator(f".st-key-{base}_q{position}_box")
    expect(box).to_be_visible()
    key = correct_response(data)
    if data["type"] == "single_choice":
        label = data["options"][key if right else (key + 1) % len(data["options"])]["text"]
    else:
        label = msg("quiz.true") if key == right else msg("quiz.false")
    press(tab, box.get_by_text(label, exact=True), tap)
    expect(box.get_by_role("radio", name=label)).to_be_checked()


def chosen_label(data: dict, right: bool = True) -> str:
    key = correct_response(data)
    if data["type"] == "single_choice":
        return data["options"][key if right else (key + 1) % len(data["options"])]["text"]
    return msg("quiz.true") if key == right else msg("quiz.false")


def go_to(tab: Tab, base: str, position: int, *, tap: bool = False) -> None:
    """Jump by the palette (答题卡, the page's one button group): the pill of that question number."""
    pill = tab.page.get_by_test_id("stButtonGroup").locator("button").nth(position - 1)   # pills are not role=button
    expect(pill).to_contain_text(str(position))
    press(tab, pill, tap)
    expect(tab.page.locator(f".st-key-{base}_q{position}_box")).to_be_visible()


def remaining_seconds(tab: Tab) -> int:
    timer = tab.page.get_by_text(msg_pattern("player.time_left"))
    expect(timer).to_be_visible()
    m = re.search(r"(?:(\d+):)?(\d+):(\d\d)$", timer.inner_text().strip())
    h, mm, ss = int(m.group(1) or 0), int(m.group(2)), int(m.group(3))
    return h * 3600 + mm * 60 + ss


def saved(db: str, item_id: int):
    with session_scope(db) as s:
        return s.get(AttemptItem, item_id).response


def test_half_answered_reload_keeps_answers_and_time_then_passes(server, tabs):
    db = server["database_url"]
    codes = hbw(db)
    learner = make_user(db, "learner", unit=codes["hbw_town"], name="海勃湾学员")
    exam_id = rule_exam(db, int(codes["hbw_id"]))
    tab = tabs(server["url"])
    page = tab.page
    frames: list[bytes] = []       # everything the server sent this browser (review policy: no key before)
    page.on("websocket", lambda ws: ws.on("framereceived", lambda p: frames.append(
        bytes(p) if isinstance(p, (bytes, bytearray)) else p.encode())))
    sign_in(tab, learner, PASSWORD)
    open_exam_from_lobby(tab, exam_id)
    expect(page.get_by_text(msg_pattern("lobby.rule_questions", questions=6))).to_be_visible()
    tab.shot("exam-01-rules")
    start_exam(tab)
    attempt_id, deadline, items = the_attempt(db, learner, exam_id)
    base = f"exam_{exam_id}_{attempt_id}"
    tab.shot("exam-02-first-question")

    # half of it: questions 1-3, each saved at once, with the saved time shown
    for item_id, position, data in items[:3]:
        answer_on_screen(tab, base, position, data)
        assert saved(db, item_id) is not None
        expect(page.locator(f".st-key-{base}_q{position}_box").get_by_text(msg_pattern("player.saved_at"))).to_be_visible()
        press(tab, page.get_by_role("button", name=msg("player.next")))
    expect(page.get_by_text(msg("player.progress", answered=3, total=6))).to_be_visible()
    before = remaining_seconds(tab)

    # a reload: the same attempt, every answer, the remaining time from the stored deadline
    tab.reload()
    expect(page.get_by_text(msg("player.progress", answered=3, total=6))).to_be_visible()
    after = remaining_seconds(tab)
    left = int((deadline - utcnow()).total_seconds())
    assert after <= before and abs(after - left) <= 5, (before, after, left)
    assert 25 * 60 < after <= 30 * 60
    for item_id, position, data in items[:3]:
        go_to(tab, base, position)
        expect(page.locator(f".st-key-{base}_q{position}_box").get_by_role("radio", name=chosen_label(data))).to_be_checked()
    tab.shot("exam-03-after-reload")

    # the other half, then submit behind the confirmation
    for item_id, position, data in items[3:]:
        go_to(tab, base, position)
        answer_on_screen(tab, base, position, data)
        assert saved(db, item_id) is not None
    press(tab, page.get_by_role("button", name=msg("quiz.submit")))
    expect(page.get_by_text(msg("player.confirm_all_answered", total=6))).to_be_visible()
    tab.shot("exam-04-confirm")
    sent = b"".join(frames)
    assert sent and not [d["explanation"] for _, _, d in items if d["explanation"].encode() in sent]
    press(tab, page.get_by_role("button", name=msg("player.confirm_submit")))
    expect(page.get_by_test_id("stAlert").get_by_text(msg_pattern("quiz.result", verdict=msg("quiz.passed")))).to_be_visible()
    expect(page.get_by_text(msg("quiz.correct_answer") + ":").first).to_be_visible()       # review: after submitting
    tab.shot("exam-05-passed")
    sent = b"".join(frames)       # review after submitting: now the explanations do reach the browser
    assert all(d["explanation"].encode() in sent for _, _, d in items)
    tab.expect_no_error()
    with session_scope(db) as s:
        a = s.get(Attempt, attempt_id)
        assert a.status == "submitted" and a.passed and a.score == 12 and not a.auto_submitted


def test_time_runs_out_and_what_was_saved_is_submitted(server, tabs):
    db = server["database_url"]
    codes = hbw(db)
    learner = make_user(db, "learner", unit=codes["hbw"])
    exam_id = rule_exam(db, int(codes["hbw_id"]), one_per_page=False)
    tab = tabs(server["url"])
    page = tab.page
    sign_in(tab, learner, PASSWORD)
    open_exam_from_lobby(tab, exam_id)
    start_exam(tab)
    attempt_id, _, items = the_attempt(db, learner, exam_id)
    base = f"exam_{exam_id}_{attempt_id}"
    answer_on_screen(tab, base, 1, items[0][2])
    answer_on_screen(tab, base, 2, items[1][2])
    # the deadline passes while the page is open (moved into the past in the database)
    with session_scope(db) as s:
        a = s.get(Attempt, attempt_id)
        a.deadline_at = utcnow() - timedelta(seconds=1)
        s.add(a)
    answer_on_screen_refused = page.locator(f".st-key-{base}_q3_box").get_by_text(chosen_label(items[2][2]), exact=True)
    press(tab, answer_on_screen_refused)
    expect(page.get_by_text(msg("error.attempt_overdue"))).to_be_visible()
    expect(page.get_by_text(msg("quiz.auto_submitted"))).to_be_visible()
    expect(page.get_by_text(msg("player.answered_of", answered=2, total=6))).to_be_visible()
    tab.shot("exam-06-time-up")
    with session_scope(db) as s:
        a = s.get(Attempt, attempt_id)
        assert a.status == "submitted" and a.auto_submitted and a.score == 4
        assert [s.get(AttemptItem, i).response is not None for i, _, _ in items] == [True, True] + [False] * 4


def test_the_countdown_reaching_zero_submits_an_untouched_page(server, tabs):
    db = server["database_url"]
    codes = hbw(db)
    learner = make_user(db, "learner", unit=codes["hbw"])
    exam_id = rule_exam(db, int(codes["hbw_id"]))
    tab = tabs(server["url"])
    page = tab.page
    sign_in(tab, learner, PASSWORD)
    open_exam_from_lobby(tab, exam_id)
    start_exam(tab)
    attempt_id, _, items = the_attempt(db, learner, exam_id)
    answer_on_screen(tab, f"exam_{exam_id}_{attempt_id}", 1, items[0][2])
    with session_scope(db) as s:           # a short limit: 45 seconds left (a margin for the reload on a busy machine)
        a = s.get(Attempt, attempt_id)
        a.deadline_at = utcnow() + timedelta(seconds=45)
        s.add(a)
    tab.reload()
    expect(page.get_by_text(msg_pattern("player.time_left"))).to_be_visible()
    # nobody touches the page: the countdown reaches 0 and reruns it; the service submits what was saved
    expect(page.get_by_text(msg("quiz.auto_submitted"))).to_be_visible(timeout=120_000)
    with session_scope(db) as s:
        a = s.get(Attempt, attempt_id)
        assert a.status == "submitted" and a.auto_submitted and a.score == 2


def test_a_learner_of_another_district_does_not_see_the_exam(server, tabs):
    db = server["database_url"]
    codes = hbw(db)
    exam_id = rule_exam(db, int(codes["hbw_id"]))
    other = make_user(db, "learner", unit=codes["town"])       # 测试区…, not 海勃湾区
    tab = tabs(server["url"])
    page = tab.page
    sign_in(tab, other, PASSWORD)
    tab.goto("/exams")
    expect(tab.heading()).to_have_text(msg("nav.exams"))
    expect(page.locator(f".st-key-exams_card_{exam_id}")).to_have_count(0)
    tab.goto(f"/exams?exam={exam_id}")
    expect(page.get_by_test_id("stAlert").first).to_be_visible()
    expect(page.get_by_role("button", name=msg("lobby.start"))).to_have_count(0)
    expect(page.get_by_text(msg("lobby.rules"), exact=True)).to_have_count(0)
    tab.expect_no_error()
    with session_scope(db) as s:
        uid = s.exec(select(User.id).where(User.username == other)).one()
        assert s.exec(select(Attempt).where(Attempt.user_id == uid)).first() is None


def test_a_whole_exam_on_a_phone(server, browser):
    db = server["database_url"]
    codes = hbw(db)
    learner = make_user(db, "learner", unit=codes["hbw_town"])
    exam_id = rule_exam(db, int(codes["hbw_id"]), n_single=4, n_tf=4)
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True, locale="zh-CN")
    try:
        tab = Tab(context.new_page(), server["url"])
        page = tab.page
        sign_in(tab, learner, PASSWORD)
        open_exam_from_lobby(tab, exam_id, tap=True)
        tab.shot("exam-phone-01-rules")
        start_exam(tab, tap=True)
        attempt_id, _, items = the_attempt(db, learner, exam_id)
        base = f"exam_{exam_id}_{attempt_id}"
        palette = page.get_by_test_id("stButtonGroup")
        expect(palette).to_be_visible()
        box = palette.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box        # the palette fits the screen
        tab.shot("exam-phone-02-question")
        for item_id, position, data in items:
            if position > 1:
                press(tab, page.get_by_role("button", name=msg("player.next")), tap=True)
            answer_on_screen(tab, base, position, data, tap=True, right=position != 8)
            assert saved(db, item_id) is not None
            if position == 4:
                flag = page.locator(f".st-key-{base}_q4_flag")
                press(tab, flag.get_by_text(msg("player.flag")), tap=True)
                tab.shot("exam-phone-03-flagged")
        go_to(tab, base, 2, tap=True)       # the palette works by touch
        tab.shot("exam-phone-04-palette")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width                                          # nothing wider than the screen
        press(tab, page.get_by_role("button", name=msg("quiz.submit")), tap=True)
        expect(page.get_by_text(msg("player.confirm_all_answered", total=8))).to_be_visible()
        tab.shot("exam-phone-05-confirm")
        press(tab, page.get_by_role("button", name=msg("player.confirm_submit")), tap=True)
        expect(page.get_by_test_id("stAlert").get_by_text(msg_pattern("quiz.result", verdict=msg("quiz.passed")))).to_be_visible()
        tab.shot("exam-phone-06-result")
        tab.expect_no_error()
        with session_scope(db) as s:
            a = s.get(Attempt, attempt_id)
            assert a.status == "submitted" and a.score == 14 and a.passed
    finally:
        context.close()


HIDE = """() => {
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
  Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""
BACK = """() => {
  delete document.visibilityState;
  delete document.hidden;
  document.dispatchEvent(new Event("visibilitychange"));
  window.dispatchEvent(new FocusEvent("focus"));
}"""


def test_leaving_the_page_is_counted_and_past_the_limit_submits(server, tabs):
    """切屏检测 in the exam: each leave is stored and the learner warned; past the limit the attempt is
    submitted with what was saved."""
    db = server["database_url"]
    codes = hbw(db)
    learner = make_user(db, "learner", unit=codes["hbw"])
    exam_id = rule_exam(db, int(codes["hbw_id"]), tab_switch_limit=1)
    tab = tabs(server["url"])
    page = tab.page
    sign_in(tab, learner, PASSWORD)
    open_exam_from_lobby(tab, exam_id)
    expect(page.get_by_text(msg("lobby.rule_tab", limit=1), exact=False)).to_be_visible()
    start_exam(tab)
    attempt_id, _, items = the_attempt(db, learner, exam_id)
    answer_on_screen(tab, f"exam_{exam_id}_{attempt_id}", 1, items[0][2])
    tab.act(lambda: page.evaluate(HIDE))                 # another tab: one leave
    page.evaluate(BACK)
    expect(page.get_by_text(msg("player.tab_left_limit", n=1, limit=1))).to_be_visible()
    tab.shot("exam-07-tab-warning")
    with session_scope(db) as s:
        a = s.get(Attempt, attempt_id)
        assert a.tab_switches == 1 and a.status == "in_progress"
    tab.act(lambda: page.evaluate(HIDE))                 # and again: past the limit
    page.evaluate(BACK)
    expect(page.get_by_text(msg_pattern("quiz.result"))).to_be_visible()
    expect(page.get_by_text(msg("player.tab_limit_submitted", n=2))).to_be_visible()
    tab.shot("exam-08-tab-limit-submitted")
    tab.expect_no_error()
    with session_scope(db) as s:
        a = s.get(Attempt, attempt_id)
        assert a.tab_switches == 2 and a.status == "submitted" and a.auto_submitted and a.score == 2


def test_long_answers_are_saved_while_typed_and_an_essay_waits_for_grading(server, tabs):
    """Fill-in and essay answers reach the database while they are typed (no leaving the field), survive a
    reload, and an answered essay leaves the submitted exam "waiting for grading"."""
    db = server["database_url"]
    codes = hbw(db)
    learner = make_user(db, "learner", unit=codes["hbw"])
    with session_scope(db) as s:
        cat_e, _ = make_questions(1, "essay", session=s)
        cat_f, _ = make_questions(1, "fill_blank", session=s)
        exam_id = exams.create_exam(s, system_actor(), exam_in=exams.ExamIn.model_validate({
            "title": f"简答考试 {tag()}", "time_limit_minutes": 30, "attempts_allowed": 1, "one_per_page": False,
            "shuffle_questions": False, "audience_units": [int(codes["hbw_id"])],
            "rules": [{"category": cat_e, "type": "essay", "count": 1, "points": 10},
                      {"category": cat_f, "type": "fill_blank", "count": 1, "points": 2}]}))
        exams.publish_exam(s, system_actor(), exam_id=exam_id)
    tab = tabs(server["url"])
    page = tab.page
    sign_in(tab, learner, PASSWORD)
    open_exam_from_lobby(tab, exam_id)
    start_exam(tab)
    attempt_id, _, items = the_attempt(db, learner, exam_id)
    base = f"exam_{exam_id}_{attempt_id}"
    by_type = {data["type"]: (item_id, pos) for item_id, pos, data in items}
    essay_id, essay_pos = by_type["essay"]
    blank_id, blank_pos = by_type["fill_blank"]
    text = "网络安全人人有责，保护个人信息从我做起。"
    essay_box = page.locator(f".st-key-{base}_q{essay_pos}_box")
    essay = essay_box.get_by_label(msg("quiz.your_answer"), exact=True)
    essay.click()
    essay.press_sequentially(text)
    # saved without leaving the field: the field says so, and the database has it
    expect(essay_box.locator(".lt-status")).to_have_text(re.compile("^" + msg("live_text.saved") + r" \d\d:\d\d:\d\d$"))
    assert saved(db, essay_id) == text
    assert essay.evaluate("el => el.getRootNode().activeElement === el")     # still typing there
    blank_box = page.locator(f".st-key-{base}_q{blank_pos}_box")
    blank = blank_box.get_by_label(msg("quiz.your_answer"), exact=True)
    blank.click()
    blank.press_sequentially("答案")
    expect(blank_box.locator(".lt-status")).to_have_text(re.compile("^" + msg("live_text.saved") + r" \d\d:\d\d:\d\d$"))
    assert saved(db, blank_id) == "答案"
    tab.shot("exam-09-typed")

    tab.reload()
    expect(page.locator(f".st-key-{base}_q{essay_pos}_box").get_by_label(msg("quiz.your_answer"), exact=True)).to_have_value(text)
    expect(page.locator(f".st-key-{base}_q{blank_pos}_box").get_by_label(msg("quiz.your_answer"), exact=True)).to_have_value("答案")
    press(tab, page.get_by_role("button", name=msg("quiz.submit")))
    press(tab, page.get_by_role("button", name=msg("player.confirm_submit")))
    expect(page.get_by_text(msg("quiz.pending", score="2"))).to_be_visible()
    expect(page.get_by_text(text, exact=True)).to_be_visible()          # the essay in the review, as text
    tab.shot("exam-10-pending")
    with session_scope(db) as s:
        assert s.get(Attempt, attempt_id).status == "pending_grading"
