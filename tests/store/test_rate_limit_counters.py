"""Rate-limit counters in PostgreSQL: exact under concurrency, batched into few statements."""

from __future__ import annotations

import asyncio
import uuid

from core.db import SessionFactory
from store.rate_limits import PostgresStorage

from support.db import statements_sent


async def test_concurrent_hits_are_counted_exactly_in_few_statements(
    sessions: SessionFactory,
) -> None:
    """Forty callers at once on two windows: counts 1..40, in fewer statements than callers."""
    storage = PostgresStorage(sessions)
    address, customer = f"address/{uuid.uuid4()}", f"customer/{uuid.uuid4()}"
    with statements_sent(sessions, lambda s: "rate_limit_counters" in s) as statements:
        counts = await asyncio.gather(
            *(storage.incr_many([address, customer], 60) for _ in range(40))
        )

    assert sorted(c[address] for c in counts) == list(range(1, 41))
    assert [c[address] for c in counts] == [c[customer] for c in counts]
    assert 1 <= len(statements) < 40
    assert await storage.get(address) == 40
    # A caller on its own afterwards continues the same window.
    assert await storage.incr_many([address], 60) == {address: 41}
