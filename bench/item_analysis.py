"""Item analysis at scale: one exam with 5,000 graded attempts x 100 questions (500,000 scored answers).

Builds the database once with bulk inserts (a SQLite file, data/bench_item_analysis.db by default, reused
when it already holds the exam; --rebuild to start again; DATABASE_URL=postgresql+psycopg://... builds on
PostgreSQL instead), then times services/analytics/item_report.item_report of that exam cold (a new
engine and session each run, so nothing is cached in the process: p50 of --runs) for an admin and for a
district trainer (the scope check included), and the distractor table of one question. Target: < 1 s.

Prints one JSON object: rows, build seconds, p50/max ms of each timing, and the split of one run
(SQL fetch vs the statistics).

    .venv/bin/python bench/item_analysis.py [--attempts 5000] [--questions 100] [--runs 5] [--rebuild]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TITLE = "基准考试（题目分析）"


def build(args) -> float:
    """The org (a city and a district), learners, a 100-question bank, one published exam with a fixed
    paper, and its graded attempts with responses and scores from a simple ability x difficulty model."""
    import numpy as np
    from sqlalchemy import insert, text

    from bench.exam_saves import make_bank
    from models import Attempt, AttemptItem, Exam, OrgUnit, RoleGrant, User
    from models.db import get_engine, session_scope
    from models.migrate import upgrade_db
    t0 = time.perf_counter()
    upgrade_db()
    rng = np.random.default_rng(2026)
    now = datetime.now(UTC)
    with session_scope() as s:
        make_bank(s, args.questions)
    engine = get_engine()
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
        next_unit = (conn.execute(text("SELECT coalesce(max(id), 0) FROM org_unit")).scalar() or 0) + 1
        city, dist = next_unit, next_unit + 1
        conn.execute(insert(OrgUnit), [
            {"id": city, "code": "IA-C", "name": "基准市", "kind": "city", "parent_id": None, "path": f"/{city}/",
             "depth": 0, "active": True, "created_at": now},
            {"id": dist, "code": "IA-D", "name": "基准区", "kind": "district", "parent_id": city,
             "path": f"/{city}/{dist}/", "depth": 1, "active": True, "created_at": now}])
        first_user = (conn.execute(text("SELECT coalesce(max(id), 0) FROM app_user")).scalar() or 0) + 1
        people = [{"id": first_user + i, "username": f"ia{i:05d}", "name": f"考生{i:05d}", "unit_id": dist,
                   "password_hash": "x", "must_change_password": False, "locale": "zh-CN", "active": True,
                   "failed_logins": 0, "created_at": now} for i in range(args.attempts)]
        trainer = first_user + args.attempts
        people.append({"id": trainer, "username": "ia_trainer", "name": "区培训员", "unit_id": dist, "password_hash": "x",
                       "must_change_password": False, "locale": "zh-CN", "active": True, "failed_logins": 0,
                       "created_at": now})
        conn.execute(insert(User), people)
        conn.execute(insert(RoleGrant), [{"user_id": trainer, "role": "trainer", "scope_unit_id": dist}])
        versions = conn.execute(text("SELECT id, question_id, type, data FROM question_version "
                                     "WHERE question_id LIKE 'bq-%' ORDER BY question_id")).all()[:args.questions]
        exam_id = conn.execute(insert(Exam).returning(Exam.id), [{
            "title": TITLE, "description": "", "status": "closed", "question_ids": [v[1] for v in versions],
            "time_limit_minutes": 60, "attempts_allowed": 1, "grading_method": "highest", "pass_percent": 60,
            "shuffle_questions": False, "shuffle_options": False, "one_per_page": True, "audience_units": [dist],
            "audience_users": [], "review_score": "after_submit", "review_answers": "after_close",
            "review_explanations": "after_close", "mc_scoring": "proportional", "credit_hours": 0, "certificate": False,
            "allow_copy": True, "created_at": now, "updated_at": now}]).scalar_one()
        ability = rng.normal(size=args.attempts)
        difficulty = rng.normal(size=len(versions))
        right = rng.random((args.attempts, len(versions))) < 1 / (1 + np.exp(-(ability[:, None] - difficulty[None, :])))
        first_attempt = (conn.execute(text("SELECT coalesce(max(id), 0) FROM attempt")).scalar() or 0) + 1
        start = now - timedelta(days=3)
        conn.execute(insert(Attempt), [
            {"id": first_attempt + i, "user_id": first_user + i, "kind": "exam", "course_id": None, "exam_id": exam_id,
             "seed": i, "tab_switches": 0, "started_at": start, "deadline_at": start + timedelta(hours=1),
             "submitted_at": start + timedelta(minutes=40), "status": "submitted", "auto_submitted": False,
             "score": float(right[i].sum()), "max_score": float(len(versions)), "pass_percent": 60,
             "passed": bool(right[i].sum() >= 0.6 * len(versions))} for i in range(args.attempts)])
        import json as _json

        def response(v, ok: bool, i: int):
            _, _, typ, data = v
            data = _json.loads(data) if isinstance(data, str) else data
            if typ == "true_false":
                return bool(data["answer"]) if ok else not data["answer"]
            key = [k for k, o in enumerate(data["options"]) if o["fraction"] > 0]
            wrong = [k for k, o in enumerate(data["options"]) if o["fraction"] <= 0]
            if typ == "single_choice":
                return key[0] if ok else wrong[i % len(wrong)]
            return key if ok else [key[0], wrong[i % len(wrong)]]
        batch = []
        for i in range(args.attempts):
            for p, v in enumerate(versions):
                ok = bool(right[i, p])
                batch.append({"attempt_id": first_attempt + i, "position": p + 1, "question_version_id": v[0],
                              "points": 1.0, "option_order": None, "response": response(v, ok, i), "saved_at": start,
                              "version": 1, "score": 1.0 if ok else 0.0, "flagged": False})
            if len(batch) >= 20_000:
                conn.execute(insert(AttemptItem), batch)
                batch = []
        if batch:
            conn.execute(insert(AttemptItem), batch)
    return round(time.perf_counter() - t0, 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--attempts", type=int, default=5000)
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default="data/bench_item_analysis.db")
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    pg = os.environ.get("DATABASE_URL", "").startswith("postgresql")
    if not pg:
        out = ROOT / args.out
        if args.rebuild:
            for suffix in ("", "-wal", "-shm"):
                Path(str(out) + suffix).unlink(missing_ok=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{out}"
    from sqlmodel import select

    from models import Exam, User
    from models.db import get_engine, session_scope
    figures: dict = {"database": "postgresql" if pg else "sqlite", "attempts": args.attempts, "questions": args.questions}
    exam_id = None
    try:
        with session_scope() as s:
            exam_id = s.exec(select(Exam.id).where(Exam.title == TITLE)).first()
    except Exception:      # no schema yet
        get_engine.cache_clear()
    figures["build_s"] = 0.0 if exam_id else build(args)
    with session_scope() as s:
        exam_id = s.exec(select(Exam.id).where(Exam.title == TITLE)).one()
        trainer_id = s.exec(select(User.id).where(User.username == "ia_trainer")).one()

    from services.analytics import item_report as ir
    from services.permissions import load_actor, system_actor

    cpu: dict[str, list[float]] = {"admin": [], "trainer": []}

    def cold(call, who: str) -> float:
        """Wall ms of one run on a new engine (new connection, no statement cache); CPU ms noted beside it
        (the machine is shared: wall time includes waiting for a core)."""
        get_engine().dispose()
        get_engine.cache_clear()
        t, c = time.perf_counter(), time.process_time()
        with session_scope() as s:
            call(s)
        cpu[who].append((time.process_time() - c) * 1000)
        return (time.perf_counter() - t) * 1000

    def run(actor_of):
        return lambda s: ir.item_report(s, actor_of(s), exam_id=exam_id)
    admin = [cold(run(lambda s: system_actor()), "admin") for _ in range(args.runs)]
    trainer = [cold(run(lambda s: load_actor(s, trainer_id)), "trainer") for _ in range(args.runs)]
    with session_scope() as s:
        report = ir.item_report(s, system_actor(), exam_id=exam_id)
        worst = report.items[0].question_id
        t = time.perf_counter()
        opts = ir.option_analysis(s, system_actor(), report, worst)
        options_ms = (time.perf_counter() - t) * 1000
        # the split of one run: the statement alone vs everything
        kind, _title, cond, scoped = ir._where(s, system_actor(), exam_id=exam_id, course_id=None)
        t = time.perf_counter()
        rows = ir.fetch_numeric(s, ir.marks_query(cond, None, with_scope_join=False), 4)
        fetch_ms = (time.perf_counter() - t) * 1000
    figures.update({
        "rows": len(rows), "item_report_admin_p50_ms": round(statistics.median(admin), 1),
        "item_report_admin_max_ms": round(max(admin), 1), "item_report_trainer_p50_ms": round(statistics.median(trainer), 1),
        "item_report_trainer_max_ms": round(max(trainer), 1),
        "item_report_admin_cpu_p50_ms": round(statistics.median(cpu["admin"]), 1),
        "item_report_trainer_cpu_p50_ms": round(statistics.median(cpu["trainer"]), 1), "sql_fetch_ms": round(fetch_ms, 1),
        "option_analysis_ms": round(options_ms, 1), "worst_question": worst,
        "worst_d27": report.items[0].d27, "cic": report.test.cic, "option_rows": len(opts.rows) if opts else 0,
        "target_ms": 1000, "met_wall": statistics.median(trainer) < 1000 and statistics.median(admin) < 1000,
        "met_cpu": statistics.median(cpu["trainer"]) < 1000 and statistics.median(cpu["admin"]) < 1000,
        "load_avg": os.getloadavg()[0]})
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
