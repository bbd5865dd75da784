"""Command line over the same services as the app (no logic of its own)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="信息化学堂 InfoSkills Academy")
db_app = typer.Typer(no_args_is_help=True, help="Database")
users_app = typer.Typer(no_args_is_help=True, help="Accounts")
content_app = typer.Typer(no_args_is_help=True, help="Curriculum in question_bank/")
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(content_app, name="content")


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


if __name__ == "__main__":
    app()
