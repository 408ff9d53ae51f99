"""Concurrent cancels of paid bookings through a PostgreSQL restart or stop, and a killed worker.

Bookings, half paid from the wallet and half through the sandbox gateway, are
all cancelled at once; once the first cancel has started in its workflow, a
part of the engine goes away and comes back. The cancels are sent as a client
that honours 503 sends them (again after ``Retry-After``), and a reader keeps
asking for a booking meanwhile. What must hold: while PostgreSQL is down every
answer is 503 with ``Retry-After`` (never a 500); every booking ends
CANCELLED, refunded once (wallet credited back, the gateway's order refunded in
full) and its slot free, within the step bound plus a minute of the part's
return; every invariant of ``support.invariants`` holds after.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import httpx
import pytest
from faults.conftest import assert_invariants

from stack.processes import ProcessStack

from support.cancels import (
    PRICE,
    SETTLE_BOUND,
    Paid,
    assert_refunded_once,
    cancel_until_answered,
    paid_bookings,
    read_until,
    until_settled,
)
from support.figures import Figures
from support.waiting import eventually


@pytest.fixture
async def sandbox(stack: ProcessStack) -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox gateway's merchant API: what the gateway itself says was paid and refunded."""
    key = stack.settings["BOOKING_SANDBOX_API_KEY"]
    async with httpx.AsyncClient(
        base_url=stack.url("sandbox"), headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        yield client


# A fault: given the bookings whose cancels are under way, take a part away and bring it
# back; when it went away, when it was about to come back, when it was back.
Fault = Callable[[list[Paid]], Awaitable[tuple[float, float, float]]]


async def _cancels_started(stack: ProcessStack, bookings: list[Paid]) -> int:
    """Wait until a cancel has started in its workflow; how many bookings are CANCELLED by then."""
    ids = [uuid.UUID(b.id) for b in bookings]
    conn = await asyncpg.connect(stack.engine_dsn)
    try:

        async def started() -> int:
            count: int = await conn.fetchval(
                "SELECT COUNT(*) FROM audit_log"
                " WHERE action = 'booking.cancel_requested' AND booking_id = ANY($1)",
                ids,
            )
            return count

        await eventually(started, within=60, every=0.05, what="a cancel under way")
        done: int = await conn.fetchval(
            "SELECT COUNT(*) FROM bookings WHERE id = ANY($1) AND status = 'CANCELLED'", ids
        )
        return done
    finally:
        await conn.close()


async def _cancel_through(
    stack: ProcessStack,
    gateway: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    figures: Figures,
    count: int,
    fault: Fault,
) -> tuple[float, float]:
    """Cancel ``count`` paid bookings at once through ``fault``, check the end; the outage."""
    async with figures.client(stack.url("api")) as api:
        bookings = await paid_bookings(api, gateway, count)
        figures.bookings = len(bookings)
        figures.counting = True
        stop_reading = asyncio.Event()
        reader = asyncio.create_task(read_until(api, bookings[0], stop_reading))
        cancels = [
            asyncio.create_task(cancel_until_answered(api, b, within=SETTLE_BOUND + 120))
            for b in bookings
        ]
        try:
            down, coming_back, up = await fault(bookings)
            answers = await asyncio.gather(*cancels)
            figures.settle_seconds = await until_settled(api, bookings, since=up)
        finally:
            stop_reading.set()
            for task in cancels:
                task.cancel()
            await asyncio.gather(reader, *cancels, return_exceptions=True)
            figures.counting = False
            figures.show()

        figures.assert_never_a_server_error_but_503()
        for answer in answers:
            body = answer.json()
            assert body["status"] == "CANCELLED", body
            assert body["refund"]["amount"] == {"amount": PRICE, "currency": "INR"}, body
        conn = await asyncpg.connect(stack.engine_dsn)
        try:
            await assert_refunded_once(conn, api, sandbox, bookings)
            await assert_invariants(conn)
        finally:
            await conn.close()
    return down, coming_back


def _postgres_away(stack: ProcessStack, figures: Figures, seconds: float) -> Fault:
    """Stop PostgreSQL once the cancels are under way, for ``seconds``, and start it again."""

    async def fault(bookings: list[Paid]) -> tuple[float, float, float]:
        assert stack.postgres is not None
        done = await _cancels_started(stack, bookings)
        # The outage meets cancels still in flight, not only ones yet to be sent.
        assert done < len(bookings), "every cancel finished before the outage"
        stopping = time.monotonic()
        await asyncio.to_thread(stack.postgres.stop)
        down = time.monotonic()
        await asyncio.sleep(seconds)  # the outage's length, on purpose
        coming_back = time.monotonic()
        await asyncio.to_thread(stack.postgres.start)
        up = time.monotonic()
        figures.outages.append(up - stopping)
        return down, coming_back, up

    return fault


@pytest.mark.timeout(SETTLE_BOUND + 240)
async def test_cancels_through_a_postgres_restart_all_end_refunded(
    stack: ProcessStack, gateway: httpx.AsyncClient, sandbox: httpx.AsyncClient
) -> None:
    """PostgreSQL restarted (seconds down) during 20 cancels: 503s then every booking refunded."""
    figures = Figures("PostgreSQL restarted during 20 cancels")
    down, back = await _cancel_through(
        stack, gateway, sandbox, figures, 20, _postgres_away(stack, figures, 3)
    )
    figures.assert_refused_with_retry_after(down, back)


@pytest.mark.timeout(SETTLE_BOUND + 300)
async def test_cancels_through_a_minute_without_postgres_all_end_refunded(
    stack: ProcessStack, gateway: httpx.AsyncClient, sandbox: httpx.AsyncClient
) -> None:
    """PostgreSQL stopped for a minute during 10 cancels: refunds ride it out, none twice."""
    figures = Figures("PostgreSQL stopped a minute during 10 cancels")
    down, back = await _cancel_through(
        stack, gateway, sandbox, figures, 10, _postgres_away(stack, figures, 60)
    )
    refused = figures.assert_refused_with_retry_after(down, back)
    # The reader alone asks twice a second: the whole minute was answered, with 503.
    assert len(refused) >= 60, len(refused)


@pytest.mark.timeout(SETTLE_BOUND + 240)
async def test_cancels_through_a_killed_worker_all_end_refunded(
    stack: ProcessStack, gateway: httpx.AsyncClient, sandbox: httpx.AsyncClient
) -> None:
    """The worker SIGKILLed during 20 cancels and started again: every booking refunded once."""
    figures = Figures("worker killed during 20 cancels")

    async def kill_the_worker(bookings: list[Paid]) -> tuple[float, float, float]:
        done = await _cancels_started(stack, bookings)
        assert done < len(bookings), "every cancel finished before the kill"
        killed = time.monotonic()
        assert stack.kill("worker") == -signal.SIGKILL
        figures.kills += 1
        await asyncio.sleep(3)  # no worker for a while, on purpose
        coming_back = time.monotonic()
        stack.spawn_worker("worker")
        up = time.monotonic()
        figures.outages.append(up - killed)
        return killed, coming_back, up

    await _cancel_through(stack, gateway, sandbox, figures, 20, kill_the_worker)
