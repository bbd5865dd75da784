"""The real server under load: Locust users that speak Streamlit's websocket protocol (bench/streamlit_client.py).

Each simulated examinee is a browser tab, one websocket: it signs in on the sign-in page (the password
checked with Argon2id, the one-time ticket traded at /auth/session for the session cookie, a new
websocket with it), opens the exam lobby and the exam, starts it (button + confirmation: the paper is
drawn and stored), answers every question (one question per screen: an answer is a widget change, a
full script run in which the answer is saved; then "next"), with a think time between actions during
which the countdown fragment reruns every second as the browser asks it to, and submits (button +
confirmation). `--scenario quiz` does the same with a course quiz (pages/learner/course.py).

Before the run, in a bench database of its own (SQLite in a temp folder; PostgreSQL with --pg, database
isa_load_h8, dropped and created again): the accounts (services.user_import, one bulk insert; then the
one full Argon2id hash of the common password and must_change_password off for all, as for people who
have changed their initial password), a district unit, and a rule-based exam for it (a 2,000-question
bank as bench/exam_saves.py makes it; rules over true/false, single and multiple choice) — or, for the
quiz, the curriculum with every lesson of one course done.

Levels run one after another (default 25, 50, 100 concurrent examinees), each in a fresh Locust process
(headless, only 127.0.0.1, bounded users and --duration <= 90 s), against --servers 1 or 2 server
processes (2: on PostgreSQL, users split between the two ports by turns). One JSON line per level:
per step n / p50 / p95 / max (ms, request sent -> script_finished) and errors, throughput, the server
processes' and the load generator's CPU, the load average, and a check in the database afterwards
(attempts submitted, answers stored = answers acknowledged).

    .venv/bin/python bench/exam_load.py [--levels 25,50,100] [--servers 1|2] [--pg] [--scenario exam|quiz]
                                        [--questions 20] [--think 2.0] [--duration 90] [--spawn-seconds 10]
    .venv/bin/python bench/exam_load.py --servers 2 --pg --levels 50,100

--profile FILE samples the (first) server with py-spy during the last level (flame graph SVG).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSWORD = "Bench2026pass"
PG_BASE = "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"
PG_DB = "isa_load_h8"
STEPS = ("login_page", "sign_in", "lobby", "exam_page", "course_page", "quiz_section", "start", "start_confirm",
         "answer", "next", "tick", "submit", "submit_confirm")
BOX = re.compile(r"_q(\d+)_box$")
MAX_DURATION_S = 90


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return round(s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))], 1)


# ---- the examinee: one tab, one scenario --------------------------------------------------------------

class Abort(Exception):
    """The scenario cannot go on (an error shown, a widget missing); counted as an error of its step."""


class TimeUp(Exception):
    """The level's time is over: the examinee stops after its last round trip (which was recorded)."""


def take_attempt(client, *, rng: random.Random, think: float, record, sleep=time.sleep,
                 on_answered=lambda: None) -> int:
    """Answer every question of the open attempt the page shows and submit it. `record(step, run)` is
    told each round trip, `on_answered()` each question answered. Returns the number of questions answered."""
    answered: set[str] = set()
    while True:
        boxes = [e for e in client.find_all() if e.kind.startswith("block:") and BOX.search(e.key or "")]
        if not boxes:
            raise Abort(f"no question on the page: {client.texts()[:6]}")
        for box in boxes:
            if box.key in answered:
                continue
            widgets = [e for e in client.inside(box) if e.key and not e.key.endswith(("_flag", "_check"))]
            done = False
            for el in widgets:
                value = _answer_for(el, rng)
                if value is None:
                    continue
                fresh = client.find(key=el.key)          # the page may have been redrawn since
                run = client.set(fresh, value)
                if not done and not run.errors:          # counted before recording (which may end the level)
                    answered.add(box.key)
                    on_answered()
                done = True
                record("answer", run)
                if el.kind != "checkbox":
                    break
                if rng.random() < 0.5:                  # multiple choice: one or two boxes ticked
                    break
            if done:
                for run in client.idle(rng.uniform(0.5, 1.5) * think, sleep=sleep):
                    record("tick", run)
        nxt = [e for e in client.find_all(kind="button") if (e.key or "").endswith("_next")]
        if nxt and not nxt[0].disabled:
            record("next", client.click(nxt[0]))
            continue
        break
    submit = [e for e in client.find_all(kind="button") if (e.key or "").endswith("_submit")]
    if not submit:
        raise Abort("no submit button")
    record("submit", client.click(submit[0]))
    confirm = [e for e in client.find_all(kind="button") if (e.key or "").endswith("_submit_confirm")]
    if not confirm:
        raise Abort("no submit confirmation")
    record("submit_confirm", client.click(confirm[0]))
    if not any((e.key or "").endswith("_result") for e in client.find_all()):
        raise Abort(f"no result after submitting: {client.texts()[:6]}")
    return len(answered)


def _answer_for(el, rng: random.Random):
    if el.kind in ("radio", "selectbox") and el.options:
        return rng.randrange(len(el.options))
    if el.kind == "checkbox":
        return True
    if el.kind in ("text_input", "text_area"):
        return "答案"
    return None


def examinee(base_url: str, username: str, spec: dict, *, record, sleep=time.sleep, on_answered=lambda: None) -> int:
    """One examinee's whole visit. Returns the questions answered."""
    from bench.streamlit_client import StreamlitClient
    rng = random.Random(username)
    c = StreamlitClient(base_url, timeout=spec.get("timeout", 60))
    try:
        record("login_page", c.open("/"))
        t0 = time.perf_counter()
        form = c.find(kind="block:form")
        inputs = [e for e in c.inside(form) if e.kind == "text_input"]
        c.set(inputs[0], username)
        c.set(inputs[1], spec["password"])
        submitted = c.click(next(e for e in c.inside(form) if e.kind == "button"))
        if submitted.errors or c.redirect_target() is None:
            raise Abort(f"sign-in refused: {c.texts()[-4:]}")
        landed = c.follow_redirect()
        record("sign_in", landed, ms=(time.perf_counter() - t0) * 1000)
        if spec["scenario"] == "exam":
            exam_id = spec["exam_id"]
            record("lobby", c.open("/exams"))
            record("exam_page", c.click(f"exams_open_{exam_id}"))
            record("start", c.click("exams_start"))
            record("start_confirm", c.click("exams_start_confirm"))
        else:
            record("course_page", c.open(f"/course?course={spec['course_id']}"))
            if c.has(key="course_section"):
                record("quiz_section", c.set("course_section", 1))
            record("start", c.click("course_quiz_start"))
        return take_attempt(c, rng=rng, think=spec["think"], record=record, sleep=sleep, on_answered=on_answered)
    finally:
        c.close()


# ---- the Locust process (one level) -------------------------------------------------------------------

def worker(spec_path: str) -> None:
    """Run one level with Locust as a library (gevent) and print one JSON object."""
    import gevent
    from locust import User, constant, events, task
    from locust.env import Environment
    from locust.exception import StopUser

    spec = json.loads(Path(spec_path).read_text())
    accounts = list(spec["accounts"])
    hosts = spec["hosts"]
    times: dict[str, list[float]] = {}
    stamps: dict[str, list[tuple[float, float]]] = {}      # (when it ended, ms)
    errors: dict[str, list[str]] = {}
    state = {"next": 0, "finished": 0, "aborted": 0, "stopped": 0, "answered": 0, "bytes": 0, "runs": 0}
    deadline = time.monotonic() + 3600

    class Examinee(User):
        wait_time = constant(0)

        def on_start(self) -> None:
            n = state["next"]
            state["next"] += 1
            self.username = accounts[n % len(accounts)]
            self.base = hosts[n % len(hosts)]

        @task
        def sit_exam(self) -> None:
            current = {"step": "login_page"}

            def record(step: str, run, ms: float | None = None) -> None:
                current["step"] = step
                if time.monotonic() > deadline:      # after the round trip that was under way: nothing in flight
                    value = run.ms if ms is None else ms
                    times.setdefault(step, []).append(value)
                    stamps.setdefault(step, []).append((time.monotonic(), value))
                    raise TimeUp()
                value = run.ms if ms is None else ms
                times.setdefault(step, []).append(value)
                stamps.setdefault(step, []).append((time.monotonic(), value))
                state["runs"] += 1
                state["bytes"] += run.bytes
                exc = Abort("; ".join(run.errors)) if run.errors else None
                self.environment.events.request.fire(request_type="WS", name=step, response_time=value,
                                                     response_length=run.bytes, exception=exc, context={})
                if run.errors:
                    raise exc
            def answered() -> None:
                state["answered"] += 1
            try:
                examinee(self.base, self.username, spec, record=record, sleep=gevent.sleep, on_answered=answered)
                state["finished"] += 1
            except TimeUp:
                pass
            except Exception as exc:   # counted per step and reported; this examinee stops
                step = current["step"]
                errors.setdefault(step, []).append(f"{type(exc).__name__}: {exc}"[:300])
                state["aborted"] += 1
            finally:
                state["stopped"] += 1
            raise StopUser()

    env = Environment(user_classes=[Examinee], events=events)
    runner = env.create_local_runner()
    users = spec["users"]
    cpu0, t0 = time.process_time(), time.monotonic()
    deadline = t0 + spec["duration"]
    runner.start(users, spawn_rate=max(1.0, users / max(spec["spawn_seconds"], 0.1)))
    while time.monotonic() < deadline and state["finished"] + state["aborted"] < users:
        gevent.sleep(0.2)
    wall = time.monotonic() - t0
    while state["stopped"] < users and time.monotonic() < deadline + 60:   # the last round trips end
        gevent.sleep(0.2)
    runner.quit()
    client_cpu = time.process_time() - cpu0
    steps = {}
    for step in STEPS:
        if step in times or step in errors:
            v = times.get(step, [])
            steps[step] = {"n": len(v), "p50_ms": pct(v, 50), "p95_ms": pct(v, 95), "max_ms": pct(v, 100),
                           "errors": len(errors.get(step, []))}
    # the answers once every examinee has signed in: the steady state, without the sign-in spike's Argon2id
    signed = stamps.get("sign_in", [])
    after = [ms for at, ms in stamps.get("answer", []) if len(signed) == users and at > max(a for a, _ in signed)]
    steady = {"n": len(after), "p50_ms": pct(after, 50), "p95_ms": pct(after, 95)}
    print(json.dumps({"wall_s": round(wall, 1), "answer_after_sign_ins": steady, "finished": state["finished"], "aborted": state["aborted"],
                      "unfinished": users - state["finished"] - state["aborted"], "answered": state["answered"],
                      "runs": state["runs"], "runs_per_s": round(state["runs"] / wall, 1),
                      "mb_received": round(state["bytes"] / 1e6, 1), "client_cpu_pct": round(100 * client_cpu / wall),
                      "steps": steps, "first_errors": [e for v in errors.values() for e in v][:5]},
                     ensure_ascii=False), flush=True)


# ---- setting up the bench database --------------------------------------------------------------------

def bench_database(pg: bool) -> str:
    if not pg:
        return f"sqlite:///{tempfile.mkdtemp(prefix='isa-load-')}/app.db"
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{PG_DB}"'))
    admin.dispose()
    return make_url(PG_BASE).set(database=PG_DB).render_as_string(hide_password=False)


def prepare(url: str, *, learners: int, scenario: str, questions: int, bank: int = 2000,
            rule_points: bool = True) -> dict:
    """Accounts, a unit and the exam (or the course quiz) in the bench database. Returns
    {"usernames", "exam_id" | "course_id", "setup_s"}."""
    t0 = time.perf_counter()
    os.environ["DATABASE_URL"] = url
    from sqlalchemy import insert, update
    from sqlmodel import select

    from models import Lesson, LessonProgress, User
    from models.db import get_engine, session_scope, utcnow
    from models.migrate import upgrade_db
    from services import auth, exams, org, user_import, users
    from services.permissions import load_actor, system_actor
    upgrade_db(url)
    tag = f"{random.randrange(16 ** 6):06x}"
    with session_scope(url) as s:
        if users.needs_setup(s):
            users.create_first_admin(s, username="bench.admin", name="基准管理员", password=PASSWORD)
        admin = s.exec(select(User.id).where(User.username == "bench.admin")).one()
        unit = org.create_unit(s, system_actor(), code=f"LOAD-{tag}", name=f"压测区{tag}", kind="district")
        unit_id, unit_code = unit.id, unit.code
    names = [f"load.{tag}.{i}" for i in range(learners)]
    csv_text = "用户名,姓名,单位编码,初始密码\n" + "".join(f"{n},考生{i},{unit_code},{PASSWORD}\n"
                                                        for i, n in enumerate(names))
    with session_scope(url) as s:
        actor = load_actor(s, admin)
        plan = user_import.plan_import(s, actor, filename="load.csv", data=csv_text.encode("utf-8"))
        if not plan.ok:
            raise SystemExit(f"import refused: {plan.errors[:3]}")
        user_import.apply_import(s, actor, plan=plan)
    with session_scope(url) as s:
        # as people who have set their own password: one full-strength hash (each sign-in verifies it)
        s.execute(update(User).where(User.username.in_(names))
                  .values(password_hash=auth.hash_password(PASSWORD), must_change_password=False))
    out: dict = {"usernames": names}
    if scenario == "exam":
        from bench.exam_saves import make_bank
        with session_scope(url) as s:
            make_bank(s, bank)
        third = max(1, questions // 3)
        rules = [{"type": "true_false", "category": "基准", "count": questions - 2 * third, "points": 1},
                 {"type": "single_choice", "category": "基准", "count": third, "points": 2},
                 {"type": "multiple_choice", "category": "基准", "count": third, "points": 3}]
        if not rule_points:      # the questions' own points: the exam's maximum depends on the bank
            for r in rules[:2]:
                del r["points"]
        with session_scope(url) as s:
            exam_id = exams.create_exam(s, system_actor(), exam_in=exams.ExamIn.model_validate(
                {"title": "压测考试", "rules": rules, "time_limit_minutes": 60, "attempts_allowed": 1,
                 "audience_units": [unit_id], "one_per_page": True}))
            exams.publish_exam(s, system_actor(), exam_id=exam_id)
        out["exam_id"] = exam_id
    else:
        from services import learning
        from services.content import load_bank
        with session_scope(url) as s:
            load_bank(s)
        with session_scope(url) as s:
            actor = load_actor(s, s.exec(select(User.id).where(User.username == names[0])).one())
            course_id = next(c.id for c in learning.catalogue(s, actor)
                             if learning.course_detail(s, actor, course_id=c.id).quiz)
            lessons = s.exec(select(Lesson.id).where(Lesson.course_id == course_id)).all()
            ids = s.exec(select(User.id).where(User.username.in_(names))).all()
            now = utcnow()
            s.execute(insert(LessonProgress), [   # they have studied: every lesson of the course done
                {"user_id": uid, "course_id": course_id, "lesson_id": lid, "first_opened_at": now,
                 "last_seen_at": now, "seconds_spent": 3600, "completed_at": now} for uid in ids for lid in lessons])
        out["course_id"] = course_id
    get_engine(url).dispose()
    out["setup_s"] = round(time.perf_counter() - t0, 1)
    return out


def db_check(url: str, usernames: list[str], scenario: str) -> dict:
    """What the database holds for these examinees: attempts submitted and answers stored."""
    from sqlmodel import func, select

    from models import Attempt, AttemptItem, User
    from models.db import session_scope
    from models.learning import ATTEMPT_DONE, ATTEMPT_PENDING
    with session_scope(url) as s:
        base = select(Attempt.id).join(User, User.id == Attempt.user_id).where(User.username.in_(usernames))
        base = base.where(Attempt.exam_id.is_not(None)) if scenario == "exam" else base.where(Attempt.exam_id.is_(None))
        ids = s.exec(base).all()
        done = s.exec(select(func.count()).select_from(Attempt).where(
            Attempt.id.in_(ids), Attempt.status.in_([ATTEMPT_DONE, ATTEMPT_PENDING]))).one() if ids else 0
        answered = s.exec(select(func.count()).select_from(AttemptItem).where(
            AttemptItem.attempt_id.in_(ids), AttemptItem.saved_at.is_not(None))).one() if ids else 0
        saves = s.exec(select(func.coalesce(func.sum(AttemptItem.version), 0)).where(
            AttemptItem.attempt_id.in_(ids))).one() if ids else 0
    return {"attempts": len(ids), "submitted": done, "questions_answered": answered, "saves": int(saves)}


# ---- measuring the servers ----------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_level(spec: dict, servers: list[dict], *, profile: str | None = None) -> dict:
    spec_file = Path(tempfile.mkstemp(prefix="isa-load-spec-", suffix=".json")[1])
    spec_file.write_text(json.dumps(spec, ensure_ascii=False))
    cpu0 = [cpu_seconds(s["pid"]) for s in servers]
    t0 = time.monotonic()
    spy = None
    if profile:
        spy = subprocess.Popen(["py-spy", "record", "-p", str(servers[0]["pid"]), "-o", profile, "-d",
                                str(int(spec["duration"])), "-r", "50", "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               executable=str(Path(sys.executable).parent / "py-spy"))
    proc = subprocess.run([sys.executable, __file__, "--worker", str(spec_file)], cwd=ROOT, capture_output=True,
                          text=True, timeout=spec["duration"] + 120)
    wall = time.monotonic() - t0
    if spy is not None:      # py-spy writes its flame graph when interrupted
        spy.send_signal(signal.SIGINT)
        spy.wait(60)
    spec_file.unlink(missing_ok=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"load worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(lines[-1])
    used = [cpu_seconds(s["pid"]) - c for s, c in zip(servers, cpu0)]
    result["server_cpu_pct"] = [round(100 * u / wall) for u in used]
    # CPU time the servers spent per round trip: what a busy machine does not inflate much (wall time it does)
    result["server_cpu_ms_per_run"] = round(1000 * sum(used) / max(1, result["runs"]), 1)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--levels", default="25,50,100")
    ap.add_argument("--servers", type=int, choices=(1, 2), default=1)
    ap.add_argument("--pg", action="store_true", help=f"PostgreSQL at 127.0.0.1:5432, database {PG_DB}")
    ap.add_argument("--scenario", choices=("exam", "quiz"), default="exam")
    ap.add_argument("--questions", type=int, default=20)
    ap.add_argument("--think", type=float, default=2.0, help="mean seconds between two answers")
    ap.add_argument("--duration", type=float, default=90, help=f"seconds per level (at most {MAX_DURATION_S})")
    ap.add_argument("--spawn-seconds", type=float, default=10, help="all examinees arrive within this time")
    ap.add_argument("--no-rule-points", action="store_true", help="rules without points (the questions' own)")
    ap.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                    help="environment of the server processes, e.g. STREAMLIT_RUNNER_POST_SCRIPT_GC=true")
    ap.add_argument("--profile", help="py-spy flame graph of the first server during the last level (SVG)")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return
    if args.servers == 2 and not args.pg:
        ap.error("two server processes share one PostgreSQL: add --pg")
    levels = [int(x) for x in args.levels.split(",") if x]
    duration = min(args.duration, MAX_DURATION_S)

    from bench.streamlit_client import serve
    url = bench_database(args.pg)
    setup = prepare(url, learners=sum(levels) + 1, scenario=args.scenario, questions=args.questions,
                    rule_points=not args.no_rule_points)
    names = setup.pop("usernames")
    warm, names = names[0], names[1:]
    print(json.dumps({"phase": "setup", "database": "postgresql" if args.pg else "sqlite", "servers": args.servers,
                      "accounts": len(names) + 1, "setup_s": setup["setup_s"], "scenario": args.scenario,
                      "questions": args.questions}), flush=True)
    logs = Path(tempfile.mkdtemp(prefix="isa-load-logs-"))
    from contextlib import ExitStack
    with ExitStack() as stack:
        server_env = dict(kv.split("=", 1) for kv in args.server_env)
        servers = [stack.enter_context(serve(url, log_path=logs / f"server-{n}.log", env=server_env))
                   for n in range(args.servers)]
        hosts = [s["url"] for s in servers]
        base_spec = {"scenario": args.scenario, "password": PASSWORD, "think": args.think, "hosts": hosts,
                     "exam_id": setup.get("exam_id"), "course_id": setup.get("course_id"),
                     "spawn_seconds": args.spawn_seconds, "duration": duration}
        # warm-up: every server imports its pages and runs them once before anything is measured
        for host in hosts:
            warm_up(host, warm, base_spec)
        start = 0
        for i, n in enumerate(levels):
            batch = names[start:start + n]
            start += n
            spec = {**base_spec, "users": n, "accounts": batch}
            load0 = os.getloadavg()[0]
            result = run_level(spec, servers, profile=args.profile if i == len(levels) - 1 else None)
            check = db_check(url, batch, args.scenario)
            answer = result["steps"].get("answer", {})
            line = {"servers": args.servers, "database": "postgresql" if args.pg else "sqlite",
                    "scenario": args.scenario, "examinees": n, "questions": args.questions, "think_s": args.think,
                    "answer_p50_ms": answer.get("p50_ms"), "answer_p95_ms": answer.get("p95_ms"),
                    "goal_answer_p95_lt_250ms": bool(answer) and answer.get("p95_ms", 1e9) < 250,
                    **result, "db": check,
                    # every answer the page acknowledged is in the database, once (a save bumps the item's version)
                    "answers_match": check["questions_answered"] == result["answered"]
                    and check["saves"] == answer.get("n", 0) - answer.get("errors", 0),
                    "loadavg_before": round(load0, 2), "loadavg_after": round(os.getloadavg()[0], 2),
                    "cores": os.cpu_count(), "server_env": server_env, "rule_points": not args.no_rule_points}
            print(json.dumps(line, ensure_ascii=False), flush=True)
    if args.pg:
        from sqlalchemy import create_engine, text
        from models.db import get_engine
        get_engine(url).dispose()
        admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
        admin.dispose()


def warm_up(host: str, username: str, spec: dict) -> None:
    """Sign in and open the page the examinees will use (its imports and first runs), starting nothing."""
    from bench.streamlit_client import StreamlitClient
    c = StreamlitClient(host, timeout=180)
    try:
        c.sign_in(username, spec["password"])
        if spec["scenario"] == "exam":
            c.open("/exams")
            c.click(f"exams_open_{spec['exam_id']}")
        else:
            c.open(f"/course?course={spec['course_id']}")
    finally:
        c.close()


if __name__ == "__main__":
    main()
