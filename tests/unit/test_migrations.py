"""Upgrading a database that already holds data: every migration must pass (a fresh database hides
table rebuilds that fail once other rows reference the table)."""
import os

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from models.migrate import alembic_config
from tests.dbutil import fresh_database_url

ROWS = [
    "INSERT INTO org_unit (id, code, name, kind, parent_id, path, depth, active, created_at) VALUES (1, 'C', '市', 'city', NULL, '/1/', 0, 1, '2026-01-01')",
    "INSERT INTO app_user (id, username, name, unit_id, password_hash, must_change_password, locale, active, failed_logins, created_at) "
    "VALUES (1, 'li', '李', 1, 'x', 0, 'zh-CN', 1, 0, '2026-01-01')",
    "INSERT INTO course (id, title, category, required, summary, objectives, position, active, content_hash, updated_at) "
    "VALUES ('c1', '课程', '类', 1, '', '[]', 1, 1, '', '2026-01-01')",
    "INSERT INTO lesson (id, course_id, position, title, body_md, minutes, active) VALUES ('c1-l1', 'c1', 1, '一', '# 一', 10, 1)",
    "INSERT INTO question (id, course_id, current_version, active, created_at) VALUES ('c1-001', 'c1', 1, 1, '2026-01-01')",
    "INSERT INTO question_version (id, question_id, version, type, category, difficulty, usage, points, data, content_hash, created_at) "
    "VALUES (1, 'c1-001', 1, 'true_false', '类', 1, 'both', 1, '{\"type\": \"true_false\", \"text\": \"t\", \"answer\": true, \"category\": \"类\", \"tags\": [\"甲\"]}', 'h', '2026-01-01')",
    "INSERT INTO attempt (id, user_id, kind, course_id, started_at, status, max_score, pass_percent) VALUES (1, 1, 'quiz', 'c1', '2026-01-01', 'in_progress', 1, 60)",
    "INSERT INTO attempt_item (id, attempt_id, position, question_version_id, points) VALUES (1, 1, 1, 1, 1)",
    "INSERT INTO lesson_progress (user_id, course_id, lesson_id, first_opened_at, last_seen_at, seconds_spent) VALUES (1, 'c1', 'c1-l1', '2026-01-01', '2026-01-01', 60)",
    "INSERT INTO ledger_entry (user_id, year, hours, source_type, source_id, course_id, reason, created_at) VALUES (1, 2026, 1, 'course', 'c1', 'c1', 'r', '2026-01-01')",
]


@pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")), reason="the rows use SQLite literals; PostgreSQL alters tables in place")
def test_upgrade_from_the_first_schema_with_data_in_every_table():
    url = fresh_database_url("migrate")
    cfg = alembic_config(url)
    command.upgrade(cfg, "0001")
    engine = create_engine(url)
    with engine.begin() as c:
        for sql in ROWS:
            c.execute(text(sql))
    command.upgrade(cfg, "head")
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM attempt_item")).scalar() == 1
        assert c.execute(text("SELECT tags_key FROM question_version")).scalar() == "|甲|"    # backfilled
        assert c.execute(text("SELECT audience FROM course")).scalar() == "[]"
        assert c.execute(text("PRAGMA foreign_key_check")).fetchall() == []
    engine.dispose()

