"""Reconciliation checkpoints: the transaction-id horizon each incremental job resumes from.

A horizon is ``pg_snapshot_xmin`` of a snapshot taken when a run starts: the
oldest transaction still in progress then. Every transaction that commits
later (whatever the order of the ids or timestamps it wrote) has an id at or
above it, and so does each of its subtransactions; every transaction below it
had finished. So "every change by a transaction below the horizon was judged"
holds once a run that took the horizon at its start has finished all its pages.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_READ = text("SELECT horizon::text::bigint FROM reconcile_checkpoints WHERE job = :job")
_NOW = text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
# Two runs may finish in either order (the full pass and an incremental one): each
# horizon is a true claim, so the larger one is kept.
_ADVANCE = text(
    """
    INSERT INTO reconcile_checkpoints AS c (job, horizon)
    VALUES (:job, CAST(CAST(:horizon AS text) AS xid8))
    ON CONFLICT (job) DO UPDATE
    SET horizon = GREATEST(c.horizon, EXCLUDED.horizon), updated_at = now()
    """
)


async def horizon_of(session: AsyncSession, job: str) -> int | None:
    """The horizon ``job`` last finished at, or None when it never finished."""
    found = await session.scalar(_READ, {"job": job})
    return None if found is None else int(found)


async def horizon_now(session: AsyncSession) -> int:
    """The horizon of this moment: the id of the oldest transaction still in progress."""
    return int(await session.scalar(_NOW) or 0)


async def advance(session: AsyncSession, job: str, horizon: int) -> None:
    """Record that every change below ``horizon`` was judged by ``job`` (never moves back)."""
    await session.execute(_ADVANCE, {"job": job, "horizon": str(horizon)})
