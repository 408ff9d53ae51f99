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
from sqlalchemy import ARRAY, String, bindparam, text
from sqlalchemy.exc import DBAPIError

from core.db import SessionFactory

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
# Several windows counted in one statement (a request's address and its customer).
_INCR_MANY = text(
    """
    INSERT INTO rate_limit_counters AS c (key, count, expires_at)
    SELECT k, :amount, now() + make_interval(secs => :expiry) FROM unnest(:keys) AS k
    ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN c.expires_at <= now() THEN :amount ELSE c.count + :amount END,
        expires_at = CASE WHEN c.expires_at <= now()
                          THEN now() + make_interval(secs => :expiry) ELSE c.expires_at END
    RETURNING key, count
    """
).bindparams(bindparam("keys", type_=ARRAY(String)))
_GET = text(
    "SELECT count, expires_at FROM rate_limit_counters WHERE key = :key AND expires_at > now()"
)


class PostgresStorage(Storage):
    """Fixed-window counters in the ``rate_limit_counters`` table."""

    STORAGE_SCHEME = ["booking+postgres"]

    def __init__(self, sessions: SessionFactory, **options: Any) -> None:
        super().__init__(wrap_exceptions=False)
        self._sessions = sessions
        bind = sessions.kw["bind"]
        # One statement needs no transaction around it: autocommit saves BEGIN and COMMIT,
        # two of the three round trips of every counted request.
        self._autocommit = bind.execution_options(isolation_level="AUTOCOMMIT")

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
        """:meth:`incr` for several distinct keys of one window length, in one statement."""
        async with self._autocommit.connect() as conn:
            rows = await conn.execute(
                _INCR_MANY, {"keys": keys, "amount": amount, "expiry": float(expiry)}
            )
            return {str(key): int(count) for key, count in rows}

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
