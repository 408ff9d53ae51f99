"""A database outage is told by its cause, raised by a real PostgreSQL, not by its class."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import outage_cause


async def _raised(engine: AsyncEngine, *statements: str) -> DBAPIError:
    async with engine.connect() as conn:
        for statement in statements[:-1]:
            await conn.execute(text(statement))
        with pytest.raises(DBAPIError) as caught:
            await conn.execute(text(statements[-1]))
    return caught.value


async def _probe_table(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE IF NOT EXISTS outage_probe (id int primary key, n int)")
        )
        await conn.execute(
            text("INSERT INTO outage_probe VALUES (1, 0), (2, 0) ON CONFLICT DO NOTHING")
        )


async def test_a_terminated_backend_is_an_admin_shutdown(engine: AsyncEngine) -> None:
    """A session terminated as PostgreSQL's shutdown terminates it is transient, not a defect.

    asyncpg reports 57P01 (admin shutdown) when it reads the server's last
    message, or a lost connection (class 08) when the socket closed first.
    """
    async with engine.connect() as victim:
        pid = (await victim.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        sleeping = asyncio.create_task(victim.execute(text("SELECT pg_sleep(30)")))
        async with engine.connect() as admin:
            while not (  # noqa: ASYNC110 (polling PostgreSQL: no event to await)
                await admin.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = :p AND state = 'active'"
                    ),
                    {"p": pid},
                )
            ).scalar_one():
                await asyncio.sleep(0.01)
            await admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        with pytest.raises(DBAPIError) as caught:
            await sleeping
    assert outage_cause(caught.value) in {"admin shutdown", "connection exception"}


async def test_a_read_only_transaction_is_a_failover(engine: AsyncEngine) -> None:
    """A write refused by a standby (25006) is retried until the primary is back."""
    error = await _raised(
        engine,
        "SET TRANSACTION READ ONLY",
        "CREATE TEMPORARY TABLE refused (id int)",
    )
    assert outage_cause(error) == "read-only transaction (a failover in progress)"


async def test_a_lock_timeout_is_transient(engine: AsyncEngine) -> None:
    """A row locked by another transaction past lock_timeout (55P03) is retried."""
    await _probe_table(engine)
    async with engine.begin() as holder:
        await holder.execute(text("SELECT * FROM outage_probe WHERE id = 1 FOR UPDATE"))
        error = await _raised(
            engine, "SET lock_timeout = '50ms'", "UPDATE outage_probe SET n = n + 1 WHERE id = 1"
        )
    assert outage_cause(error) == "lock not available"


async def test_a_deadlock_is_transient(engine: AsyncEngine) -> None:
    """Two transactions that wait on each other (40P01): the one PostgreSQL picks is retried."""
    setup = "CREATE TABLE IF NOT EXISTS outage_probe (id int primary key, n int)"
    async with engine.begin() as conn:
        await conn.execute(text(setup))
        await conn.execute(
            text("INSERT INTO outage_probe VALUES (1, 0), (2, 0) ON CONFLICT DO NOTHING")
        )
    first_locked, second_locked = asyncio.Event(), asyncio.Event()

    async def cross(mine: int, theirs: int, locked: asyncio.Event, other: asyncio.Event) -> None:
        async with engine.begin() as conn:
            bump = text("UPDATE outage_probe SET n = n + 1 WHERE id = :id")
            await conn.execute(bump, {"id": mine})
            locked.set()
            await other.wait()
            await conn.execute(bump, {"id": theirs})

    results = await asyncio.gather(
        cross(1, 2, first_locked, second_locked),
        cross(2, 1, second_locked, first_locked),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, DBAPIError)]
    assert len(errors) == 1, results
    assert outage_cause(errors[0]) == "deadlock detected"


async def test_a_value_postgresql_refuses_is_not_an_outage(engine: AsyncEngine) -> None:
    """A data exception (class 22) is the input's fault: it stays a defect."""
    error = await _raised(engine, "SELECT 1 / 0")
    assert outage_cause(error) is None


def test_a_lost_connection_is_transient() -> None:
    """Connection errors outside SQLAlchemy (refused, reset) are transient too."""
    assert outage_cause(ConnectionRefusedError(111, "refused")) == "connection lost"
    assert outage_cause(ValueError("NUL")) is None
