"""Exam definitions and the learner's side: trainer scope and audience, draft -> published (paper frozen)
-> closed, the lobby lists, attempts allowed, deadline = min(start + limit, close), grading method, the
CLI contract (subprocess)."""
import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
import yaml
from sqlmodel import select

from config import ROOT
from models import Attempt, AttemptItem, Exam, LedgerEntry, QuestionVersion
from models.db import session_scope
from services import attempts, exams
from services.errors import NotFound, PermissionDenied, ValidationFailed
from services.grading import correct_response
from services.permissions import system_actor
from tests.unit.examkit import Clock, exam_in, make_questions, published


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


@pytest.fixture(scope="module")
def bank():
    return make_questions(8, "true_false")[0]


def answer(actor, attempt_id, right=True):
    with session_scope() as s:
        for it in attempts.attempt_view(s, actor, attempt_id=attempt_id).items:
            data = s.get(QuestionVersion, s.get(AttemptItem, it.item_id).question_version_id).data
            key = correct_response(data)
            attempts.save_answer(s, actor, item_id=it.item_id, response=key if right else (not key),
                                 expected_version=it.version)


def sit(actor, exam_id, right=True) -> int:
    with session_scope() as s:
        attempt_id = exams.start_exam(s, actor, exam_id=exam_id)
    answer(actor, attempt_id, right)
    with session_scope() as s:
        attempts.submit_attempt(s, actor, attempt_id=attempt_id)
    return attempt_id


def test_a_trainer_sets_exams_only_for_an_audience_in_scope(make_user, tree, bank):
    trainer = make_user(("trainer", "district"), unit="district")
    outsider = make_user("learner", unit="district2")
    plain = make_user("learner")
    with session_scope() as s:
        exam_id = exams.create_exam(s, trainer, exam_in=exam_in(bank, audience_units=[tree["town"]]))
        assert exams.get_exam(s, trainer, exam_id=exam_id).status == "draft"
        for bad in ({"audience_units": [tree["district2"]]}, {"audience_units": []},
                    {"audience_users": [outsider.id]}):
            with pytest.raises(PermissionDenied):
                exams.create_exam(s, trainer, exam_in=exam_in(bank, **bad))
        with pytest.raises(PermissionDenied):
            exams.create_exam(s, plain, exam_in=exam_in(bank, audience_units=[tree["town"]]))
    with session_scope() as s:
        other = exams.create_exam(s, system_actor(), exam_in=exam_in(bank, audience_units=[tree["district2"]]))
    with session_scope() as s:
        assert other not in [e.id for e in exams.list_exams(s, trainer)] and exam_id in [e.id for e in exams.list_exams(s, trainer)]
        for call in (lambda: exams.get_exam(s, trainer, exam_id=other), lambda: exams.publish_exam(s, trainer, exam_id=other),
                     lambda: exams.results(s, trainer, exam_id=other)):
            with pytest.raises(PermissionDenied):
                call()


def test_an_unsatisfiable_paper_creates_nothing(make_user, bank):
    with session_scope() as s:
        before = s.exec(select(Exam.id)).all()
        with pytest.raises(ValidationFailed) as exc:
            exams.create_exam(s, system_actor(), exam_in=exam_in(bank, count=9))
        assert exc.value.code == "error.exam_unsatisfiable" and "the bank has 8" in exc.value.params["problems"]
        check = exams.check_paper(s, system_actor(), rules=[{"type": "true_false", "category": bank, "count": 3}])
        assert check.ok and check.questions == 3 and check.papers_exact == 56 and check.papers == "56"
        with pytest.raises(ValidationFailed):
            exams.create_exam(s, system_actor(), exam_in=exam_in(bank, rules=None, question_ids=["no-such-question"]))
        assert s.exec(select(Exam.id)).all() == before


def test_a_published_exam_has_a_frozen_paper(bank):
    exam_id = published(exam_in(bank))
    with session_scope() as s:
        current = exams.get_exam(s, system_actor(), exam_id=exam_id)
        changed = current.to_input().model_copy(update={"title": "新标题", "time_limit_minutes": 45})
        exams.update_exam(s, system_actor(), exam_id=exam_id, exam_in=changed)
        assert exams.get_exam(s, system_actor(), exam_id=exam_id).title == "新标题"
        other_rules = changed.model_copy(update={"rules": [exams.DrawRule(type="true_false", category=bank, count=2)]})
        with pytest.raises(ValidationFailed) as exc:
            exams.update_exam(s, system_actor(), exam_id=exam_id, exam_in=other_rules)
        assert exc.value.code == "error.exam_paper_frozen"
        with pytest.raises(ValidationFailed):
            exams.publish_exam(s, system_actor(), exam_id=exam_id)


def test_the_lobby_shows_only_the_audience_and_sorts_the_exams(make_user, tree, bank, clock):
    learner, named, elsewhere = make_user("learner", unit="village"), make_user("learner", unit="district2"), make_user("learner", unit="district2")
    now = clock.now
    ids = {
        "open": published(exam_in(bank, audience_units=[tree["district"]], audience_users=[named.id])),
        "later": published(exam_in(bank, audience_units=[tree["district"]], opens_at=now + timedelta(days=1))),
        "gone": published(exam_in(bank, audience_units=[tree["district"]], closes_at=now + timedelta(minutes=1))),
        "other": published(exam_in(bank, audience_units=[tree["district2"]])),
    }
    with session_scope() as s:
        draft = exams.create_exam(s, system_actor(), exam_in=exam_in(bank, audience_units=[tree["district"]]))
    with session_scope() as s:
        lobby = exams.lobby(s, learner)
        seen = lambda lst: {c.exam_id for c in lst} & set(ids.values()) | ({draft} & {c.exam_id for c in lst})  # noqa: E731
        assert seen(lobby.available) == {ids["open"], ids["gone"]} and seen(lobby.upcoming) == {ids["later"]}
        assert not seen(lobby.in_progress) and not seen(lobby.finished)
        card = next(c for c in lobby.available if c.exam_id == ids["open"])
        assert (card.questions, card.max_score, card.attempts_left, card.time_limit_minutes) == (4, 4, 2, 30)
        assert ids["open"] in {c.exam_id for c in exams.lobby(s, named).available}          # named in person
        assert not {c.exam_id for c in exams.lobby(s, elsewhere).available} & {ids["open"], ids["gone"]}
        with pytest.raises(NotFound):
            exams.start_exam(s, elsewhere, exam_id=ids["open"])
        with pytest.raises(NotFound):
            exams.start_exam(s, learner, exam_id=draft)
        with pytest.raises(ValidationFailed) as exc:
            exams.start_exam(s, learner, exam_id=ids["later"])
        assert exc.value.code == "error.exam_not_open"
    with session_scope() as s:
        attempt_id = exams.start_exam(s, learner, exam_id=ids["gone"])
        # the deadline is the close time, not start + 30 minutes
        assert s.get(Attempt, attempt_id).deadline_at == now + timedelta(minutes=1)
        assert exams.start_exam(s, learner, exam_id=ids["gone"]) == attempt_id      # resume, not a second one
    with session_scope() as s:
        assert [c.open_attempt_id for c in exams.lobby(s, learner).in_progress if c.exam_id == ids["gone"]] == [attempt_id]
    clock.advance(minutes=2)
    with session_scope() as s:       # the lobby finalises the overdue attempt and lists it as finished
        lobby = exams.lobby(s, learner)
        assert ids["gone"] in {c.exam_id for c in lobby.finished}
        assert s.get(Attempt, attempt_id).status == "submitted" and s.get(Attempt, attempt_id).auto_submitted


def test_attempts_allowed_and_the_grading_method(make_user, tree, bank):
    learner = make_user("learner")
    highest = published(exam_in(bank, audience_units=[tree["district"]], attempts_allowed=2, grading_method="highest",
                                credit_hours=2))
    last = published(exam_in(bank, audience_units=[tree["district"]], attempts_allowed=2, grading_method="last"))
    for exam_id in (highest, last):
        sit(learner, exam_id, right=True)
        sit(learner, exam_id, right=False)
        with session_scope() as s, pytest.raises(ValidationFailed) as exc:
            exams.start_exam(s, learner, exam_id=exam_id)
        assert exc.value.code == "error.exam_no_attempts_left"
    with session_scope() as s:
        lobby = exams.lobby(s, learner)
        fin = {c.exam_id: c for c in lobby.finished}
        assert (fin[highest].score, fin[highest].passed) == (4, True)
        assert (fin[last].score, fin[last].passed) == (0, False)
        res = exams.results(s, system_actor(), exam_id=highest)
        mine = [a for a in res.attempts if a.username == learner.username]
        assert [(a.score, a.counted, a.answered, a.questions) for a in mine] == [(4, True, 4, 4), (0, False, 4, 4)]
        hours = s.exec(select(LedgerEntry).where(LedgerEntry.user_id == learner.id, LedgerEntry.source_type == "exam")).all()
        assert [(h.hours, h.source_id) for h in hours] == [(2, f"exam-{highest}")]     # once, on passing


def test_closing_an_exam_finalises_open_attempts(make_user, tree, bank):
    learner = make_user("learner")
    exam_id = published(exam_in(bank, audience_units=[tree["district"]]))
    with session_scope() as s:
        attempt_id = exams.start_exam(s, learner, exam_id=exam_id)
    with session_scope() as s:
        assert exams.close_exam(s, system_actor(), exam_id=exam_id) == 1
    with session_scope() as s:
        assert s.get(Attempt, attempt_id).status == "submitted"
        with pytest.raises(ValidationFailed):
            exams.start_exam(s, learner, exam_id=exam_id)


def test_results_export_to_excel_as_text(make_user, tree, bank):
    from openpyxl import load_workbook
    import io
    learner = make_user("learner")
    exam_id = published(exam_in(bank, audience_units=[tree["district"]], title="=HYPERLINK(\"x\")"))
    sit(learner, exam_id)
    with session_scope() as s:
        data = exams.results_xlsx(s, system_actor(), exam_id=exam_id)
    ws = load_workbook(io.BytesIO(data)).active
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    assert any(learner.username in (r or []) for r in rows)
    assert all(not (isinstance(v, str) and v.startswith("=")) or ws.cell(1, 1).data_type == "s" for r in rows for v in r)


def cli(*args, url):
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], check=False, cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "DATABASE_URL": url}, timeout=300)


def test_the_cli_contract(database, tree, make_user, tmp_path):
    learner = make_user("learner")
    cat, ids = make_questions(5, "true_false")
    spec = {"title": "CLI 考试", "rules": [{"category": cat, "type": "true_false", "count": 3, "points": 2}],
            "time_limit_minutes": 20, "attempts": 1, "pass_percent": 50,
            "audience": {"units": [tree["codes"]["district"]], "users": [learner.username]},
            "credit_hours": 1, "certificate": False, "opens_at": "2026-01-01T08:00:00"}
    f = tmp_path / "exam.yaml"
    f.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    r = cli("exams", "create", "--spec", str(f), "--json", "--publish", url=database)
    assert r.returncode == 0, r.stderr
    exam_id = json.loads(r.stdout)["id"]
    with session_scope() as s:
        e = exams.get_exam(s, system_actor(), exam_id=exam_id)
        assert (e.status, e.audience_users, e.attempts_allowed, e.opens_at.utcoffset()) == ("published", [learner.id], 1, timedelta(0))
        assert e.opens_at.hour == 0        # 08:00 in the city (UTC+8)
    sit(learner, exam_id)
    r = cli("exams", "results", str(exam_id), "--json", url=database)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["exam"]["id"] == exam_id and out["exam"]["title"] == "CLI 考试"
    (a,) = out["attempts"]
    assert {"username", "status", "score", "max_score", "passed", "started_at", "submitted_at", "answered",
            "tab_switches"} <= set(a)
    assert (a["username"], a["status"], a["score"], a["max_score"], a["passed"], a["answered"], a["tab_switches"]) == (
        learner.username, "submitted", 6, 6, True, 3, 0)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(dict(spec, title="太多", rules=[{"category": cat, "type": "true_false", "count": 6}]),
                                  allow_unicode=True), encoding="utf-8")
    r = cli("exams", "create", "--spec", str(bad), "--json", url=database)
    assert r.returncode == 1 and "the bank has 5" in r.stderr and r.stdout == ""
    with session_scope() as s:
        assert s.exec(select(Exam).where(Exam.title == "太多")).first() is None
    r = cli("exams", "sweep", "--json", url=database)
    assert r.returncode == 0 and set(json.loads(r.stdout)) == {"finalised"}
