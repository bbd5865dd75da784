"""Benchmark data: a city-sized database (design.md §6) built with bulk inserts, not the ORM.

20,000 learners (--learners), 300 org units (city, 20 city departments, 3 districts each with 4
departments of the same names and 7 towns, villages), the real curriculum, this year's and last year's
ledger rows, lesson progress and course completions, 200,000 attempts (quiz and exam; a few exams
still open with a deadline) and 5,000,000 stored answers (--answers 0 to skip them), the per-person-year
totals of exams and completions (services.analytics.rollups.rebuild, in SQL), three HR
accounts (city, 海勃湾区, one town). Prints JSON: counts and seconds per table.

Usage: python bench/make_city.py [--learners N] [--attempts N] [--answers N] [--out FILE.db]
       (DATABASE_URL=postgresql+psycopg://... builds on PostgreSQL instead of a SQLite file)."""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHUNK = 20_000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--learners", type=int, default=20_000)
    ap.add_argument("--attempts", type=int, default=200_000)
    ap.add_argument("--answers", type=int, default=5_000_000)
    ap.add_argument("--out", default="data/bench_city.db")
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    if "DATABASE_URL" not in os.environ:
        out = Path(args.out)
        for suffix in ("", "-wal", "-shm"):
            Path(str(out) + suffix).unlink(missing_ok=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{out}"
    from sqlalchemy import insert, select, text

    from models import (Attempt, AttemptItem, Course, CourseCompletion, Exam, LedgerEntry, Lesson, LessonProgress,
                        Membership, OrgUnit, QuestionVersion, RoleGrant, User)
    from models.db import LOCAL_TZ, get_engine, local_year, session_scope
    from models.migrate import upgrade_db
    from services.content import load_bank

    rng = random.Random(args.seed)
    figures: dict[str, float | int | str] = {"database": os.environ["DATABASE_URL"].split("@")[-1],
                                             "learners": args.learners}
    t0 = time.perf_counter()
    upgrade_db()
    with session_scope() as s:
        load_bank(s)
    figures["schema_and_bank_s"] = round(time.perf_counter() - t0, 2)
    engine = get_engine()
    now = datetime.now(UTC)
    this_year = local_year(now)

    def bulk(conn, table, rows, name):
        t = time.perf_counter()
        n = 0
        batch = []
        for r in rows:
            batch.append(r)
            if len(batch) >= CHUNK:
                conn.execute(insert(table), batch)
                n += len(batch)
                batch = []
        if batch:
            conn.execute(insert(table), batch)
            n += len(batch)
        figures[f"{name}_rows"] = n
        figures[f"{name}_s"] = round(time.perf_counter() - t, 2)

    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
        courses = conn.execute(select(Course.id, Course.required).where(Course.active).order_by(Course.position)).all()
        lessons = conn.execute(select(Lesson.id, Lesson.course_id, Lesson.minutes).where(Lesson.active)).all()
        by_course: dict[str, list] = {}
        for lid, cid, minutes in lessons:
            by_course.setdefault(cid, []).append((lid, minutes))
        versions = [v for (v,) in conn.execute(select(QuestionVersion.id)).all()]
        next_unit = (conn.execute(text("SELECT coalesce(max(id), 0) FROM org_unit")).scalar() or 0) + 1

        # --- the org tree: 300 units, ids given here so paths need no round trip
        units: list[dict] = []

        def unit(code, name, kind, parent):
            nonlocal next_unit
            uid = next_unit
            next_unit += 1
            path = f"{parent['path'] if parent else '/'}{uid}/"
            row = {"id": uid, "code": code, "name": name, "kind": kind, "parent_id": parent["id"] if parent else None,
                   "path": path, "depth": parent["depth"] + 1 if parent else 0, "active": True, "created_at": now}
            units.append(row)
            return row
        city = unit("BC", "乌海市", "city", None)
        for i in range(20):
            unit(f"BC-D{i:02d}", f"市直部门{i + 1:02d}", "department", city)
        towns = []
        for d, dname in enumerate(("海勃湾区", "乌达区", "海南区")):
            dist = unit(f"BC-{d}", dname, "district", city)
            for j, dept in enumerate(("区政府办公室", "区人力资源和社会保障局", "区财政局", "区教育局")):
                unit(f"BC-{d}-P{j}", dept, "department", dist)
            for t in range(7):
                towns.append(unit(f"BC-{d}-T{t}", f"{dname[:2]}第{t + 1}镇", "town", dist))
        v = 0
        while len(units) < 300:
            town = towns[v % len(towns)]
            unit(f"{town['code']}-V{v:03d}", f"第{v // len(towns) + 1}村", "village", town)
            v += 1
        bulk(conn, OrgUnit, units, "org_unit")
        homes = [u for u in units if u["kind"] in ("department", "town", "village")]

        # --- people
        first_user = (conn.execute(text("SELECT coalesce(max(id), 0) FROM app_user")).scalar() or 0) + 1
        people = []
        for i in range(args.learners):
            home = rng.choice(homes)
            people.append({"id": first_user + i, "username": f"bc{i:05d}", "name": f"学员{i:05d}",
                           "unit_id": home["id"], "password_hash": "x", "must_change_password": False,
                           "locale": "zh-CN", "active": True, "failed_logins": 0,
                           "created_at": now - timedelta(days=900)})
        hr_units = [city, units[21], towns[0]]
        for k, scope in enumerate(hr_units):
            people.append({"id": first_user + args.learners + k, "username": f"bc_hr{k}", "name": f"人事{k}",
                           "unit_id": scope["id"], "password_hash": "x", "must_change_password": False,
                           "locale": "zh-CN", "active": True, "failed_logins": 0, "created_at": now})
        bulk(conn, User, people, "app_user")
        learner_ids = [p["id"] for p in people[:args.learners]]
        bulk(conn, RoleGrant, ([{"user_id": p["id"], "role": "learner", "scope_unit_id": None} for p in people]
                               + [{"user_id": first_user + args.learners + k, "role": "hr", "scope_unit_id": u["id"]}
                                  for k, u in enumerate(hr_units)]), "role_grant")
        bulk(conn, Membership, ({"user_id": p["id"], "unit_id": p["unit_id"], "valid_from": p["created_at"]}
                                for p in people), "membership")

        # --- study: each person studies a share of the lessons over this year and last year
        progress, ledger, completions = [], [], []
        year_start = datetime(this_year, 1, 1, tzinfo=LOCAL_TZ)
        span_this = (now - year_start).total_seconds()
        last_start = datetime(this_year - 1, 1, 1, tzinfo=LOCAL_TZ)
        for uid in learner_ids:
            engagement = rng.random()
            for cid, required in courses:
                if rng.random() > (0.8 if required else 0.3) * (0.3 + engagement):
                    continue
                ls = by_course.get(cid, [])
                done_all = True
                last = None
                for lid, minutes in ls:
                    if rng.random() > 0.5 + 0.5 * engagement:
                        done_all = False
                        continue
                    if rng.random() < 0.55:
                        when = year_start + timedelta(seconds=rng.random() * span_this)
                    else:
                        when = last_start + timedelta(seconds=rng.random() * (year_start - last_start).total_seconds())
                    last = max(last, when) if last else when
                    hours = 1.0 if minutes >= 30 else 0.5 if minutes >= 15 else 0.25
                    progress.append({"user_id": uid, "course_id": cid, "lesson_id": lid, "first_opened_at": when,
                                     "last_seen_at": when, "seconds_spent": minutes * 60, "completed_at": when})
                    ledger.append({"user_id": uid, "year": local_year(when), "hours": hours, "source_type": "lesson",
                                   "source_id": lid, "course_id": cid, "reason": "学完课件", "created_at": when})
                if done_all and last is not None:
                    completions.append({"user_id": uid, "course_id": cid, "completed_at": last})
                    ledger.append({"user_id": uid, "year": local_year(last), "hours": 0.5, "source_type": "quiz",
                                   "source_id": cid, "course_id": cid, "reason": "通过测验", "created_at": last})
            # hours from elsewhere (the provincial site, classes): several imported rows a year
            for year, start, span in ((this_year, year_start, span_this),
                                      (this_year - 1, last_start, (year_start - last_start).total_seconds())):
                for k in range(rng.randint(0, 12)):
                    when = start + timedelta(seconds=rng.random() * span)
                    ledger.append({"user_id": uid, "year": year, "hours": round(rng.uniform(0.5, 4) * (0.3 + engagement), 1),
                                   "source_type": "import", "source_id": f"bc-{year}-{k}", "course_id": None,
                                   "reason": "导入", "created_at": when})
        bulk(conn, LessonProgress, progress, "lesson_progress")
        bulk(conn, LedgerEntry, ledger, "ledger_entry")
        bulk(conn, CourseCompletion, completions, "course_completion")
        del progress, ledger, completions

        # --- one published exam per course (the exam module): exam attempts belong to it, course_id NULL
        first_exam = (conn.execute(text("SELECT coalesce(max(id), 0) FROM exam")).scalar() or 0) + 1
        exam_of = {cid: first_exam + k for k, (cid, _) in enumerate(courses)}
        bulk(conn, Exam, ({"id": exam_of[cid], "title": f"{cid} 结业考试", "description": "", "course_id": cid,
                           "status": "published", "time_limit_minutes": 60, "attempts_allowed": 1,
                           "grading_method": "highest", "pass_percent": 60, "shuffle_questions": True,
                           "shuffle_options": True, "one_per_page": True, "audience_units": [], "audience_users": [],
                           "review_score": "after_submit", "review_answers": "after_close",
                           "review_explanations": "after_close", "mc_scoring": "proportional", "credit_hours": 0,
                           "certificate": False, "allow_copy": True, "created_at": now, "updated_at": now,
                           "published_at": now} for cid, _ in courses), "exam")

        # --- attempts and answers
        first_attempt = (conn.execute(text("SELECT coalesce(max(id), 0) FROM attempt")).scalar() or 0) + 1
        per_attempt = max(1, args.answers // max(1, args.attempts)) if args.answers else 0
        attempts = []
        open_left = 500
        for i in range(args.attempts):
            uid = learner_ids[i % len(learner_ids)]
            cid, _ = courses[(i // len(learner_ids) + uid) % len(courses)]
            kind = "exam" if i % 3 == 0 else "quiz"
            when = last_start + timedelta(seconds=rng.random() * (now - last_start).total_seconds())
            max_score = float(per_attempt or 25)
            score = round(max_score * min(1.0, max(0.0, rng.gauss(0.7, 0.15))), 1)
            if kind == "exam" and open_left and i // len(learner_ids) == 0:
                open_left -= 1
                attempts.append({"id": first_attempt + i, "user_id": uid, "kind": kind, "course_id": None,
                                 "exam_id": exam_of[cid],
                                 "started_at": now - timedelta(minutes=10), "deadline_at": now + timedelta(minutes=50),
                                 "status": "in_progress", "auto_submitted": False, "max_score": max_score,
                                 "pass_percent": 60, "score": None, "passed": None, "submitted_at": None})
                continue
            attempts.append({"id": first_attempt + i, "user_id": uid, "kind": kind,
                             "course_id": None if kind == "exam" else cid,
                             "exam_id": exam_of[cid] if kind == "exam" else None, "started_at": when,
                             "deadline_at": when + timedelta(hours=1) if kind == "exam" else None,
                             "submitted_at": when + timedelta(minutes=30), "status": "submitted", "auto_submitted": False,
                             "score": score, "max_score": max_score, "pass_percent": 60,
                             "passed": 100 * score / max_score >= 60})
        bulk(conn, Attempt, attempts, "attempt")
        n_attempts = len(attempts)
        del attempts
        if per_attempt and versions:
            def answers():
                for i in range(n_attempts):
                    aid = first_attempt + i
                    for pos in range(1, per_attempt + 1):
                        right = rng.random() < 0.7
                        yield {"attempt_id": aid, "position": pos, "question_version_id": versions[(aid * 7 + pos) % len(versions)],
                               "points": 1.0, "response": 0 if right else 1, "saved_at": now, "version": 1,
                               "score": 1.0 if right else 0.0}
            bulk(conn, AttemptItem, answers(), "attempt_item")
    # --- the exact per-person-year totals (services.analytics.rollups): INSERT ... SELECT, one per year
    t = time.perf_counter()
    from services.analytics import rollups
    with session_scope() as s:
        figures["person_year_total_rows"] = rollups.rebuild(s)
    figures["person_year_total_s"] = round(time.perf_counter() - t, 2)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            t = time.perf_counter()
            conn.exec_driver_sql("ANALYZE")
            figures["analyze_s"] = round(time.perf_counter() - t, 2)
    else:
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    figures["hr_usernames"] = "bc_hr0 (the city), bc_hr1 (海勃湾区), bc_hr2 (one town)"
    figures["total_s"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(figures, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
