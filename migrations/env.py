"""Alembic environment: runs migrations over the async engine from settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from core.db_tls import split_tls
from models.db import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    # The URL's TLS parameters (sslmode, sslrootcert, ...) as the API and the worker read them.
    target, tls = split_tls(url)
    engine = create_async_engine(target, connect_args=tls)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


url = context.config.get_main_option("sqlalchemy.url")
if url is None:
    raise RuntimeError("migrations need sqlalchemy.url; use `booking-engine migrate`")
asyncio.run(_run_async(url))
