"""The schema the migrations build is the schema the models declare: every table, column, index and
constraint (Alembic's own comparison). A model changed without a migration, or a migration without the
model (an index only one side knows), fails here instead of on a customer's database."""
from __future__ import annotations

import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import models  # noqa: F401  (every table registered)
from models.db import get_engine
from models.migrate import upgrade_db
from tests.dbutil import fresh_database_url


def test_the_migrated_database_matches_the_models():
    url = fresh_database_url("schema")
    upgrade_db(url)
    with warnings.catch_warnings():
        # SQLite cannot reflect expression indexes (lower(username)); they are compared on PostgreSQL
        warnings.simplefilter("ignore")
        with get_engine(url).connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []
