"""Migration 0016 builds its indexes outside a transaction, and goes down and up again."""

from __future__ import annotations

import asyncio
import importlib
import uuid

import asyncpg
from alembic import command
from sqlalchemy.engine import make_url

from core.migrate import alembic_config, upgrade

MIGRATION = importlib.import_module("migrations.versions.0016_read_indexes")


async def _indexes(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT i.indexname FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname"
            " JOIN pg_index x ON x.indexrelid = c.oid WHERE i.schemaname = 'public'"
            " AND x.indisvalid"
        )
        return {r["indexname"] for r in rows}
    finally:
        await conn.close()


async def test_read_indexes_are_built_dropped_and_built_again(database_url: str) -> None:
    """Up: every index valid, the old attention index gone; down: the reverse; up again."""
    name = f"booking_migrate_{uuid.uuid4().hex[:8]}"
    admin_dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    try:
        await asyncio.to_thread(upgrade, url)
        assert set(MIGRATION.INDEXES) <= await _indexes(dsn)
        assert "bookings_needs_attention" not in await _indexes(dsn)
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0015")
        assert not set(MIGRATION.INDEXES) & await _indexes(dsn)
        assert "bookings_needs_attention" in await _indexes(dsn)
        await asyncio.to_thread(upgrade, url)
        assert set(MIGRATION.INDEXES) <= await _indexes(dsn)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
