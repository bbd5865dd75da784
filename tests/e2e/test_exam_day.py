"""An exam day as issue 8's "done means" has it, on the real server in Chromium: a learner of 海勃湾区 answers
half of a rule-based exam, the server is killed (-9) and started again on the same database, the reload
finds every answer and the remaining time; the learner goes on from another machine (a new browser that
signs in), finishes there, passes, downloads the certificate, and a visitor verifies it on the public page."""
from __future__ import annotations

import signal
from urllib.parse import urlsplit

from playwright.sync_api import expect
from sqlmodel import select

from models import Attempt, Certificate, LedgerEntry
from models.db import session_scope, utcnow
from services import certificates
from tests.e2e.conftest import _run_server
from tests.e2e.helpers import make_user, msg, msg_pattern, new_tab, sign_in
from tests.e2e.test_exams_learner import (PASSWORD, answer_on_screen, chosen_label, go_to, hbw, open_exam_from_lobby,
                                          press, remaining_seconds, rule_exam, saved, start_exam, the_attempt)


def test_exam_day_survives_a_server_kill_and_a_change_of_machine_then_certifies(browser):
    with _run_server("exam-day-before-kill") as first:
        db = first["database_url"]
        port = urlsplit(first["url"]).port
        codes = hbw(db)
        learner = make_user(db, "learner", unit=codes["hbw_town"], name="海勃湾学员")
        exam_id = rule_exam(db, int(codes["hbw_id"]), certificate=True, credit_hours=1.0)
        tab = new_tab(browser, first["url"])
        page = tab.page
        sign_in(tab, learner, PASSWORD)
        open_exam_from_lobby(tab, exam_id)
        start_exam(tab)
        attempt_id, deadline, items = the_attempt(db, learner, exam_id)
        base = f"exam_{exam_id}_{attempt_id}"
        for item_id, position, data in items[:3]:
            answer_on_screen(tab, base, position, data)
            assert saved(db, item_id) is not None
            press(tab, page.get_by_role("button", name=msg("player.next")))
        expect(page.get_by_text(msg("player.progress", answered=3, total=6))).to_be_visible()
        first["proc"].send_signal(signal.SIGKILL)         # no shutdown of any kind
        first["proc"].wait(30)

    with _run_server("exam-day-after-kill", database_url=db, port=port) as second:
        # the same browser reloads: the same attempt, its answers and the time left from the stored deadline
        tab.reload()
        expect(page.get_by_text(msg("player.progress", answered=3, total=6))).to_be_visible()
        left = remaining_seconds(tab)
        assert abs(left - (deadline - utcnow()).total_seconds()) <= 5 and left > 25 * 60
        for _, position, data in items[:3]:
            go_to(tab, base, position)
            expect(page.locator(f".st-key-{base}_q{position}_box").get_by_role("radio", name=chosen_label(data))).to_be_checked()
        tab.shot("exam-day-01-after-restart")

        # another machine: signing in there leads to the same attempt in progress, with every answer
        other = new_tab(browser, second["url"])
        sign_in(other, learner, PASSWORD)
        other.goto(f"/exams?exam={exam_id}")
        expect(other.page.get_by_text(msg("player.progress", answered=3, total=6))).to_be_visible()
        for _, position, data in items[3:]:
            go_to(other, base, position)
            answer_on_screen(other, base, position, data)
        press(other, other.page.get_by_role("button", name=msg("quiz.submit")))
        press(other, other.page.get_by_role("button", name=msg("player.confirm_submit")))
        expect(other.page.get_by_test_id("stAlert").get_by_text(msg_pattern("quiz.result", verdict=msg("quiz.passed")))).to_be_visible()
        other.shot("exam-day-02-passed-elsewhere")
        with session_scope(db) as s:
            a = s.get(Attempt, attempt_id)
            assert a.status == "submitted" and a.passed and a.score == a.max_score == 12
            cert = s.exec(select(Certificate).where(Certificate.attempt_id == attempt_id)).one()
            serial = cert.serial
            assert s.exec(select(LedgerEntry).where(LedgerEntry.user_id == a.user_id, LedgerEntry.source_type == "exam")).one().hours == 1.0

        # the first machine, reloaded, shows the result too (no second attempt, nothing reopened)
        tab.reload()
        expect(page.get_by_test_id("stAlert").get_by_text(msg_pattern("quiz.result", verdict=msg("quiz.passed")))).to_be_visible()

        # the certificate: a PDF from 我的证书, and the public check of its serial
        other.goto("/certificates")
        expect(other.page.get_by_text(msg("certificates.serial", serial=certificates.display_serial(serial)))).to_be_visible()
        with other.page.expect_download() as dl:
            other.page.get_by_role("button", name=msg("certificates.download")).click()
        with open(dl.value.path(), "rb") as f:
            assert f.read(5) == b"%PDF-"
        other.shot("exam-day-03-certificate")
        visitor = browser.new_context(locale="zh-CN").new_page()
        try:
            visitor.goto(f"{second['url']}/verify?serial={serial}")
            expect(visitor.locator("section.result")).to_have_attribute("data-status", "genuine")
            expect(visitor.locator("section.result dd").nth(1)).to_have_text("海勃湾学员")
        finally:
            visitor.context.close()
        for t in (tab, other):
            t.expect_no_error()
            t.page.context.close()
