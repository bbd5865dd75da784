"""AppTest: the learner's exam pages (pages/learner/exams.py) and the one attempt player (ui/attempt_player.play).

Lobby states (none, available, upcoming, in progress, finished, pending grading); starting behind the rules and
a confirmation; another district does not see the exam; one question per page with the palette, flags and
previous/next; all questions on one page; the countdown from the stored deadline on a frozen server clock
(warns at 5 and 1 minutes, submits at 0 with what was saved); submitting behind a confirmation that counts
the unanswered; the review per policy — and no key or explanation anywhere in the page's elements before the
policy allows it; practice's `check` hook."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from config import ROOT
from models import Attempt, AttemptItem, QuestionVersion
from models.db import session_scope
from services import attempts, exams
from services.grading import correct_response
from services.permissions import system_actor
from tests.unit.examkit import Clock, make_questions

PAGE = "pages/learner/exams.py"


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def exam_page(user_id: int, exam_id: int | None = None) -> AppTest:
    """A new browser session of the learner on the exams page (what a refresh or a new sign-in gives)."""
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=60)
    at.session_state["user_id"] = user_id
    if exam_id is not None:
        at.query_params["exam"] = str(exam_id)
    return run(at)


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def everything(at: AppTest) -> str:
    """Every element the page sent, as its protobuf text: labels, options, values, help, bodies."""
    out = []

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)
    walk(at._tree)
    return "\n".join(out)


def shown(at: AppTest) -> str:
    parts = [e.value for kind in (at.info, at.success, at.error, at.warning, at.caption, at.markdown, at.subheader)
             for e in kind]
    return " ".join(str(p) for p in parts)


def make_exam(tree, *, n: int = 4, type: str = "single_choice", unit: str = "district", **over) -> tuple[int, list[str]]:
    category, ids = make_questions(n, type)
    data = {"title": f"页面考试 {category[-8:]}", "rules": [{"type": type, "category": category, "count": n}],
            "time_limit_minutes": 30, "attempts_allowed": 2, "pass_percent": 60,
            "audience_units": [tree[unit]], "shuffle_questions": False, "shuffle_options": False,
            "review_answers": "after_submit", "review_explanations": "after_submit"}
    data.update(over)
    sysa = system_actor()
    with session_scope() as s:
        exam_id = exams.create_exam(s, sysa, exam_in=exams.ExamIn.model_validate(data))
        exams.publish_exam(s, sysa, exam_id=exam_id)
    return exam_id, ids


def start(actor, exam_id: int) -> int:
    with session_scope() as s:
        return exams.start_exam(s, actor, exam_id=exam_id)


def paper(attempt_id: int) -> list[tuple[int, int, dict]]:
    """(item id, position, question record) of an attempt, in paper order."""
    with session_scope() as s:
        return [(it.id, it.position, v.data) for it, v in s.exec(
            select(AttemptItem, QuestionVersion).join(QuestionVersion)
            .where(AttemptItem.attempt_id == attempt_id).order_by(AttemptItem.position)).all()]


def answer(actor, attempt_id: int, positions, *, right: bool = True) -> None:
    with session_scope() as s:
        for item_id, pos, data in paper(attempt_id):
            if pos in positions:
                key = correct_response(data)
                if not right and data["type"] == "single_choice":
                    key = (key + 1) % len(data["options"])
                attempts.save_answer(s, actor, item_id=item_id, response=key)


def submit(actor, attempt_id: int) -> None:
    with session_scope() as s:
        attempts.submit_attempt(s, actor, attempt_id=attempt_id)


def explanations(attempt_id: int) -> list[str]:
    return [data["explanation"] for _, _, data in paper(attempt_id)]


KEY_OK = re.compile(r"^(exams_\w+|exam_\d+_submit(_confirm|_cancel)?|exam_\d+_\d+_(q\d+(_\d+|_flag|_box|_check)?"
                    r"|palette|prev|next|status|confirm_box|result|tabwatch))$")


def assert_keys_are_positions(at: AppTest) -> None:
    """Widget keys become the browser's element ids: display positions only, never a bank id."""
    keys = [w.key for kind in (at.radio, at.checkbox, at.toggle, at.button, at.pills, at.text_input, at.text_area)
             for w in kind if w.key]
    bad = [k for k in keys if k.startswith(("exam_", "exams_")) and not KEY_OK.match(k)]
    assert not bad, bad
    assert not [k for k in keys if "t-" in k], keys          # no bank id in any key


# ---- the lobby ------------------------------------------------------------------------------------

def test_lobby_shows_only_the_learners_exams_or_says_there_are_none(make_user):
    actor = make_user("learner", unit="district2")
    with session_scope() as s:
        lobby = exams.lobby(s, actor)
    cards = lobby.available + lobby.upcoming + lobby.in_progress + lobby.finished
    at = exam_page(actor.id)
    buttons = sorted(b.key for b in at.button if b.key.startswith("exams_open_"))
    assert buttons == sorted(f"exams_open_{c.exam_id}" for c in cards)
    if not cards:      # others' exams for everyone may exist in the shared test database
        assert any("目前没有您可以参加的考试" in i.value for i in at.info)


def test_lobby_states_and_another_district(make_user, tree):
    learner = make_user("learner")
    available, _ = make_exam(tree)
    upcoming, _ = make_exam(tree, opens_at=exams._now() + timedelta(days=2))
    going, _ = make_exam(tree)
    done, _ = make_exam(tree, attempts_allowed=1)
    essay, _ = make_exam(tree, n=1, type="essay", attempts_allowed=1)
    start(learner, going)
    a_done = start(learner, done)
    answer(learner, a_done, {1, 2, 3, 4})
    submit(learner, a_done)
    a_essay = start(learner, essay)
    with session_scope() as s:
        attempts.save_answer(s, learner, item_id=paper(a_essay)[0][0], response="我的论述")
    submit(learner, a_essay)

    at = exam_page(learner.id)
    subheads = [h.value for h in at.subheader]
    assert subheads == ["进行中的考试", "可参加的考试", "即将开始的考试", "已结束的考试"]
    assert at.button(key=f"exams_open_{going}").label == "继续作答"
    assert at.button(key=f"exams_open_{available}").label == "查看考试"
    assert at.button(key=f"exams_open_{upcoming}").label == "查看考试"
    assert at.button(key=f"exams_open_{done}").label == "查看成绩"
    text = shown(at)
    assert "得分 4/4，通过" in text and "已交卷，主观题待阅卷" in text

    # upcoming: the rules and when it opens, no start
    up = exam_page(learner.id, upcoming)
    assert "考试规则" in shown(up) and any("考试将于" in i.value for i in up.info)
    assert not [b for b in up.button if b.key == "exams_start"]
    # pending grading: the result says so, the review shows the essay as text, no score yet
    pend = exam_page(learner.id, essay)
    assert any("主观题待阅卷" in i.value for i in pend.info), shown(pend)
    assert "我的论述" in [t.value for t in pend.text]

    # a learner of another district: not in the lobby, and the address alone does not open it
    other = make_user("learner", unit="district2")
    lobby_other = exam_page(other.id)
    assert not [b for b in lobby_other.button if b.key == f"exams_open_{available}"]
    direct = exam_page(other.id, available)
    assert direct.error and not [b for b in direct.button if b.key == "exams_start"]
    with session_scope() as s:
        assert s.exec(select(Attempt).where(Attempt.user_id == other.id)).first() is None


def test_start_needs_the_rules_and_a_confirmation(make_user, tree):
    learner = make_user("learner")
    exam_id, _ = make_exam(tree, tab_switch_limit=3, allow_copy=False)
    at = exam_page(learner.id)
    at.button(key=f"exams_open_{exam_id}").click()
    run(at)
    assert at.query_params["exam"] == [str(exam_id)] or at.query_params["exam"] == str(exam_id)
    text = shown(at)
    assert "考试规则" in text and "限时 30 分钟" in text and "超过 3 次系统将自动交卷" in text and "禁止复制" in text
    assert "开放时间：不限" in text
    at.button(key="exams_start").click()
    run(at)
    assert any("开始后立即计时（30 分钟）" in w.value for w in at.warning)
    with session_scope() as s:      # not started yet
        assert s.exec(select(Attempt).where(Attempt.user_id == learner.id)).first() is None
    at.button(key="exams_start_cancel").click()
    run(at)
    assert at.button(key="exams_start")
    at.button(key="exams_start").click()
    run(at)
    at.button(key="exams_start_confirm").click()
    run(at)
    with session_scope() as s:
        attempt = s.exec(select(Attempt).where(Attempt.user_id == learner.id)).one()
    assert attempt.status == "in_progress" and attempt.exam_id == exam_id
    assert at.pills and any("剩余时间" in i.value for i in at.info)        # the player, with its countdown
    # the tab-switch watch (ui/components/tab_watch) is on the page, told to block copying
    page = everything(at)
    assert "infoskills_tab_watch" in page and re.search(r'block_copy\\*"\s*:\s*true', page), "no copy block"


# ---- the player -----------------------------------------------------------------------------------

def test_one_per_page_palette_flags_and_resume(make_user, tree):
    learner = make_user("learner")
    exam_id, _ = make_exam(tree)
    attempt_id = start(learner, exam_id)
    items = paper(attempt_id)
    base = f"exam_{exam_id}_{attempt_id}"
    at = exam_page(learner.id, exam_id)
    palette = at.pills(key=f"{base}_palette")
    assert palette.options == ["1", "2", "3", "4"] and palette.value == 1
    assert [r.key for r in at.radio] == [f"{base}_q1"]              # one question per screen
    assert at.button(key=f"{base}_prev").disabled
    # answer question 1: saved at once, with the time shown, and the palette marks it
    at.radio(key=f"{base}_q1").set_value(correct_response(items[0][2]))
    run(at)
    with session_scope() as s:
        saved = s.get(AttemptItem, items[0][0])
    assert saved.response == correct_response(items[0][2]) and saved.saved_at is not None
    assert any(c.value.startswith("已保存 ") for c in at.caption)
    assert "已作答 1/4 题" in shown(at)
    assert at.pills(key=f"{base}_palette").proto.options[0].content_icon == ":material/check:"
    # next, then jump by the palette, flag, previous
    at.button(key=f"{base}_next").click()
    run(at)
    assert [r.key for r in at.radio] == [f"{base}_q2"]
    at.pills(key=f"{base}_palette").set_value(4)
    run(at)
    assert [r.key for r in at.radio] == [f"{base}_q4"] and at.button(key=f"{base}_next").disabled
    at.toggle(key=f"{base}_q4_flag").set_value(True)
    run(at)
    with session_scope() as s:
        assert s.get(AttemptItem, items[3][0]).flagged is True
    assert at.pills(key=f"{base}_palette").proto.options[3].content_icon == ":material/flag:"
    at.button(key=f"{base}_prev").click()
    run(at)
    assert [r.key for r in at.radio] == [f"{base}_q3"]
    assert_keys_are_positions(at)
    page = everything(at)
    assert not any(e in page for e in explanations(attempt_id)) and "正确答案" not in page

    # a refresh / another machine: the same attempt, its answers and flags, the remaining time
    fresh = exam_page(learner.id, exam_id)
    assert fresh.radio(key=f"{base}_q1").value == correct_response(items[0][2])
    assert fresh.pills(key=f"{base}_palette").proto.options[3].content_icon == ":material/flag:"
    left = next(i.value for i in fresh.info if i.value.startswith("剩余时间"))
    minutes = int(left.split()[1].split(":")[0])
    assert 28 <= minutes <= 29
    # submitting asks first, counting what is unanswered
    fresh.button(key=f"exam_{exam_id}_submit").click()
    run(fresh)
    assert any("还有 3 题未作答（共 4 题）" in w.value for w in fresh.warning)
    assert "其中 1 题标记为待复查" in shown(fresh)
    fresh.button(key=f"exam_{exam_id}_submit_confirm").click()
    run(fresh)
    with session_scope() as s:
        assert s.get(Attempt, attempt_id).status == "submitted"
    assert any("得分 1/4" in e.value and "未通过" in e.value for e in fresh.error), shown(fresh)


def test_all_on_one_page_submit_and_review_after_submitting(make_user, tree):
    learner = make_user("learner")
    exam_id, _ = make_exam(tree, one_per_page=False)
    attempt_id = start(learner, exam_id)
    base = f"exam_{exam_id}_{attempt_id}"
    items = paper(attempt_id)
    at = exam_page(learner.id, exam_id)
    assert not at.pills
    assert [r.key for r in at.radio] == [f"{base}_q{n}" for n in range(1, 5)]
    for item_id, pos, data in items[:3]:
        at.radio(key=f"{base}_q{pos}").set_value(correct_response(data))
        run(at)
    with session_scope() as s:
        assert [s.get(AttemptItem, i).response is not None for i, _, _ in items] == [True, True, True, False]
    page = everything(at)
    assert not any(e in page for e in explanations(attempt_id)) and "正确答案" not in page
    assert_keys_are_positions(at)
    at.button(key=f"exam_{exam_id}_submit").click()
    run(at)
    at.button(key=f"exam_{exam_id}_submit_cancel").click()           # changed my mind: still open
    run(at)
    with session_scope() as s:
        assert s.get(Attempt, attempt_id).status == "in_progress"
    at.button(key=f"exam_{exam_id}_submit").click()
    run(at)
    assert any("还有 1 题未作答" in w.value for w in at.warning)
    at.button(key=f"exam_{exam_id}_submit_confirm").click()
    run(at)
    assert any("得分 3/4（75%），通过" in s.value for s in at.success), shown(at)
    page = everything(at)                                            # review_*: after_submit
    assert all(e in page for e in explanations(attempt_id)) and "正确答案" in page
    # back to the lobby: one more attempt may start, the result is on the card; the exam's page lists it
    at.button(key="exams_back_end").click()
    run(at)
    assert at.button(key=f"exams_open_{exam_id}").label == "查看考试" and "得分 3/4，通过" in shown(at)
    again = exam_page(learner.id, exam_id)
    assert again.button(key="exams_start") and "我的作答" in shown(again)
    assert any("得分 3/4（75%），通过" in s.value for s in again.success)


def test_review_policy_hides_score_and_keys_until_the_exam_closes(make_user, tree):
    learner = make_user("learner")
    exam_id, _ = make_exam(tree, review_score="after_close", review_answers="after_close", review_explanations="never")
    attempt_id = start(learner, exam_id)
    answer(learner, attempt_id, {1, 2, 3, 4})
    submit(learner, attempt_id)
    at = exam_page(learner.id, exam_id)
    assert any("成绩暂不公开" in i.value for i in at.info), shown(at)
    page = everything(at)
    assert "得分 4/4" not in page and "正确答案" not in page
    assert not any(e in page for e in explanations(attempt_id))
    lobby = exam_page(learner.id)
    assert "得分 4/4" not in everything(lobby)
    with session_scope() as s:
        exams.close_exam(s, system_actor(), exam_id=exam_id)
    after = exam_page(learner.id, exam_id)
    page = everything(after)
    assert any("得分 4/4" in s.value for s in after.success) and "正确答案" in page
    assert not any(e in page for e in explanations(attempt_id))     # explanations: never


def test_countdown_warns_and_the_deadline_submits_what_was_saved(make_user, tree, clock):
    learner = make_user("learner")
    exam_id, _ = make_exam(tree, one_per_page=False)
    attempt_id = start(learner, exam_id)
    base = f"exam_{exam_id}_{attempt_id}"
    items = paper(attempt_id)
    at = exam_page(learner.id, exam_id)
    assert any(i.value == "剩余时间 30:00" for i in at.info), shown(at)
    at.radio(key=f"{base}_q1").set_value(correct_response(items[0][2]))
    run(at)
    clock.advance(minutes=26)
    run(at)
    assert any(w.value == "剩余时间 4:00" for w in at.warning), shown(at)
    assert any("还剩 5 分钟" in t.value for t in at.toast)
    clock.advance(minutes=3, seconds=30)
    run(at)
    assert any(e.value == "剩余时间 0:30" for e in at.error), shown(at)
    clock.advance(seconds=31)
    # the learner still answers on the old page: refused by the server clock; the page shows the result
    at.radio(key=f"{base}_q2").set_value(correct_response(items[1][2]))
    run(at)
    with session_scope() as s:
        attempt = s.get(Attempt, attempt_id)
        assert attempt.status == "submitted" and attempt.auto_submitted
        assert s.get(AttemptItem, items[0][0]).response is not None      # what was saved counts
        assert s.get(AttemptItem, items[1][0]).response is None
    assert "系统已按保存的答案自动交卷" in shown(at)
    assert any("得分 1/4" in e.value for e in at.error), shown(at)


def test_the_page_left_open_submits_at_zero(make_user, tree, clock):
    """Nobody answers: the countdown reaches 0 and the page's rerun finalises the attempt."""
    learner = make_user("learner")
    exam_id, _ = make_exam(tree, time_limit_minutes=1)
    attempt_id = start(learner, exam_id)
    at = exam_page(learner.id, exam_id)
    assert any(e.value == "剩余时间 1:00" for e in at.error)
    clock.advance(seconds=61)
    run(at)
    with session_scope() as s:
        assert s.get(Attempt, attempt_id).status == "submitted"
    assert "系统已按保存的答案自动交卷" in shown(at)


def test_a_stale_tab_is_told_and_shows_the_newer_answer(make_user, tree):
    learner = make_user("learner")
    exam_id, _ = make_exam(tree, one_per_page=False)
    attempt_id = start(learner, exam_id)
    base = f"exam_{exam_id}_{attempt_id}"
    items = paper(attempt_id)
    tab_a, tab_b = exam_page(learner.id, exam_id), exam_page(learner.id, exam_id)
    right = correct_response(items[0][2])
    tab_a.radio(key=f"{base}_q1").set_value(right)
    run(tab_a)
    tab_b.radio(key=f"{base}_q1").set_value((right + 1) % 4)
    run(tab_b)
    assert any("另一个窗口" in w.value for w in tab_b.warning), shown(tab_b)
    assert tab_b.radio(key=f"{base}_q1").value == right
    with session_scope() as s:
        assert s.get(AttemptItem, items[0][0]).response == right


# ---- practice's check hook ------------------------------------------------------------------------

def _practice_page(attempt_id: int):
    import streamlit as st
    from sqlmodel import Session

    from services import attempts as attempts_service
    from services.grading import correct_response as key_of
    from ui.attempt_player import play
    from ui.session import current_actor

    def check(s: Session, item_id: int):
        """Stands in for services/practice.check_answer: the item graded at once, with its key."""
        item = s.get(attempts_service.AttemptItem, item_id)
        data = s.get(attempts_service.QuestionVersion, item.question_version_id).data
        v = next(i for i in attempts_service.view(s, s.get(attempts_service.Attempt, item.attempt_id)).items
                 if i.item_id == item_id)
        v.key, v.explanation = key_of(data), data.get("explanation")
        v.score = attempts_service.item_score(data, item.response, item.points)
        return v
    play(current_actor(), attempt_id, prefix="practice", check=check)
    st.session_state["shown"] = True


def test_check_hook_shows_the_key_of_a_checked_item_only(make_user, tree):
    learner = make_user("learner")
    exam_id, _ = make_exam(tree, one_per_page=False)
    attempt_id = start(learner, exam_id)
    items = paper(attempt_id)
    base = f"practice_{attempt_id}"
    at = AppTest.from_function(_practice_page, args=(attempt_id,), default_timeout=60)
    at.session_state["user_id"] = learner.id
    run(at)
    assert not [b for b in at.button if b.key.endswith("_check")]        # nothing answered: nothing to check
    at.radio(key=f"{base}_q2").set_value(correct_response(items[1][2]))
    run(at)
    assert [b.key for b in at.button if b.key.endswith("_check")] == [f"{base}_q2_check"]
    assert items[1][2]["explanation"] not in everything(at)
    at.button(key=f"{base}_q2_check").click()
    run(at)
    page = everything(at)
    assert items[1][2]["explanation"] in page and "正确答案" in page
    assert not any(items[n][2]["explanation"] in page for n in (0, 2, 3))
    assert at.radio(key=f"{base}_q2").disabled and not at.radio(key=f"{base}_q1").disabled
