"""Exam engine under load, through the services (no server): a 5,000-question bank, 500 examinees.

1. drawing: a 100-question rule-based paper from the 5,000-question bank (services/papers.draw_paper);
2. the start spike: 500 examinees start the same rule-based exam, arrivals spread over --spike-seconds
   (threads calling services/exams.start_exam, one unit of work each): paper drawn and stored;
   then every paper is checked complete (50 items, distinct questions, positions 1..50);
3. saves: every examinee saves each of its 50 answers once (services/attempts.save_answer with the
   item's version), with a think time between saves (uniform 0..2 x --think seconds); afterwards
   EVERY item row is checked: the saved answer is there (else "lost") and its version is exactly 1 and
   no item exists twice (else "duplicated");
4. grading: finalising (grading and settling) 100-question attempts.

SQLite by default (a fresh file); DATABASE_URL=postgresql+psycopg://... to run on PostgreSQL (a fresh
database is created there and dropped afterwards). Prints one JSON line per phase; the last line is
{"examinees", "saves", "p50_ms", "p95_ms", "lost", "duplicated"}.

    .venv/bin/python bench/exam_saves.py [--examinees 500] [--answers 50] [--think 2.0] [--spike-seconds 10]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return round(s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))], 2)


def fresh_url() -> str:
    base = os.environ.get("DATABASE_URL", "")
    if base.startswith("postgresql"):
        from tests.dbutil import fresh_database_url
        os.environ["TEST_DATABASE_URL"] = base
        return fresh_database_url("bench")
    import tempfile
    return f"sqlite:///{tempfile.mkdtemp(prefix='isa-bench-')}/app.db"


CATEGORIES = [f"基准/{a}/{b}" for a in ("网络", "数据", "政务", "安全", "应用") for b in ("一", "二", "三", "四")]
TYPES = ("true_false", "single_choice", "multiple_choice")


def make_bank(session, n: int) -> None:
    """n questions spread over 20 categories x 3 types x 5 difficulties (bulk insert)."""
    from sqlalchemy import insert

    from models import Question, QuestionVersion
    from models.db import utcnow
    now = utcnow()
    qs, vs = [], []
    for i in range(n):
        qid, t, cat, d = f"bq-{i:05d}", TYPES[i % 3], CATEGORIES[(i // 3) % len(CATEGORIES)], 1 + (i // 60) % 5
        data = {"id": qid, "type": t, "text": f"基准题 {i}", "category": cat, "difficulty": d, "usage": "both",
                "points": 1, "explanation": "解析", "tags": []}
        if t == "true_false":
            data["answer"] = i % 2 == 0
        elif t == "single_choice":
            data["options"] = [{"text": f"选项{k}", "fraction": 1.0 if k == i % 4 else 0.0, "feedback": None} for k in range(4)]
        else:
            data["options"] = [{"text": f"选项{k}", "fraction": 0.5 if k < 2 else -1.0, "feedback": None} for k in range(4)]
        qs.append({"id": qid, "course_id": None, "current_version": 1, "active": True, "created_at": now})
        vs.append({"question_id": qid, "version": 1, "type": t, "category": cat, "difficulty": d, "usage": "both",
                   "points": 1.0, "data": data, "content_hash": f"h{i}", "created_at": now, "search_text": "",
                   "tags_key": ""})
    session.execute(insert(Question.__table__), qs)
    session.execute(insert(QuestionVersion.__table__), vs)
    session.flush()


def make_learners(session, n: int, unit_id: int):
    from sqlalchemy import insert, select

    from models import User
    from models.db import utcnow
    from services.permissions import Actor
    tag = random.randrange(10 ** 6)
    session.execute(insert(User.__table__), [
        {"username": f"bench{tag}-{i}", "name": f"考生{i}", "unit_id": unit_id, "password_hash": "x",
         "must_change_password": False, "locale": "zh-CN", "active": True, "failed_logins": 0, "created_at": utcnow()}
        for i in range(n)])
    rows = session.exec(select(User.id, User.username).where(User.username.like(f"bench{tag}-%"))).all()
    return [Actor(id=uid, username=name, name=name, unit_id=unit_id, scopes={"learner": ("/",)}) for uid, name in rows]


def response_for(data: dict, salt: int):
    if data["type"] == "true_false":
        return salt % 2 == 0
    if data["type"] == "single_choice":
        return salt % 4
    return sorted({salt % 4, (salt + 1) % 4})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examinees", type=int, default=500)
    ap.add_argument("--answers", type=int, default=50)
    ap.add_argument("--bank", type=int, default=5000)
    ap.add_argument("--think", type=float, default=2.0, help="mean seconds between two saves of one examinee")
    ap.add_argument("--spike-seconds", type=float, default=10.0, help="the starts arrive within this many seconds")
    args = ap.parse_args()

    url = fresh_url()
    os.environ["DATABASE_URL"] = url
    from sqlmodel import func, select

    from models import Attempt, AttemptItem, QuestionVersion
    from models.db import get_engine, session_scope
    from models.migrate import upgrade_db
    from services import attempts, exams, org, papers
    from services.permissions import system_actor
    upgrade_db(url)
    with session_scope(url) as s:
        make_bank(s, args.bank)
        unit = org.create_unit(s, system_actor(), code=f"BENCH-{random.randrange(10**6)}", name="基准区", kind="district")
        unit_id = unit.id
    with session_scope(url) as s:
        learners = make_learners(s, args.examinees, unit_id)

    # 1. drawing a 100-question paper from the bank
    rules100 = [{"type": t, "category": c, "count": 5} for t in TYPES[:2] for c in CATEGORIES[:8]] + \
               [{"type": "multiple_choice", "category": "基准", "difficulty": [2, 4], "count": 20, "points": 2}]
    draw_ms, cold_ms = [], []
    with session_scope(url) as s:
        for seed in range(60):
            cold = seed % 2 == 0
            if cold:            # pools and version facts read from the database again
                papers._POOLS.clear()
                papers._VERSIONS.clear()
            t0 = time.perf_counter()
            paper = papers.draw_paper(s, seed=seed, rules=rules100)
            (cold_ms if cold else draw_ms).append((time.perf_counter() - t0) * 1000)
            assert len(paper) == 100 and len({i.question_id for i in paper.items}) == 100
        t0 = time.perf_counter()
        check = papers.check_rules(s, rules100)
        check_ms = (time.perf_counter() - t0) * 1000
    print(json.dumps({"phase": "draw", "bank": args.bank, "questions": 100, "runs": 60, "cold_p50_ms": pct(cold_ms[1:], 50),
                      "cold_p95_ms": pct(cold_ms[1:], 95), "warm_p50_ms": pct(draw_ms, 50), "warm_p95_ms": pct(draw_ms, 95), "check_rules_ms": round(check_ms, 1),
                      "papers": str(check.papers)}, ensure_ascii=False), flush=True)

    # 2. the start spike
    rules50 = [{"type": t, "category": c, "count": 5} for t in TYPES for c in CATEGORIES[:3]] + \
              [{"type": "true_false", "category": "基准/安全", "count": 5}]
    assert sum(r["count"] for r in rules50) == args.answers or args.answers != 50
    if args.answers != 50:
        rules50 = [{"type": "true_false", "category": "基准", "count": args.answers}]
    with session_scope(url) as s:
        exam_id = exams.create_exam(s, system_actor(), exam_in=exams.ExamIn.model_validate(
            {"title": "基准考试", "rules": rules50, "time_limit_minutes": 120, "attempts_allowed": 1,
             "audience_units": [unit_id]}))
        exams.publish_exam(s, system_actor(), exam_id=exam_id)
    start_ms: list[float] = []
    attempt_of: dict[int, int] = {}
    errors: list[str] = []
    lock = threading.Lock()
    t_spike = time.perf_counter()

    def starter(actor, delay):
        time.sleep(delay)
        t0 = time.perf_counter()
        try:
            with session_scope(url) as s:
                aid = exams.start_exam(s, actor, exam_id=exam_id)
        except Exception as exc:   # counted and reported
            with lock:
                errors.append(f"start: {type(exc).__name__}: {exc}")
            return
        ms = (time.perf_counter() - t0) * 1000
        with lock:
            start_ms.append(ms)
            attempt_of[actor.id] = aid
    threads = [threading.Thread(target=starter, args=(a, random.uniform(0, args.spike_seconds))) for a in learners]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    spike_wall = time.perf_counter() - t_spike
    with session_scope(url) as s:
        counts = dict(s.exec(select(AttemptItem.attempt_id, func.count(func.distinct(AttemptItem.question_version_id)))
                             .join(Attempt, Attempt.id == AttemptItem.attempt_id).where(Attempt.exam_id == exam_id)
                             .group_by(AttemptItem.attempt_id)).all())
        n_attempts = s.exec(select(func.count()).select_from(Attempt).where(Attempt.exam_id == exam_id)).one()
    complete = sum(1 for aid in attempt_of.values() if counts.get(aid) == args.answers)
    print(json.dumps({"phase": "start_spike", "examinees": len(learners), "within_s": args.spike_seconds,
                      "wall_s": round(spike_wall, 1), "p50_ms": pct(start_ms, 50), "p95_ms": pct(start_ms, 95),
                      "max_ms": pct(start_ms, 100), "attempts": n_attempts, "complete_papers": complete,
                      "errors": len(errors)}), flush=True)

    # 3. saves
    with session_scope(url) as s:
        rows = s.exec(select(AttemptItem.id, AttemptItem.attempt_id, AttemptItem.position, QuestionVersion.data)
                      .join(QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id)
                      .join(Attempt, Attempt.id == AttemptItem.attempt_id).where(Attempt.exam_id == exam_id)).all()
    items_of: dict[int, list[tuple[int, int, dict]]] = {}
    for item_id, aid, pos, data in rows:
        items_of.setdefault(aid, []).append((item_id, pos, data))
    expected: dict[int, object] = {}
    save_ms: list[float] = []
    # where a save's time goes: the pool's checkout, the two statements, the commit; and this thread's CPU
    # (wall far above CPU: the save waited, for the database or for the interpreter's lock)
    split: dict[str, list[float]] = {"checkout": [], "statements": [], "commit": [], "cpu": []}
    acked = [0]

    def examinee(actor):
        aid = attempt_of.get(actor.id)
        if aid is None:
            return
        rng = random.Random(actor.id)
        time.sleep(rng.uniform(0, args.think))
        for item_id, pos, data in sorted(items_of[aid], key=lambda x: x[1]):
            response = response_for(data, actor.id + pos)
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                with session_scope(url) as s:
                    s.connection()          # the pool's checkout (and its ping), timed apart
                    t1 = time.perf_counter()
                    attempts.save_answer(s, actor, item_id=item_id, response=response, expected_version=0)
                    t2 = time.perf_counter()
            except Exception as exc:
                with lock:
                    errors.append(f"save: {type(exc).__name__}: {exc}")
                continue
            t3 = time.perf_counter()
            ms = (t3 - t0) * 1000
            with lock:
                save_ms.append(ms)
                split["checkout"].append((t1 - t0) * 1000)
                split["statements"].append((t2 - t1) * 1000)
                split["commit"].append((t3 - t2) * 1000)
                split["cpu"].append((time.thread_time() - c0) * 1000)
                expected[item_id] = response
                acked[0] += 1
            time.sleep(rng.uniform(0, 2 * args.think))
    t_saves = time.perf_counter()
    threads = [threading.Thread(target=examinee, args=(a,)) for a in learners]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    saves_wall = time.perf_counter() - t_saves
    lost = duplicated = 0
    with session_scope(url) as s:
        stored = s.exec(select(AttemptItem.id, AttemptItem.attempt_id, AttemptItem.position, AttemptItem.response,
                               AttemptItem.version).join(Attempt, Attempt.id == AttemptItem.attempt_id)
                        .where(Attempt.exam_id == exam_id)).all()
    seen_pos: set[tuple[int, int]] = set()
    by_id = {}
    for item_id, aid, pos, response, version in stored:
        if (aid, pos) in seen_pos:
            duplicated += 1
        seen_pos.add((aid, pos))
        by_id[item_id] = (response, version)
    for item_id, response in expected.items():
        got = by_id.get(item_id)
        if got is None or got[0] != response:
            lost += 1
        elif got[1] != 1:
            duplicated += 1
    print(json.dumps({"phase": "saves", "think_mean_s": args.think, "wall_s": round(saves_wall, 1),
                      "saves_per_s": round(acked[0] / saves_wall, 1), "max_ms": pct(save_ms, 100),
                      "p99_ms": pct(save_ms, 99), "errors": len(errors), "first_errors": errors[:3],
                      "split_p50_p95_ms": {k: [pct(v, 50), pct(v, 95)] for k, v in split.items()}},
                     ensure_ascii=False), flush=True)

    # 4. grading 100-question attempts
    grade_ms = []
    with session_scope(url) as s:
        exam100 = exams.create_exam(s, system_actor(), exam_in=exams.ExamIn.model_validate(
            {"title": "百题考试", "rules": rules100, "time_limit_minutes": 120, "attempts_allowed": 1,
             "audience_units": [unit_id]}))
        exams.publish_exam(s, system_actor(), exam_id=exam100)
    for actor in learners[:20]:
        with session_scope(url) as s:
            aid = exams.start_exam(s, actor, exam_id=exam100)
            for item_id, data in s.exec(select(AttemptItem.id, QuestionVersion.data).join(
                    QuestionVersion, QuestionVersion.id == AttemptItem.question_version_id)
                    .where(AttemptItem.attempt_id == aid)).all():
                attempts.save_answer(s, actor, item_id=item_id, response=response_for(data, item_id))
        with session_scope(url) as s:
            attempt = s.get(Attempt, aid)
            t0 = time.perf_counter()
            attempts.finalise(s, attempt, at=attempts.now())
            grade_ms.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"phase": "grade", "questions": 100, "runs": len(grade_ms), "p50_ms": pct(grade_ms, 50),
                      "p95_ms": pct(grade_ms, 95)}), flush=True)

    get_engine(url).dispose()
    if url.startswith("postgresql"):
        from tests.dbutil import drop_created
        drop_created()
    print(json.dumps({"examinees": len(learners), "saves": acked[0], "p50_ms": pct(save_ms, 50),
                      "p95_ms": pct(save_ms, 95), "lost": lost, "duplicated": duplicated}))


if __name__ == "__main__":
    main()
