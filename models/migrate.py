"""Upgrade the database to the newest Alembic revision (the app and the CLI call this on start)."""
from alembic import command
from alembic.config import Config

from config import ROOT


def alembic_config(database_url: str | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["configure_logger"] = False
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade_db(database_url: str | None = None) -> None:
    command.upgrade(alembic_config(database_url), "head")
