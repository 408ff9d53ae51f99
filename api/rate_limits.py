"""Rate limits per customer and per client address, shared by all API processes.

Requests per minute, fixed windows (``limits``' strategy), counted in
PostgreSQL (:mod:`store.rate_limits`). ``0`` turns a limit off. Gateways'
webhooks are not limited per address (a gateway retries from few addresses),
nor are the health and metrics probes.
"""

from __future__ import annotations

import math
import time
import uuid
from typing import NoReturn

from limits import RateLimitItemPerMinute
from limits.aio.strategies import FixedWindowRateLimiter

from models.errors import BookingError, ErrorCode
from store.rate_limits import PostgresStorage

UNLIMITED_PREFIXES = ("/v1/webhooks/", "/healthz", "/readyz", "/metrics")


class RateLimits:
    """The two limits of the contract, on one shared store."""

    def __init__(self, storage: PostgresStorage, *, per_customer: int, per_address: int) -> None:
        self._storage = storage
        self._limiter = FixedWindowRateLimiter(storage)
        self._customer = (
            RateLimitItemPerMinute(per_customer, namespace="customer") if per_customer else None
        )
        self._address = (
            RateLimitItemPerMinute(per_address, namespace="address") if per_address else None
        )

    async def check_request(self, address: str, path: str, customer_id: uuid.UUID | None) -> None:
        """Count one request against its address's and its customer's limits at once.

        One statement for both windows (they are the same length), with the
        keys and window arithmetic of ``limits``' fixed window, whose window
        stats then give the Retry-After of a refusal.

        Raises:
            BookingError: ``RATE_LIMITED`` for the first limit the request is over.
        """
        counted: list[tuple[RateLimitItemPerMinute, str]] = []
        if self._address is not None and not path.startswith(UNLIMITED_PREFIXES):
            counted.append((self._address, address))
        if self._customer is not None and customer_id is not None:
            counted.append((self._customer, str(customer_id)))
        if not counted:
            return
        keys = [item.key_for(who) for item, who in counted]
        counts = await self._storage.incr_many(keys, counted[0][0].get_expiry())
        for (item, who), key in zip(counted, keys, strict=True):
            if counts[key] > item.amount:
                await self._refuse(item, who)

    async def _refuse(self, item: RateLimitItemPerMinute, who: str) -> NoReturn:
        stats = await self._limiter.get_window_stats(item, who)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise BookingError(
            ErrorCode.RATE_LIMITED,
            f"Too many requests; at most {item.amount} a minute.",
            retry_after=retry_after,
        )
