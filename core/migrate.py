"""Run the Alembic migrations programmatically (the CLI, `make dev` and tests use this)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations


def alembic_config(database_url: str) -> Config:
    """An Alembic config for the packaged migrations and this database."""
    config = Config(str(Path(migrations.__file__).parent / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    """Bring the database to the newest revision (a no-op when it is there already)."""
    command.upgrade(alembic_config(database_url), "head")
