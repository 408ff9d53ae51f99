"""A storage backend for the ``limits`` library on PostgreSQL, so every API process shares it.

``limits`` ships the strategies (fixed window, its key scheme, window stats);
this module gives it the one thing it lacks here: a store that several API
processes on several machines see alike, with nothing to run but the database
the engine already has. Each ``incr`` is one statement.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from limits.aio.storage import Storage
from sqlalchemy import ARRAY, Float, Integer, String, bindparam, text
from sqlalchemy.exc import DBAPIError

from core.db import SessionFactory, autocommit
from core.rounds import Batch, Rounds

_INCR = text(
    """
    INSERT INTO rate_limit_counters AS c (key, count, expires_at)
    VALUES (:key, :amount, now() + make_interval(secs => :expiry))
    ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN c.expires_at <= now() THEN :amount ELSE c.count + :amount END,
        expires_at = CASE WHEN c.expires_at <= now()
                          THEN now() + make_interval(secs => :expiry) ELSE c.expires_at END
    RETURNING count
    """
)
# Many windows counted in one statement: a request's address and its customer, and every
# other request of the same moment (:class:`~core.rounds.Rounds`). Each key appears once,
# with the hits the round brings it.
_INCR_MANY = text(
    """
    INSERT INTO rate_limit_counters AS c (key, count, expires_at)
    SELECT k, a, now() + make_interval(secs => e)
    FROM unnest(:keys, :amounts, :expiries) AS t(k, a, e)
    ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN c.expires_at <= now() THEN excluded.count
                     ELSE c.count + excluded.count END,
        expires_at = CASE WHEN c.expires_at <= now() THEN excluded.expires_at
                          ELSE c.expires_at END
    RETURNING key, count
    """
).bindparams(
    bindparam("keys", type_=ARRAY(String)),
    bindparam("amounts", type_=ARRAY(Integer)),
    bindparam("expiries", type_=ARRAY(Float)),
)

# One caller's windows: its keys, their window length in seconds, the hits to add.
Hits = tuple[tuple[str, ...], int, int]


_GET = text(
    "SELECT count, expires_at FROM rate_limit_counters WHERE key = :key AND expires_at > now()"
)


class PostgresStorage(Storage):
    """Fixed-window counters in the ``rate_limit_counters`` table."""

    STORAGE_SCHEME = ["booking+postgres"]

    def __init__(self, sessions: SessionFactory, **options: Any) -> None:
        super().__init__(wrap_exceptions=False)
        self._sessions = sessions
        self._autocommit = autocommit(sessions)
        self._rounds: Rounds[Hits, dict[str, int]] = Rounds(self._count)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        """What a failing database raises."""
        return (DBAPIError, OSError)

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Count ``amount`` more hits in ``key``'s window, starting a new window if it passed."""
        async with self._autocommit.connect() as conn:
            count = await conn.scalar(
                _INCR, {"key": key, "amount": amount, "expiry": float(expiry)}
            )
        return int(count or 0)

    async def incr_many(self, keys: list[str], expiry: int, amount: int = 1) -> dict[str, int]:
        """:meth:`incr` for several distinct keys of one window length.

        Counted in the next round's one statement with every other caller's
        keys of that moment. Each caller's count is the one it would have seen
        counted alone, in the order the callers came.
        """
        return await self._rounds.submit((tuple(keys), expiry, amount))

    async def _count(self, batch: Batch[Hits, dict[str, int]]) -> None:
        amounts: dict[str, int] = {}
        expiries: dict[str, float] = {}
        for (keys, expiry, amount), _ in batch:
            for key in keys:
                amounts[key] = amounts.get(key, 0) + amount
                expiries.setdefault(key, float(expiry))
        async with self._autocommit.connect() as conn:
            rows = await conn.execute(
                _INCR_MANY,
                {
                    "keys": list(amounts),
                    "amounts": list(amounts.values()),
                    "expiries": list(expiries.values()),
                },
            )
            totals = {str(key): int(count) for key, count in rows}
        # The round's hits on a key end at its total; each caller gets its place in them.
        before = {key: totals[key] - amounts[key] for key in amounts}
        for (keys, _, amount), answered in batch:
            counts = {}
            for key in keys:
                before[key] += amount
                counts[key] = before[key]
            if not answered.done():  # its caller may have gone
                answered.set_result(counts)

    async def get(self, key: str) -> int:
        """Hits so far in ``key``'s current window."""
        async with self._sessions() as session:
            row = (await session.execute(_GET, {"key": key})).first()
        return int(row[0]) if row else 0

    async def get_expiry(self, key: str) -> float:
        """When ``key``'s window ends, as a UNIX time (now when it has none)."""
        async with self._sessions() as session:
            row = (await session.execute(_GET, {"key": key})).first()
        moment = row[1] if row else datetime.now(UTC)
        return float(moment.timestamp())

    async def check(self) -> bool:
        """Whether the database answers."""
        try:
            async with self._sessions() as session:
                await session.execute(text("SELECT 1"))
        except self.base_exceptions:
            return False
        return True

    async def reset(self) -> int | None:
        """Forget every counter."""
        async with self._sessions() as session:
            result = await session.execute(text("DELETE FROM rate_limit_counters"))
            await session.commit()
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def clear(self, key: str) -> None:
        """Forget one counter."""
        async with self._sessions() as session:
            await session.execute(
                text("DELETE FROM rate_limit_counters WHERE key = :key"), {"key": key}
            )
            await session.commit()
