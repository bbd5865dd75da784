"""Fresh databases for tests: SQLite files by default; PostgreSQL when TEST_DATABASE_URL names a server
(each test session or e2e server gets its own new database there, dropped afterwards)."""
from __future__ import annotations

import os
import tempfile
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

_created: list[str] = []


def fresh_database_url(tag: str) -> str:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        folder = tempfile.mkdtemp(prefix=f"isa-{tag}-")
        return f"sqlite:///{folder}/app.db"
    url = make_url(base)
    name = f"isa_{tag}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    new = url.set(database=name).render_as_string(hide_password=False)
    _created.append(new)
    return new


def drop_created() -> None:
    for u in _created:
        url = make_url(u)
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        admin.dispose()
