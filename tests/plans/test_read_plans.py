"""Every read on the request path is served by an index, on tables big enough to tell.

A database of its own gets 20,000 bookings (and their slots, timelines,
payments and alerts: one booking in ten had one), 2,000 wallets and 60,000
ledger entries from the scale generator, spread over 100 resources, then
fresh statistics (``VACUUM ANALYZE``). At that size a
read no index serves is planned as a sequential scan, or walks an index far
past the page it returns. Each read runs through its service function (the
code the API calls); the SQL it sends is explained with ``ANALYZE`` on the
same connection, and two things are asserted for every large table it
touches: no sequential scan, and no scan that looks at more than a bounded
number of rows (a page needs about 51; the bound leaves room for a
resource's or a customer's rows but not for a table's).

The last test drops one index the reads rely on, inside a transaction that
is rolled back, and shows the same check then fails.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from api.services import booking_reads, catalog, ops, wallets
from bench.scale_data import generate
from core.auth import Principal
from core.migrate import upgrade
from models.domain import AttentionKind, BookingStatus

from support.plans import explained, rows_read, scans_of

pytestmark = pytest.mark.timeout(600)

LARGE = frozenset(
    {
        "bookings",
        "slots",
        "booking_events",
        "ledger_entries",
        "wallets",
        "alerts",
        "gateway_transactions",
        "webhook_events",
    }
)
# The most rows one scan of a large table may look at for one page of a read.
MOST_ROWS = 2_000


@dataclass
class Data:
    """The plan database and what its reads aim at."""

    sessions: async_sessionmaker[AsyncSession]
    dsn: str
    booking: uuid.UUID
    customer: uuid.UUID
    resource: uuid.UUID
    busy: uuid.UUID
    busy_range: uuid.UUID
    now: datetime
    kind: AttentionKind


@pytest.fixture(scope="module")
async def data(database_url: str) -> AsyncIterator[Data]:
    """A database of its own on the test server, filled by the scale generator and analysed."""
    name = f"booking_plans_{uuid.uuid4().hex[:8]}"
    url = make_url(database_url)
    admin = await asyncpg.connect(_dsn(database_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    target = url.set(database=name).render_as_string(hide_password=False)
    engine = None
    try:
        await asyncio.to_thread(upgrade, target)
        conn = await asyncpg.connect(_dsn(target))
        try:
            done = await generate(
                conn, bookings=20_000, wallets=2_000, ledger=60_000, alerts=0.1, per_resource=200
            )
            # Statistics from every row, not ANALYZE's random sample (300 x the target rows
            # covers each table here): the same data always gets the same plans.
            await conn.execute("SET default_statistics_target = 10000")
            await conn.execute("ANALYZE")
            row = await conn.fetchrow(
                "SELECT b.id, b.customer_id FROM bookings b JOIN ledger_entries l"
                " ON l.booking_id = b.id AND l.kind = 'refund' ORDER BY b.id LIMIT 1"
            )
            resource = await conn.fetchval(
                "SELECT resource_id FROM bookings WHERE resource_id <> ALL($1::uuid[])"
                " GROUP BY resource_id ORDER BY count(*), resource_id"
                " OFFSET (SELECT count(*) / 2 FROM resources) LIMIT 1",
                [done.busy_resource, done.busy_range_resource],
            )
            kind = await conn.fetchval(
                "SELECT kind FROM alerts WHERE resolved_at IS NULL AND booking_id IS NOT NULL"
                " GROUP BY kind ORDER BY count(*) DESC LIMIT 1"
            )
        finally:
            await conn.close()
        engine = create_async_engine(target)
        yield Data(
            sessions=async_sessionmaker(engine, expire_on_commit=False),
            dsn=_dsn(target),
            booking=row["id"],
            customer=row["customer_id"],
            resource=resource,
            busy=done.busy_resource,
            busy_range=done.busy_range_resource,
            now=done.now,
            kind=AttentionKind(kind),
        )
    finally:
        if engine is not None:
            await engine.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


Read = Callable[[AsyncSession, Data], Awaitable[Any]]
OPERATOR = Principal(sub=uuid.uuid4(), role="operator")


def _customer(d: Data) -> Principal:
    return Principal(sub=d.customer, role="customer")


def _week(d: Data) -> dict[str, datetime]:
    day = d.now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return {"starts_from": day, "starts_before": day + timedelta(days=7)}


async def _ops_list(s: AsyncSession, d: Data, **filters: Any) -> Any:
    base: dict[str, Any] = {"status": None, "cursor": None, "limit": 50}
    return await booking_reads.list_bookings(s, OPERATOR, **(base | filters))


async def _second_page(s: AsyncSession, d: Data) -> Any:
    first = await _ops_list(s, d)
    return await _ops_list(s, d, cursor=first.next_cursor)


async def _ledger_second_page(s: AsyncSession, d: Data) -> Any:
    first = await wallets.list_ledger(s, d.customer, cursor=None, limit=50)
    return await wallets.list_ledger(s, d.customer, cursor=first.next_cursor, limit=50)


async def _availability(s: AsyncSession, resource: uuid.UUID, d: Data, minutes: int | None) -> Any:
    week = _week(d)
    return await catalog.availability(
        s,
        resource,
        starts_from=week["starts_from"],
        starts_to=week["starts_before"],
        duration=None if minutes is None else timedelta(minutes=minutes),
        step=timedelta(minutes=30),
    )


def _alerts(**filters: Any) -> Read:
    base: dict[str, Any] = {"status": None, "kind": None, "booking_id": None, "cursor": None}
    return lambda s, d: ops.list_alerts(s, **(base | {"limit": 50} | filters))


READS: dict[str, Read] = {
    "booking": lambda s, d: booking_reads.get_booking(s, _customer(d), d.booking),
    "my bookings": lambda s, d: booking_reads.list_bookings(
        s, _customer(d), status=None, cursor=None, limit=50
    ),
    "my bookings by status": lambda s, d: booking_reads.list_bookings(
        s, _customer(d), status=BookingStatus.COMPLETED, cursor=None, limit=50
    ),
    "ops bookings": lambda s, d: _ops_list(s, d),
    "ops bookings, page 2": _second_page,
    "ops by status": lambda s, d: _ops_list(s, d, status=BookingStatus.CONFIRMED),
    "ops by rare status": lambda s, d: _ops_list(s, d, status=BookingStatus.AWAITING_PAYMENT),
    "ops by customer": lambda s, d: _ops_list(s, d, customer_id=d.customer),
    "ops by resource": lambda s, d: _ops_list(s, d, resource_id=d.resource),
    "ops by resource and week": lambda s, d: _ops_list(s, d, resource_id=d.resource, **_week(d)),
    "ops by week": lambda s, d: _ops_list(s, d, **_week(d)),
    "ops by attention kind": lambda s, d: _ops_list(s, d, attention=d.kind),
    "ops needing attention": lambda s, d: _ops_list(s, d, needs_attention=True),
    "availability of the busy room": lambda s, d: _availability(s, d.busy, d, None),
    "availability of the busy car": lambda s, d: _availability(s, d.busy_range, d, 60),
    "slots of the busy room": lambda s, d: catalog.list_slots(
        s,
        resource_id=d.busy,
        starts_from=_week(d)["starts_from"],
        starts_to=_week(d)["starts_before"],
        available=None,
        cursor=None,
        limit=50,
    ),
    "wallet": lambda s, d: wallets.get_wallet(s, d.customer),
    "ledger": lambda s, d: wallets.list_ledger(s, d.customer, cursor=None, limit=50),
    "ledger, page 2": _ledger_second_page,
    "alerts": _alerts(),
    "open alerts": _alerts(status="open"),
    "open alerts of a kind": lambda s, d: _alerts(status="open", kind=d.kind)(s, d),
    "resolved alerts": _alerts(status="resolved"),
    "alerts of a kind": lambda s, d: _alerts(kind=d.kind)(s, d),
    "unmatched webhook events": lambda s, d: ops.list_webhook_events(
        s, status="UNMATCHED", cursor=None, limit=50
    ),
}


def breaches(plans: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Sequential scans of large tables, and scans that looked at too many rows."""
    found = []
    for statement, plan in plans:
        for node in scans_of(plan, LARGE):
            where = f"{node['Relation Name']} in: {' '.join(statement.split())[:300]}"
            if node["Node Type"] == "Seq Scan":
                found.append(f"Seq Scan on {where}")
            elif rows_read(node) > MOST_ROWS:
                found.append(f"{node['Node Type']} read {rows_read(node):.0f} rows of {where}")
    return found


@pytest.mark.parametrize("read", list(READS))
async def test_read_is_served_by_an_index(data: Data, read: str) -> None:
    """The read's statements scan no large table sequentially, nor widely through an index."""
    async with data.sessions() as session, explained(session) as captured:
        await READS[read](session, data)
    assert captured.plans, "the read sent no SELECT"
    assert breaches(captured.plans) == []


# Indexes and a read each serves: without them, the read breaches (the last test).
DROPPED = {
    "ledger_booking": "booking",
    "bookings_resource_created, bookings_resource_starts": "ops by resource",
    "bookings_customer_created": "my bookings",
    "bookings_status_created": "ops by rare status",
    "ledger_customer": "ledger",
    "bookings_attention_created": "ops needing attention",
}


@pytest.mark.parametrize("indexes", list(DROPPED))
async def test_the_check_fails_when_an_index_it_relies_on_is_dropped(
    data: Data, indexes: str
) -> None:
    """Drop the index (in a transaction rolled back after): the read it served is a breach."""
    read = DROPPED[indexes]
    async with data.sessions() as session:
        await session.execute(text(f"DROP INDEX {indexes}"))
        async with explained(session) as captured:
            await READS[read](session, data)
        await session.rollback()
    assert breaches(captured.plans) != []
    # The rollback undid the drop: the index serves the read again.
    async with data.sessions() as session, explained(session) as again:
        await READS[read](session, data)
    assert breaches(again.plans) == []
