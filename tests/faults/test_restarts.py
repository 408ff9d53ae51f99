"""Temporal and PostgreSQL restarted while bookings are in flight: nothing is lost or doubled.

Both keep their data across the restart (Temporal's database file, the
PostgreSQL data directory); the API, the worker and the sandbox stay up and
must find their way back on their own.
"""

from __future__ import annotations

import uuid

import asyncpg
import httpx
from faults.conftest import assert_invariants
from faults.test_crash_points import AHEAD, PRICE, _money, _until_meeting

from stack.processes import ProcessStack

from support.auth import bearer
from support.catalog import book, book_gateway, fund, make_slot
from support.waiting import eventually


async def _awaiting_payment(api: httpx.AsyncClient) -> tuple[str, uuid.UUID, str]:
    customer = uuid.uuid4()
    slot = await make_slot(api, price=PRICE, starts_in=AHEAD)
    created = await book_gateway(api, customer, slot["id"])
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "AWAITING_PAYMENT"
    return created.json()["id"], customer, created.json()["payment"]["order_id"]


async def test_payment_while_temporal_is_down_confirms_once_it_is_back(
    stack: ProcessStack,
    api: httpx.AsyncClient,
    gateway: httpx.AsyncClient,
    db: asyncpg.Connection,
) -> None:
    """The webhook cannot be signalled (5xx, the sandbox redelivers); creates answer 503."""
    assert stack.temporal is not None
    booking_id, customer, order = await _awaiting_payment(api)
    other = uuid.uuid4()
    slot = await make_slot(api, price=PRICE, starts_in=AHEAD)
    await fund(api, other, PRICE)

    stack.temporal.stop()
    paid = await gateway.post(f"/v1/orders/{order}/pay", json={"outcome": "success"})
    key = str(uuid.uuid4())
    refused = await book(api, other, slot["id"], key=key)
    ready = await api.get("/readyz")
    await stack.temporal.start()

    assert paid.status_code == 200, paid.text
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "DEPENDENCY_UNAVAILABLE"
    assert ready.status_code == 503
    done = await _until_meeting(api, booking_id, customer)
    assert done["status"] == "CONFIRMED"
    assert await _money(db, booking_id) == {"gateway_capture": 1}

    # The key refused while Temporal was down books once it is back.
    async def booked() -> httpx.Response | None:
        again = await book(api, other, slot["id"], key=key)
        return again if again.status_code == 201 else None

    again = await eventually(booked, what="the same key booked after the restart")
    assert again.json()["status"] == "CONFIRMED"
    assert await _money(db, again.json()["id"]) == {"wallet_debit": 1}


async def test_postgres_restart_between_order_and_payment_loses_nothing(
    stack: ProcessStack,
    api: httpx.AsyncClient,
    gateway: httpx.AsyncClient,
) -> None:
    """The pools reconnect; the webhook is stored once, the payment confirmed once."""
    booking_id, customer, order = await _awaiting_payment(api)
    before = stack.pids()["postgres"]
    await stack.restart_postgres()
    # A new postmaster: the server really went away and came back.
    assert stack.pids()["postgres"] != before

    paid = await gateway.post(f"/v1/orders/{order}/pay", json={"outcome": "success"})
    assert paid.status_code == 200, paid.text
    done = await _until_meeting(api, booking_id, customer)
    assert done["status"] == "CONFIRMED"

    conn = await asyncpg.connect(stack.engine_dsn)
    try:
        assert await _money(conn, booking_id) == {"gateway_capture": 1}
        stored = await conn.fetchval(
            "SELECT COUNT(*) FROM webhook_events WHERE booking_id = $1", uuid.UUID(booking_id)
        )
        assert stored == 1
        await assert_invariants(conn)
    finally:
        await conn.close()
    # And the engine books as before.
    other = uuid.uuid4()
    slot = await make_slot(api, price=PRICE, starts_in=AHEAD)
    await fund(api, other, PRICE)
    created = await book(api, other, slot["id"])
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "CONFIRMED"
    wallet = (await api.get("/v1/wallets/me", headers=bearer(other))).json()
    assert wallet["balances"] == [{"amount": 0, "currency": "INR"}]


async def test_requests_after_a_postgres_restart_answer_503_at_most_once_then_work(
    stack: ProcessStack, api: httpx.AsyncClient
) -> None:
    """Requests after a PostgreSQL restart are answered as usual, never 500.

    With the pre-ping (the default) no request meets a dropped connection. Without
    it, the one that does answers 503 and invalidates the API's whole pool, so the
    next request reconnects: at most one 503 either way.
    """
    booking_id, customer, _ = await _awaiting_payment(api)
    await stack.restart_postgres()
    statuses = []
    for _ in range(3):
        read = await api.get(f"/v1/bookings/{booking_id}", headers=bearer(customer))
        statuses.append(read.status_code)
        if read.status_code == 503:
            assert read.json()["error"]["code"] == "DEPENDENCY_UNAVAILABLE", read.text
    assert statuses[-2:] == [200, 200], statuses
    assert statuses.count(503) <= 1, statuses
