"""Rentals: a resource booked by any free range, priced by its rate, overlaps refused by PostgreSQL.

A car rented by the day in Asia/Kolkata: open every day all day, closed on
one date, an hour kept free between rentals, two hours' notice, 90 days ahead.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from core.db import SessionFactory
from models.db import Booking, LedgerEntry

from support.auth import OPERATOR, bearer
from support.catalog import fund, make_slot

DAY = timedelta(days=1)
ACTIVE = ("HELD", "AWAITING_PAYMENT", "CONFIRMED")


async def make_car(
    api: httpx.AsyncClient, *, closed: str | None = None, buffer_minutes: int = 60
) -> dict[str, Any]:
    """A car by the day: ₹2,500.00 a started day, 1 to 14 days, open every day all day."""
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    response = await api.post(
        "/v1/resources",
        json={
            "name": "Car KA-01-AB-1234",
            "timezone": "Asia/Kolkata",
            "booking_mode": "range",
            "rate": {"per": "day", "price": {"amount": 250_000, "currency": "INR"}},
            "min_duration_minutes": 1440,
            "max_duration_minutes": 14 * 1440,
            "buffer_minutes": buffer_minutes,
            "min_notice_minutes": 120,
            "horizon_days": 90,
            "availability": {
                "weekly": [{"day": d, "start": "00:00", "end": "24:00"} for d in days],
                "exceptions": [{"date": closed}] if closed else [],
            },
        },
        headers=OPERATOR,
    )
    assert response.status_code == 201, response.text
    car: dict[str, Any] = response.json()
    return car


def at(days: int, hour: int = 10) -> datetime:
    """``days`` from today at ``hour``:00 UTC."""
    return (datetime.now(UTC) + timedelta(days=days)).replace(
        hour=hour, minute=0, second=0, microsecond=0
    )


async def rent(
    api: httpx.AsyncClient,
    customer: uuid.UUID,
    car: dict[str, Any],
    starts: datetime,
    ends: datetime,
    payment: dict[str, str] | None = None,
) -> httpx.Response:
    return await api.post(
        "/v1/bookings",
        json={
            "resource_id": car["id"],
            "starts_at": starts.isoformat(),
            "ends_at": ends.isoformat(),
            "payment": payment or {"method": "wallet"},
        },
        headers={**bearer(customer), "Idempotency-Key": str(uuid.uuid4())},
    )


async def test_a_range_resource_shows_and_changes_its_rules(api: httpx.AsyncClient) -> None:
    """Created with its rules, read back, patched as a whole; a bad patch names its field."""
    car = await make_car(api)
    patched = await api.patch(
        f"/v1/resources/{car['id']}",
        json={"rate": {"per": "day", "price": {"amount": 300_000, "currency": "INR"}}},
        headers=OPERATOR,
    )
    bad = await api.patch(
        f"/v1/resources/{car['id']}",
        json={"min_duration_minutes": 30 * 1440},
        headers=OPERATOR,
    )
    slots = await api.post(
        f"/v1/resources/{car['id']}/slots",
        json={
            "slots": [
                {
                    "starts_at": at(3).isoformat(),
                    "ends_at": at(4).isoformat(),
                    "price": {"amount": 1, "currency": "INR"},
                }
            ]
        },
        headers=OPERATOR,
    )
    missing_rules = await api.post(
        "/v1/resources", json={"name": "x", "booking_mode": "range"}, headers=OPERATOR
    )

    assert (car["booking_mode"], car["buffer_minutes"], car["horizon_days"]) == ("range", 60, 90)
    assert car["availability"]["weekly"][0] == {"day": "mon", "start": "00:00", "end": "24:00"}
    assert patched.status_code == 200, patched.text
    assert patched.json()["rate"]["price"]["amount"] == 300_000
    assert bad.status_code == 422
    assert "min_duration_minutes" in bad.json()["error"]["message"]
    assert slots.status_code == 422
    assert missing_rules.status_code == 422
    assert missing_rules.json()["error"]["message"].startswith("rate: required")


async def test_three_days_cost_three_day_rates_and_overlaps_are_refused_buffer_included(
    api: httpx.AsyncClient,
) -> None:
    """Days 3-6 confirmed at ₹7,500.00; the hour's buffer after it is kept free.

    Day 6 plus 30 minutes collides with the buffer; day 6 plus an hour fits.
    """
    car = await make_car(api)
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for customer in (first, second, third):
        await fund(api, customer, 2_000_000)

    booked = await rent(api, first, car, at(3), at(6))
    in_buffer = await rent(api, second, car, at(6) + timedelta(minutes=30), at(8))
    overlapping = await rent(api, second, car, at(1), at(4))
    after_buffer = await rent(api, third, car, at(6) + timedelta(hours=1), at(8))

    assert booked.status_code == 201, booked.text
    body = booked.json()
    assert (body["status"], body["slot_id"]) == ("CONFIRMED", None)
    assert body["amount"] == {"amount": 750_000, "currency": "INR"}
    assert in_buffer.status_code == overlapping.status_code == 409
    assert in_buffer.json()["error"]["code"] == "SLOT_UNAVAILABLE"
    assert after_buffer.status_code == 201, after_buffer.text
    # 47 hours started: two day rates.
    assert after_buffer.json()["amount"]["amount"] == 500_000


async def test_ranges_outside_the_rules_are_refused_with_the_rule_named(
    api: httpx.AsyncClient,
) -> None:
    """Too short, too long, too soon, too far, over a closed day: 422, each saying why."""
    closed = at(10).date().isoformat()
    car = await make_car(api, closed=closed)
    customer = uuid.uuid4()
    cases = {
        "at least 1 day": (at(3), at(3) + timedelta(hours=5)),
        "at most 14 days": (at(3), at(20)),
        "2 hours of notice": (datetime.now(UTC) + timedelta(minutes=30), at(2)),
        "at most 90 days ahead": (at(95), at(97)),
        "not open for the whole of this range": (at(9), at(12)),
    }

    answers = {
        words: await rent(api, customer, car, starts, ends)
        for words, (starts, ends) in cases.items()
    }

    for words, answer in answers.items():
        assert answer.status_code == 422, (words, answer.text)
        assert words in answer.json()["error"]["message"]


async def test_availability_offers_only_free_starts_and_slot_resources_their_free_slots(
    api: httpx.AsyncClient,
) -> None:
    """With days 3-5 taken (and an hour's buffer), no one-day start overlaps them."""
    car = await make_car(api)
    customer = uuid.uuid4()
    await fund(api, customer, 1_000_000)
    assert (await rent(api, customer, car, at(3), at(5))).status_code == 201
    window = {"from": at(2).isoformat(), "to": at(6).isoformat()}

    free = await api.get(
        f"/v1/resources/{car['id']}/availability",
        params={**window, "duration_minutes": 1440, "step_minutes": 60},
        headers=bearer(customer),
    )
    no_duration = await api.get(
        f"/v1/resources/{car['id']}/availability", params=window, headers=bearer(customer)
    )
    slot = await make_slot(api, starts_in=timedelta(days=2))
    slot_free = await api.get(
        f"/v1/resources/{slot['resource_id']}/availability", headers=bearer(customer)
    )

    assert free.status_code == 200, free.text
    starts = [datetime.fromisoformat(i["starts_at"]) for i in free.json()["items"]]
    assert starts
    buffer = timedelta(hours=1)
    assert all(s + DAY + buffer <= at(3) or s >= at(5) + buffer for s in starts)
    # A day from day 2, 10:00 would run (with its buffer) into day 3: the first is after it.
    assert starts[0] == at(5) + buffer
    assert slot_free.json()["items"] == [
        {
            "starts_at": slot["starts_at"],
            "ends_at": slot["ends_at"],
            "price": slot["price"],
            "slot_id": slot["id"],
            "remaining_capacity": 1,
        }
    ]
    assert free.json()["items"][0]["price"] == {"amount": 250_000, "currency": "INR"}
    assert no_duration.status_code == 422


@pytest.mark.contention
async def test_two_hundred_overlapping_rentals_race_and_one_wins_with_one_charge(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """200 customers ask for different ranges that all cover day 10: one booking, one debit."""
    car = await make_car(api, buffer_minutes=0)
    customers = [uuid.uuid4() for _ in range(200)]
    await asyncio.gather(*(fund(api, c, 5_000_000) for c in customers))
    ranges = [(at(10 - 1 - n % 5, n % 24), at(11 + n % 4, n % 24)) for n in range(200)]

    answers = await asyncio.gather(
        *(rent(api, c, car, s, e) for c, (s, e) in zip(customers, ranges, strict=True))
    )

    codes = sorted(a.status_code for a in answers)
    assert codes.count(201) == 1
    assert codes.count(409) == 199, codes
    async with sessions() as session:
        active = (
            await session.scalars(
                select(Booking.id).where(
                    Booking.resource_id == uuid.UUID(car["id"]), Booking.status.in_(ACTIVE)
                )
            )
        ).all()
        debits = (
            await session.scalars(
                select(LedgerEntry.id).where(
                    LedgerEntry.booking_id.in_(active), LedgerEntry.kind == "debit"
                )
            )
        ).all()
    assert len(active) == 1
    assert len(debits) == 1


async def test_a_rental_moves_to_a_new_range_and_pays_or_gets_back_the_difference(
    api: httpx.AsyncClient,
) -> None:
    """Three days moved to two: one day rate back to the wallet; into a taken range: 409."""
    car = await make_car(api)
    customer, other = uuid.uuid4(), uuid.uuid4()
    await fund(api, customer, 750_000)
    await fund(api, other, 500_000)
    booking = (await rent(api, customer, car, at(3), at(6))).json()
    assert (await rent(api, other, car, at(20), at(22))).status_code == 201

    moved = await api.post(
        f"/v1/bookings/{booking['id']}/reschedule",
        json={"starts_at": at(7).isoformat(), "ends_at": at(9).isoformat()},
        headers=bearer(customer),
    )
    taken = await api.post(
        f"/v1/bookings/{booking['id']}/reschedule",
        json={"starts_at": at(19).isoformat(), "ends_at": at(21).isoformat()},
        headers=bearer(customer),
    )
    wallet = (await api.get("/v1/wallets/me", headers=bearer(customer))).json()

    assert moved.status_code == 200, moved.text
    assert moved.json()["difference"] == {"amount": -250_000, "currency": "INR"}
    assert moved.json()["booking"]["starts_at"] == at(7).isoformat().replace("+00:00", "Z")
    assert taken.status_code == 409
    assert wallet["balances"] == [{"amount": 250_000, "currency": "INR"}]


async def test_random_ranges_never_overlap_and_availability_never_offers_a_taken_time(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """Property: whatever ranges are asked for, the active ones keep their buffers apart.

    And every start that availability offers afterwards is really free.
    """
    loop = asyncio.get_running_loop()

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=120)

    @settings(
        max_examples=12,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(
        st.lists(
            st.tuples(st.integers(1, 20 * 24), st.integers(24, 4 * 24)), min_size=2, max_size=7
        )
    )
    def property_holds(asks: list[tuple[int, int]]) -> None:
        run(_check_ranges(api, sessions, asks))

    await asyncio.to_thread(property_holds)


async def _check_ranges(
    api: httpx.AsyncClient, sessions: SessionFactory, asks: list[tuple[int, int]]
) -> None:
    car = await make_car(api, buffer_minutes=90)
    customer = uuid.uuid4()
    await fund(api, customer, 100_000_000)
    base = at(1, 0)
    for start_hours, length_hours in asks:
        starts = base + timedelta(hours=start_hours)
        answer = await rent(api, customer, car, starts, starts + timedelta(hours=length_hours))
        assert answer.status_code in (201, 409, 422), answer.text
    async with sessions() as session:
        held = (
            await session.execute(
                select(Booking.starts_at, Booking.blocked_until).where(
                    Booking.resource_id == uuid.UUID(car["id"]), Booking.status.in_(ACTIVE)
                )
            )
        ).all()
    spans = sorted((row.starts_at, row.blocked_until) for row in held)
    for (_, until), (next_start, _) in itertools.pairwise(spans):
        assert until <= next_start, spans
    offered = await api.get(
        f"/v1/resources/{car['id']}/availability",
        params={
            "from": base.isoformat(),
            "to": (base + timedelta(days=22)).isoformat(),
            "duration_minutes": 1440,
            "step_minutes": 60,
        },
        headers=OPERATOR,
    )
    assert offered.status_code == 200, offered.text
    for item in offered.json()["items"]:
        start = datetime.fromisoformat(item["starts_at"])
        until = start + DAY + timedelta(minutes=90)
        assert all(until <= s or start >= u for s, u in spans), (start, spans)


async def test_availability_reads_the_active_bookings_through_the_overlap_index(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """The busy spans come from the overlap constraint's partial GiST index, never a table scan.

    The statement availability runs is captured and explained with sequential
    scans priced out: it must be able to use the index at all (its conditions
    must imply the index's predicate), or a resource among 100,000 bookings
    costs a 25 ms scan per request.
    """
    car = await make_car(api)
    captured: list[tuple[str, Any]] = []

    def grab(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        if "resource_span &&" in statement:
            captured.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", grab)  # the API has its own engine
    try:
        listed = await api.get(
            f"/v1/resources/{car['id']}/availability",
            params={
                "from": at(3).isoformat(),
                "to": at(5).isoformat(),
                "duration_minutes": 1440,
            },
            headers=OPERATOR,
        )
    finally:
        event.remove(Engine, "before_cursor_execute", grab)
    [(statement, parameters)] = captured
    async with sessions() as session, session.begin():
        connection = await session.connection()
        await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = (await connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)).scalars()
        text = "\n".join(plan)

    assert listed.status_code == 200, listed.text
    assert "bookings_no_overlap_on_exclusive_resource" in text, text
