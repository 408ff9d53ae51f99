"""Bulk set-up in SQL: slots, funded wallets and existing bookings, respecting every constraint.

Slots of capacity 1 on a resource never overlap (each batch takes its own
hours), so the exclusion constraint on exclusive bookings holds; wallets are
funded through ``ledger_entries`` (the trigger moves the balance); existing
bookings take their slot's capacity (``active_count = 1``) and get their
``booking.held`` and ``booking.confirmed`` timeline rows.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from core.auth import issue_token

PRICE = 50_000
CURRENCY = "INR"
FUNDS = 10**15


async def rooms(api_url: str, jwt_secret: str, count: int, name: str) -> list[uuid.UUID]:
    """``count`` slot resources, created through the API as an operator would."""
    operator = {
        "Authorization": f"Bearer {issue_token(jwt_secret, uuid.uuid4(), 'operator', 7200)}"
    }
    created = []
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as api:
        for i in range(count):
            r = await api.post(
                "/v1/resources", json={"name": f"{name} {i}", "timezone": "UTC"}, headers=operator
            )
            r.raise_for_status()
            created.append(uuid.UUID(r.json()["id"]))
    return created


class EngineData:
    """Bulk inserts into the engine's tables, each batch in hours no other batch uses."""

    def __init__(self, conn: asyncpg.Connection, resources: list[uuid.UUID]) -> None:
        self.conn = conn
        self.resources = resources
        self._base = (datetime.now(UTC) + timedelta(days=2)).replace(
            minute=0, second=0, microsecond=0
        )
        self._next_hour = 0

    def _hours(self, count: int) -> datetime:
        start = self._base + timedelta(hours=self._next_hour)
        self._next_hour += -(-count // len(self.resources)) + 1
        return start

    async def slots(self, count: int, active: int = 0) -> list[uuid.UUID]:
        """``count`` free slots (capacity 1), in creation order."""
        base = self._hours(count)
        rows = await self.conn.fetch(
            """
            INSERT INTO slots (id, resource_id, starts_at, ends_at, price_amount, currency,
                               capacity, active_count)
            SELECT gen_random_uuid(), ($1::uuid[])[1 + g % cardinality($1::uuid[])],
                   $2::timestamptz + (g / cardinality($1::uuid[])) * interval '1 hour',
                   $2::timestamptz + (g / cardinality($1::uuid[])) * interval '1 hour'
                       + interval '30 minutes',
                   $3, $4, 1, $5
              FROM generate_series(0, $6 - 1) AS g
            RETURNING id
            """,
            self.resources,
            base,
            PRICE,
            CURRENCY,
            active,
            count,
        )
        return [r["id"] for r in rows]

    async def bookings(self, count: int, chunk: int = 20_000) -> None:
        """``count`` CONFIRMED wallet bookings, each on a new slot of its own."""
        done = 0
        while done < count:
            n = min(chunk, count - done)
            base = self._hours(n)
            await self.conn.execute(
                """
                WITH s AS (
                    INSERT INTO slots (id, resource_id, starts_at, ends_at, price_amount,
                                       currency, capacity, active_count)
                    SELECT gen_random_uuid(), ($1::uuid[])[1 + g % cardinality($1::uuid[])],
                           $2::timestamptz + (g / cardinality($1::uuid[])) * interval '1 hour',
                           $2::timestamptz + (g / cardinality($1::uuid[])) * interval '1 hour'
                               + interval '30 minutes',
                           $3, $4, 1, 1
                      FROM generate_series(0, $5 - 1) AS g
                    RETURNING id, resource_id, starts_at, ends_at, price_amount, currency
                ), b AS (
                    INSERT INTO bookings (id, customer_id, slot_id, resource_id, resource_seq,
                                          status, amount, currency, payment_method,
                                          payment_status, captured_amount, meeting_status,
                                          meeting_url, meeting_provider, workflow_id, exclusive,
                                          starts_at, ends_at, blocked_until)
                    SELECT x.bid, gen_random_uuid(), x.id, x.resource_id, r.seq, 'CONFIRMED',
                           x.price_amount, x.currency, 'wallet', 'CAPTURED', x.price_amount,
                           'READY', 'https://meet.jit.si/bench-' || x.bid, r.meeting_provider,
                           'booking-' || x.bid, true, x.starts_at, x.ends_at, x.ends_at
                      FROM (SELECT gen_random_uuid() AS bid, s.* FROM s) AS x
                      JOIN resources r ON r.id = x.resource_id
                    RETURNING id
                )
                INSERT INTO booking_events (booking_id, key, type)
                SELECT id, id || ':' || t, t
                  FROM b CROSS JOIN (VALUES ('booking.held'), ('booking.confirmed')) AS v(t)
                """,
                self.resources,
                base,
                PRICE,
                CURRENCY,
                n,
            )
            done += n
        await self.conn.execute("ANALYZE")

    async def range_bookings(
        self, resource: uuid.UUID, count: int, start: datetime, every: timedelta, buffer: timedelta
    ) -> None:
        """``count`` CONFIRMED one-hour bookings of a range resource, one every ``every``."""
        await self.conn.execute(
            """
            INSERT INTO bookings (id, customer_id, slot_id, resource_id, resource_seq, status,
                                  amount, currency, payment_method, payment_status,
                                  captured_amount, meeting_status, meeting_url,
                                  meeting_provider, workflow_id, exclusive, starts_at, ends_at,
                                  blocked_until)
            SELECT x.bid, gen_random_uuid(), NULL, r.id, r.seq, 'CONFIRMED', $2, $3, 'wallet',
                   'CAPTURED', $2, 'READY', 'https://meet.jit.si/bench-' || x.bid,
                   r.meeting_provider, 'booking-' || x.bid, true, x.starts_at,
                   x.starts_at + interval '1 hour', x.starts_at + interval '1 hour' + $6::interval
              FROM (SELECT gen_random_uuid() AS bid, $4::timestamptz + g * $5::interval AS starts_at
                      FROM generate_series(0, $7 - 1) AS g) AS x
              JOIN resources r ON r.id = $1
            """,
            resource,
            PRICE,
            CURRENCY,
            start,
            every,
            buffer,
            count,
        )
        await self.conn.execute("ANALYZE bookings")

    async def fund(self, customers: list[uuid.UUID]) -> None:
        """A wallet per customer, credited through the ledger."""
        await self.conn.execute(
            "INSERT INTO wallets (customer_id, currency) SELECT unnest($1::uuid[]), $2",
            customers,
            CURRENCY,
        )
        await self.conn.execute(
            """
            INSERT INTO ledger_entries (customer_id, currency, amount, kind, idempotency_key,
                                        reason, actor)
            SELECT c, $2, $3, 'credit', 'bench-credit-' || c, 'bench funding', 'bench'
              FROM unnest($1::uuid[]) AS c
            """,
            customers,
            CURRENCY,
            FUNDS,
        )


async def baseline_setup(conn: asyncpg.Connection, slots: int, customers: list[uuid.UUID]) -> list:
    """The baseline's slots and funded wallets."""
    await conn.execute(
        "INSERT INTO wallets (customer_id, balance) SELECT unnest($1::uuid[]), $2",
        customers,
        FUNDS,
    )
    rows = await conn.fetch(
        "INSERT INTO slots (id, price, capacity) SELECT gen_random_uuid(), $1, 1"
        " FROM generate_series(1, $2) RETURNING id",
        PRICE,
        slots,
    )
    await conn.execute("ANALYZE")
    return [r["id"] for r in rows]
