"""Command line over the same services as the app (no logic of its own)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="信息化学堂 InfoSkills Academy")
db_app = typer.Typer(no_args_is_help=True, help="Database")
users_app = typer.Typer(no_args_is_help=True, help="Accounts")
content_app = typer.Typer(no_args_is_help=True, help="Curriculum in question_bank/")
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(content_app, name="content")
questions_app = typer.Typer(no_args_is_help=True, help="Question bank: import and export")
courses_app = typer.Typer(no_args_is_help=True, help="Course packages (.zip)")
app.add_typer(questions_app, name="questions")
app.add_typer(courses_app, name="courses")
stats_app = typer.Typer(no_args_is_help=True, help="Statistics: item analysis")
app.add_typer(stats_app, name="stats")


def _fail(msg: str, code: int = 1) -> None:
    typer.echo(msg, err=True)
    raise typer.Exit(code)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Upgrade the database to the newest schema (Alembic head)."""
    from models.migrate import upgrade_db
    upgrade_db()
    typer.echo("database at head")


@content_app.command("check")
def content_check(as_json: bool = typer.Option(False, "--json", help="print the report as JSON")) -> None:
    """Validate everything in question_bank/; exit 1 on any error."""
    from services.content import check_bank
    report = check_bank()
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"{report['courses']} courses, {report['lessons']} lessons, {report['questions']} questions")
        for w in report.get("warnings", []):
            typer.echo(f"WARNING {w}")
        for e in report["errors"]:
            typer.echo(f"ERROR {e}")
    raise typer.Exit(1 if report["errors"] else 0)


@content_app.command("load")
def content_load() -> None:
    """Load question_bank/ into the database (idempotent; changed questions get a new version)."""
    from models.db import session_scope
    from models.migrate import upgrade_db
    from services.content import load_bank
    from services.errors import ValidationFailed
    upgrade_db()
    try:
        with session_scope() as s:
            r = load_bank(s)
    except ValidationFailed as exc:
        _fail("question bank has errors:\n" + "\n".join(exc.params["errors"]))
    typer.echo(json.dumps(r.__dict__, ensure_ascii=False))


def _ready() -> None:
    from models.migrate import upgrade_db
    upgrade_db()


@users_app.command("create")
def users_create(
    username: str = typer.Option(..., "--username", help="sign-in name"),
    name: str = typer.Option(..., "--name", help="full name"),
    role: Annotated[list[str], typer.Option("--role", help="learner|trainer|hr|admin (repeatable)")] = ["learner"],  # noqa: B006
    unit: str | None = typer.Option(None, "--unit", help="unit code (trainer/hr roles are scoped to it)"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="read the password from standard input"),
    whole_city: bool = typer.Option(False, "--whole-city", help="trainer/hr scope: the whole organisation"),
) -> None:
    """Create an account. Without --password-stdin a random initial password is printed once.
    The first account created on an empty database needs no admin and must change nothing."""
    from models.db import session_scope
    from services import org, users
    from services.errors import ServiceError
    from services.permissions import system_actor
    _ready()
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    try:
        with session_scope() as s:
            unit_id = None
            if unit:
                u = org.unit_by_code_or_name(s, unit)
                if u is None:
                    _fail(f"unknown unit: {unit}")
                unit_id = u.id
            if unit_id is None and any(r in users.SCOPED_ROLES for r in role) and not whole_city:
                _fail("trainer and hr roles need --unit (their scope), or --whole-city for the whole organisation")
            grants = [users.Grant(role=r, scope_unit_id=unit_id if r in users.SCOPED_ROLES else None) for r in role]
            user, pw = users.create_user(s, system_actor(), user_in=users.UserCreate(
                username=username, name=name, unit_id=unit_id, grants=grants, password=password))
    except ServiceError as exc:
        _fail(f"refused: {exc.code} {exc.params}")
    except ValueError as exc:
        _fail(f"refused: {exc}")
    typer.echo(f"created {user.username} (id {user.id}); must change the password at first sign-in")
    if not password_stdin:
        typer.echo(f"initial password: {pw}")


def _write_private(path: Path, data: bytes) -> None:
    """Create path for its owner only (0600), refusing an existing file (no window where it is readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


@users_app.command("import")
def users_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".xlsx or .csv (see the template)")],
    passwords_out: Annotated[Path | None, typer.Option("--passwords-out", help="where to write the generated initial "
                                                       "passwords (default: FILE-initial-passwords.xlsx)")] = None,
) -> None:
    """Validate every row, then import all of them in one transaction, or none. Generated initial
    passwords are written once to an .xlsx for the administrator to hand out.

    One unit of work: the accounts, their audit row and the passwords file. The file is written
    before the commit, so a file that cannot be written imports nothing, and a commit that fails
    removes the file again."""
    import time

    from models.db import session_scope
    from services import user_import
    from services.errors import ServiceError
    from services.permissions import system_actor
    _ready()
    out = passwords_out or file.with_name(file.stem + "-initial-passwords.xlsx")
    if out.exists():
        _fail(f"{out} exists already; refusing to overwrite initial passwords")
    start = time.perf_counter()
    written = False
    try:
        with session_scope() as s:
            plan = user_import.plan_import(s, system_actor(), filename=file.name, data=file.read_bytes())
            if plan.errors:
                for e in plan.errors:
                    typer.echo(f"row {e.row} [{e.field}] {e.value!r}: {e.code} {e.params or ''}", err=True)
                _fail(f"{len(plan.errors)} problems; nothing imported")
            result = user_import.apply_import(s, system_actor(), plan=plan)
            if result.credentials:
                try:
                    _write_private(out, result.credentials_xlsx())
                except OSError as exc:
                    raise ServiceError("error.cli_passwords_file", detail=f"{out}: {exc.strerror or exc}")
                written = True
    except ServiceError as exc:
        if written:
            out.unlink(missing_ok=True)
        _fail(f"refused: {exc.code} {exc.params}; nothing imported")
    except BaseException:
        if written:            # the commit failed: the passwords in the file open no account
            out.unlink(missing_ok=True)
        raise
    typer.echo(f"imported {result.created} accounts in {time.perf_counter() - start:.1f}s")
    if result.credentials:
        typer.echo(f"{len(result.credentials)} initial passwords written to {out} (hand them out, then delete the file)")


@app.command("demo")
def demo(learners: int = typer.Option(300, "--learners", help="number of demo learners"),
         seed: int = typer.Option(2026, "--seed", help="random seed (same seed, same people and history)")) -> None:
    """Load the demo organisation (乌海市) with learners, history, and trainer/HR accounts."""
    from models.db import session_scope
    from services import demo as demo_service
    from services.content import load_bank
    from services.errors import ServiceError
    from services.permissions import system_actor
    _ready()
    try:
        with session_scope() as s:
            load_bank(s)
            r = demo_service.load_demo(s, system_actor(), learners=learners, seed=seed)
    except ServiceError as exc:
        _fail(f"refused: {exc.code} {exc.params}")
    typer.echo(f"{r.units} units, {r.learners} learners (wh00001…, password {r.learner_password})")
    for username, role, password in r.accounts:
        typer.echo(f"{role:8} {username:10} {password}")


def _same_file(a: Path, b: Path) -> bool:
    """True when a and b name one file: the same path after resolving relative parts and symlinks,
    or (when both exist) the same inode, which also catches a hard link."""
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


@app.command("backup")
def backup(file: Annotated[Path, typer.Argument(help="where to write the copy (not the live database)")]) -> None:
    """A consistent copy of the embedded SQLite database, safe while the app runs (online backup API)."""
    import sqlite3

    from config import get_settings
    url = get_settings().database_url
    if not url.startswith("sqlite:///"):
        _fail("backup copies the embedded SQLite database; for PostgreSQL use pg_dump")
    source = Path(url.removeprefix("sqlite:///"))
    if not source.exists():
        _fail(f"no database at {source}")
    live = [source] + [source.with_name(source.name + suffix) for suffix in ("-wal", "-shm", "-journal")]
    if any(_same_file(file, p) for p in live):
        _fail(f"refused: {file} is the live database ({source.resolve()}) or one of its files; "
              "write the backup to another path")
    if file.is_dir():
        _fail(f"refused: {file} is a directory; name the backup file")
    file.parent.mkdir(parents=True, exist_ok=True)
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(file)
        try:
            with dst:
                src.backup(dst)
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            src.close()
            dst.close()
    except sqlite3.Error as exc:
        _fail(f"backup failed: {exc}")
    if check != "ok":
        _fail(f"backup failed its integrity check: {check}")
    typer.echo(f"backup written to {file} ({file.stat().st_size // 1024} KiB, integrity ok)")


QUESTION_FORMATS = ("auto", "xlsx", "csv", "gift", "aiken", "moodlexml", "yaml")


@questions_app.command("import")
def questions_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="the file to import")],
    fmt: Annotated[str, typer.Option("--format", help="auto|xlsx|csv|gift|aiken|moodlexml|yaml")] = "auto",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="validate and report; write nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help='print {"ok", "format", "count", "questions", "errors"}')] = False,
    course: Annotated[str | None, typer.Option("--course", help="the course the questions belong to")] = None,
    category: Annotated[str | None, typer.Option("--category", help="category for questions that name none")] = None,
) -> None:
    """Validate every question; without --dry-run write all of them in one transaction, or none (exit 1
    when the file has errors)."""
    from models.db import session_scope
    from services import bank
    from services.errors import ServiceError
    from services.permissions import system_actor
    if fmt not in QUESTION_FORMATS:
        _fail(f"unknown format {fmt!r} (use one of {', '.join(QUESTION_FORMATS)})", 2)
    _ready()
    try:
        with session_scope() as s:
            preview = bank.preview_import(s, system_actor(), data=file.read_bytes(), name=file.name, fmt=fmt,
                                          category=category)
            out = preview.as_json()
            if preview.report.ok and not dry_run:
                result = bank.import_questions(s, system_actor(), preview=preview, course_id=course, skip_duplicates=False)
                out["written"] = {"created": result.created, "new_versions": result.new_versions,
                                  "unchanged": result.unchanged}
    except ServiceError as exc:
        _fail(f"refused: {exc.code} {exc.params}")
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"{out['format']}: {out['count']} valid questions, {len(out['errors'])} errors, "
                   f"{len(out['duplicates'])} duplicates of the bank")
        for e in out["errors"]:
            typer.echo(f"line {e['line']}: {e['message']}", err=True)
        if "written" in out:
            w = out["written"]
            typer.echo(f"written: {len(w['created'])} new, {len(w['new_versions'])} new versions, {len(w['unchanged'])} unchanged")
        elif not dry_run and out["errors"]:
            typer.echo("nothing imported", err=True)
    raise typer.Exit(0 if out["ok"] else 1)


@questions_app.command("export")
def questions_export(
    fmt: Annotated[str, typer.Option("--format", help="gift|xlsx|moodlexml|yaml|csv|aiken")],
    out: Annotated[Path, typer.Option("--out", help="the file to write")],
    course: Annotated[str | None, typer.Option("--course", help="only this course's questions")] = None,
    category: Annotated[str | None, typer.Option("--category", help="only this category and its subtree")] = None,
) -> None:
    """Export the current versions of the active questions (or of one course or category)."""
    from models.db import session_scope
    from services import bank
    from services.errors import ServiceError
    from services.permissions import system_actor
    _ready()
    try:
        with session_scope() as s:
            data = bank.export_questions(s, system_actor(), fmt=fmt,
                                         filters=bank.BankFilter(course_id=course, category=category))
            lost = bank.not_carried(fmt)
    except ServiceError as exc:
        _fail(f"refused: {exc.code} {exc.params}")
    except KeyError:
        _fail(f"unknown format {fmt!r}", 2)
    out.write_bytes(data)
    typer.echo(f"written {out} ({len(data) // 1024} KiB)" + (f"; {fmt} cannot hold: {', '.join(lost)}" if lost else ""))


@courses_app.command("import")
def courses_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="a course package .zip")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check only; write nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Check a course package with the same checker as `content check`, then load it (all or nothing)."""
    from models.db import session_scope
    from services import courses
    from services.errors import ServiceError
    from services.permissions import system_actor
    _ready()
    try:
        with session_scope() as s:
            report = courses.import_package(s, system_actor(), data=file.read_bytes(), dry_run=dry_run)
    except ServiceError as exc:
        _fail(f"refused: {exc.code} {exc.params}")
    if as_json:
        typer.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo(f"course {report.course_id}: {report.lessons} lessons, {report.questions} questions, {report.files} files"
                   + ("" if report.ok else f"; {len(report.errors)} errors, nothing imported"))
        for e in report.errors:
            typer.echo(f"ERROR {e}", err=True)
    raise typer.Exit(0 if report.ok else 1)


@courses_app.command("export")
def courses_export(
    course_id: Annotated[str, typer.Argument(help="the course id")],
    out: Annotated[Path, typer.Option("--out", help="the .zip to write")],
) -> None:
    """Write a course as a package: course.yaml, lessons/*.md, questions.yaml, files/."""
    from models.db import session_scope
    from services import courses
    from services.errors import ServiceError
    from services.permissions import system_actor
    _ready()
    try:
        with session_scope() as s:
            data = courses.export_package(s, system_actor(), course_id=course_id)
    except ServiceError as exc:
        _fail(f"refused: {exc.code} {exc.params}")
    out.write_bytes(data)
    typer.echo(f"written {out} ({len(data) // 1024} KiB)")


@stats_app.command("items")
def stats_items(
    responses: Annotated[Path, typer.Option("--responses", exists=True, dir_okay=False,
                                            help="CSV: attempt_id,question_id,mark,max_mark")],
    as_json: Annotated[bool, typer.Option("--json", help="print the analysis as JSON")] = False,
) -> None:
    """Item analysis of offline results (Moodle's quiz statistics + the upper-lower 27 % index)."""
    from services.analytics.item_stats import analyse, read_responses_csv
    try:
        result = analyse(read_responses_csv(responses.read_bytes()))
    except ValueError as exc:
        _fail(f"{responses}: {exc}")
    out = result.as_json()
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    t = out["test"]
    typer.echo(f"{t['attempts']} attempts, {t['questions']} questions; mean {t['mean']}, sd {t['sd']}, CIC {t['cic']}")
    for it in out["items"]:
        typer.echo(f"{it['question_id']:<16} n={it['n']:<5} P={it['facility']}  D={it['d27']}  DI={it['discrimination_index']}  "
                   f"{' '.join(it['flags'])}")


exams_app = typer.Typer(no_args_is_help=True, help="Exams: create from a spec, results, sweep overdue attempts")
app.add_typer(exams_app, name="exams")


@exams_app.command("create")
def exams_create(
    spec: Annotated[Path, typer.Option("--spec", exists=True, dir_okay=False, help="the exam spec (YAML)")],
    as_json: Annotated[bool, typer.Option("--json", help='print {"id": ...}')] = False,
    publish: Annotated[bool, typer.Option("--publish", help="publish it at once (else a draft)")] = False,
) -> None:
    """Create an exam from a YAML spec: title, rules [{category, type, difficulty?, count, points}] or
    questions [ids], opens_at?, closes_at?, time_limit_minutes, attempts?, pass_percent?, audience {units:
    [codes], users: [usernames]}, credit_hours?, certificate? (and the other settings by name). An
    unsatisfiable paper exits 1 with the reason and creates nothing."""
    import yaml

    from models.db import session_scope
    from services import exams
    from services.errors import ServiceError
    from services.permissions import system_actor
    _ready()
    try:
        data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        _fail(f"spec is not valid YAML: {exc}")
    try:
        with session_scope() as s:
            exam_in, publish_spec = exams.exam_in_from_spec(s, data)
            exam_id = exams.create_exam(s, system_actor(), exam_in=exam_in)
            if publish or publish_spec:
                exams.publish_exam(s, system_actor(), exam_id=exam_id)
    except ServiceError as exc:
        _fail(f"refused: {exc.code}: {exc.params.get('problems') or exc.params}")
    typer.echo(json.dumps({"id": exam_id}) if as_json else f"exam {exam_id} created")


@exams_app.command("publish")
def exams_publish(exam_id: Annotated[int, typer.Argument(help="exam id")]) -> None:
    """Publish a draft exam (its paper is frozen from now on)."""
    from models.db import session_scope
    from services import exams
    from services.errors import ServiceError
    from services.permissions import system_actor
    _ready()
    try:
        with session_scope() as s:
            exams.publish_exam(s, system_actor(), exam_id=exam_id)
    except ServiceError as exc:
        _fail(f"refused: {exc.code} {exc.params}")
    typer.echo(f"exam {exam_id} published")


@exams_app.command("results")
def exams_results(
    exam_id: Annotated[int, typer.Argument(help="exam id")],
    as_json: Annotated[bool, typer.Option("--json", help='print {"exam": {...}, "attempts": [...]}')] = False,
    xlsx: Annotated[Path | None, typer.Option("--xlsx", help="also write the results as an Excel file")] = None,
) -> None:
    """Every attempt of an exam: username, status, score, max_score, passed, started_at, submitted_at,
    answered, tab_switches (overdue attempts are finalised first)."""
    from models.db import session_scope
    from services import exams
    from services.errors import ServiceError
    from services.permissions import system_actor
    _ready()
    try:
        with session_scope() as s:
            res = exams.results(s, system_actor(), exam_id=exam_id)
            data = exams.results_xlsx(s, system_actor(), exam_id=exam_id) if xlsx else None
    except ServiceError as exc:
        _fail(f"refused: {exc.code} {exc.params}")
    if xlsx is not None:
        _write_private(xlsx, data)
    keys = ("username", "status", "score", "max_score", "passed", "started_at", "submitted_at", "answered",
            "tab_switches", "time_used_seconds", "auto_submitted", "counted")
    out = {"exam": res.exam.as_json(), "attempts": [{k: a.as_json()[k] for k in keys} for a in res.attempts]}
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"{res.exam.title}: {len(res.attempts)} attempts, {res.learners} learners, {res.passed} passed")
        for a in out["attempts"]:
            typer.echo(f"{a['username']}\t{a['status']}\t{a['score']}/{a['max_score']}\t"
                       f"{'passed' if a['passed'] else '-'}\t{a['answered']} answered\t{a['tab_switches']} switches")


@exams_app.command("sweep")
def exams_sweep(as_json: Annotated[bool, typer.Option("--json", help='print {"finalised": n}')] = False) -> None:
    """Finalise every open attempt past its deadline with what was saved (for cron; the server also sweeps)."""
    from models.db import session_scope
    from services import attempts
    from services.permissions import system_actor
    _ready()
    with session_scope() as s:
        n = attempts.sweep_overdue(s, system_actor())
    typer.echo(json.dumps({"finalised": n}) if as_json else f"{n} overdue attempts finalised")


if __name__ == "__main__":
    app()
