"""The purge: idempotency keys past their TTL and ended rate-limit windows, in batches.

Each batch deletes at most ``page_size`` rows in its own transaction (short
locks, bounded write-ahead log per commit, no long snapshot holding vacuum
back), then heartbeats. A batch picks the oldest expired keys through the
``idempotency_expires`` index; the delete re-checks the expiry, so a key
whose row moved between the pick and the delete stays for the next batch.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import CursorResult, text

from activities.reconcile_pages import beat
from core.db import SessionFactory

_KEYS = text(
    """
    DELETE FROM idempotency_records
    WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM idempotency_records
        WHERE expires_at < now() ORDER BY expires_at LIMIT :size
    ))
    AND expires_at < now()
    """
)
_WINDOWS = text(
    """
    DELETE FROM rate_limit_counters
    WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM rate_limit_counters WHERE expires_at < now() LIMIT :size
    ))
    AND expires_at < now()
    """
)


async def purge(sessions: SessionFactory, size: int) -> tuple[int, int]:
    """Delete every expired key, then every ended window, ``size`` rows a statement.

    Returns:
        How many keys and how many windows were deleted.
    """
    deleted = {"keys": 0, "windows": 0}
    for name, statement in (("keys", _KEYS), ("windows", _WINDOWS)):
        while True:
            async with sessions() as session:
                result = cast(
                    CursorResult[tuple[()]], await session.execute(statement, {"size": size})
                )
                await session.commit()
            deleted[name] += result.rowcount
            beat(deleted)
            if result.rowcount == 0:
                break
    return deleted["keys"], deleted["windows"]
