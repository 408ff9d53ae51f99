"""A database at scale in minutes: bookings, wallets and their ledger written with COPY.

``await generate(conn, bookings=1_000_000, wallets=100_000, ledger=10_000_000)``
fills an empty, migrated database (see :mod:`bench.scale_plan` for the shape
of the data) and leaves it as the engine would: every constraint holds, and
so does every invariant of ``tests/support/invariants.py``:

* each wallet's balance is the sum of its ledger entries, and no running
  balance ever goes below zero (a customer's first entry is an opening credit
  that covers every debit after it);
* each slot's ``active_count`` is the number of its active bookings (0 or 1);
  a resource's active bookings never overlap;
* ``customer_holds`` counts each customer's unpaid bookings (below the cap);
* refunds never exceed what was captured, per booking and per payment;
* an open alert marks its booking ``needs_attention``, with its details.

Rows go in with the triggers off (``session_replication_role = replica``:
the ledger trigger that moves balances, the unpaid-holds counter and the
foreign-key checks), because the generator writes the results of those
triggers itself; checks, unique indexes and the exclusion constraint still
apply. That needs a superuser, as the embedded server's ``postgres`` is.
Ledger ids follow time: entries are written oldest first.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bench import scale_plan as sp
from bench.scale_rows import COLUMNS, RowBuilder, Rows

CURRENCY = "INR"
CHUNK = 50_000
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The busy range resource: open around the clock, one-hour rentals and more, a 30-minute buffer.
RANGE_RULES = {
    "rate": {"per": "hour", "price": {"amount": 10_000, "currency": CURRENCY}},
    "min_duration_minutes": 60,
    "max_duration_minutes": 1440,
    "buffer_minutes": 30,
    "min_notice_minutes": 0,
    "horizon_days": 365,
    "availability": {"weekly": [{"day": d, "start": "00:00", "end": "24:00"} for d in DAYS]},
}
TABLES = (
    "resources",
    "slots",
    "bookings",
    "booking_events",
    "wallets",
    "ledger_entries",
    "customer_holds",
    "gateway_transactions",
    "webhook_events",
    "alerts",
)


@dataclass(frozen=True)
class Generated:
    """What :func:`generate` wrote, and the ids a benchmark needs to aim its reads."""

    counts: dict[str, int]
    seconds: float
    busy_resource: uuid.UUID
    busy_range_resource: uuid.UUID
    now: datetime


async def generate(
    conn: asyncpg.Connection,
    *,
    bookings: int,
    wallets: int,
    ledger: int,
    seed: int = 1,
    now: datetime | None = None,
    alerts: float = 0.02,
    per_resource: int = sp.BOOKINGS_PER_RESOURCE,
    analyze: bool = True,
) -> Generated:
    """Fill an empty, migrated database with ``bookings``, ``wallets`` and ``ledger`` entries.

    Args:
        conn: A connection as a superuser, to an empty database at the head migration.
        bookings: Bookings to write (at least 100), each with its slot (range
            bookings have none), timeline and payment rows.
        wallets: Customers, one INR wallet each (at least 10).
        ledger: Ledger entries in all: one opening credit per wallet, the
            wallet bookings' debits and refunds, and top-up credits for the rest.
        seed: The same seed draws the same data (ids included).
        now: The moment the data is "as of" (default: the current minute).
        alerts: The share of bookings that had an alert (one in ten of those still open).
        per_resource: Bookings per regular resource, on average (more resources, fewer each).
        analyze: ``VACUUM ANALYZE`` the tables afterwards, as autovacuum would.

    Returns:
        Row counts per table, the time taken and the busy resources' ids.

    Raises:
        ValueError: ``ledger`` is below what the bookings and wallets need.
    """
    started = time.perf_counter()
    moment = now or datetime.now(UTC).replace(second=0, microsecond=0)
    drawn = sp.plan(bookings, wallets, moment.timestamp(), seed, per_resource)
    rng = random.Random(seed + 1)  # noqa: S311 - reproducible data, not secrets
    customers = [_uuid(rng) for _ in range(wallets)]
    builder = RowBuilder(rng, customers, moment.timestamp(), alerts)
    debits = [0] * wallets
    needed = wallets
    for d in drawn.draws:
        if d.method == sp.WALLET and d.status in (sp.COMPLETED, sp.CONFIRMED, sp.CANCELLED):
            debits[d.customer] += d.amount
            needed += 2 if d.status == sp.CANCELLED else 1
    credits = ledger - needed
    if credits < 0:
        raise ValueError(f"ledger: at least {needed} entries for these bookings and wallets")
    counts = dict.fromkeys(TABLES, 0)
    await conn.execute("SET session_replication_role = replica")
    try:
        ids = await _resources(conn, drawn.resources, rng)
        builder.resources = ids
        counts["resources"] = len(ids)
        first = drawn.draws[0].created if drawn.draws else moment.timestamp()
        opening = [
            builder.opening_credit(c, debits[c] + rng.randrange(10_000, 1_000_000, 100), first)
            for c in range(wallets)
        ]
        await _copy(conn, "ledger_entries", opening, counts)
        await _copy(conn, "slots", builder.free_slots(drawn.free_slots), counts)
        span = (moment.timestamp() - first) or 1.0
        written = 0
        for start in range(0, len(drawn.draws), CHUNK):
            chunk = drawn.draws[start : start + CHUNK]
            rows = builder.bookings(chunk)
            last = start + CHUNK >= len(drawn.draws)
            upto = moment.timestamp() if last else chunk[-1].created
            target = credits if last else round(credits * (upto - first) / span)
            rows.ledger += builder.credits(target - written, chunk[0].created, upto)
            written = target
            await _write(conn, rows, counts)
        await _copy(conn, "wallets", builder.wallets(CURRENCY, moment), counts)
        await _copy(conn, "customer_holds", builder.holds(), counts)
    finally:
        await conn.execute("RESET session_replication_role")
    if analyze:
        for table in TABLES:
            await conn.execute(f"VACUUM ANALYZE {table}")
    return Generated(
        counts=counts,
        seconds=time.perf_counter() - started,
        busy_resource=ids[drawn.busy_resource][0],
        busy_range_resource=ids[drawn.busy_range_resource][0],
        now=moment,
    )


async def _resources(
    conn: asyncpg.Connection, resources: list[sp.ResourcePlan], rng: random.Random
) -> list[tuple[uuid.UUID, int, str]]:
    """Insert the resources (their ``seq`` is an identity): (id, seq, meeting provider) each."""
    rules = json.dumps(RANGE_RULES)
    out = []
    for r in resources:
        rid = _uuid(rng)
        seq = await conn.fetchval(
            "INSERT INTO resources (id, name, timezone, meeting_provider, refund_policy,"
            " booking_mode, range_rules) VALUES ($1, $2, $3, 'jitsi',"
            ' \'{"full_refund_hours_before": 24, "late_refund_percent": 50}\', $4, $5::jsonb)'
            " RETURNING seq",
            rid,
            r.name,
            r.timezone,
            r.mode,
            rules if r.mode == "range" else None,
        )
        out.append((rid, seq, "jitsi"))
    return out


async def _write(conn: asyncpg.Connection, rows: Rows, counts: dict[str, int]) -> None:
    """One chunk's rows, parents first; the ledger oldest first."""
    rows.ledger.sort(key=lambda entry: entry[-1])
    await _copy(conn, "slots", rows.slots, counts)
    await _copy(conn, "bookings", rows.bookings, counts)
    await _copy(conn, "booking_events", rows.events, counts)
    await _copy(conn, "ledger_entries", rows.ledger, counts)
    await _copy(conn, "gateway_transactions", rows.gateway, counts)
    await _copy(conn, "webhook_events", rows.webhooks, counts)
    await _copy(conn, "alerts", rows.alerts, counts)


async def _copy(
    conn: asyncpg.Connection, table: str, records: Iterable[tuple[Any, ...]], counts: dict[str, int]
) -> None:
    records = list(records)
    if not records:
        return
    await conn.copy_records_to_table(table, records=records, columns=list(COLUMNS[table]))
    counts[table] += len(records)


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)
