"""Paid bookings on a process stack, cancelled through a fault, and what must hold once it is over.

Half the bookings are paid from the wallet, half through the sandbox gateway's
checkout. A cancel is sent the way a client that honours 503 sends it: again
after its ``Retry-After``, until it is answered. Settled means, for every
booking: CANCELLED, the payment REFUNDED with every refund PROCESSED, the slot
free again; then exactly one refund each, the wallet back to what it held, the
gateway's order refunded in full and no more.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from models.payloads.common import BookingPolicy

from support.auth import OPERATOR, bearer
from support.catalog import book, fund, make_slot
from support.waiting import eventually

PRICE = 5_000
# Far enough ahead that a cancel refunds everything (the default refund policy).
AHEAD = timedelta(days=5)
# How long a must-happen step (a refund, a release) is retried in line.
STEP_BOUND = BookingPolicy().step_bound_seconds
# The bound a test gives the engine to settle, from the end of a fault.
SETTLE_BOUND = STEP_BOUND + 60


@dataclass(frozen=True)
class Paid:
    """A CONFIRMED booking: its customer, its slot, and its sandbox order if paid by gateway."""

    id: str
    customer: uuid.UUID
    slot_id: str
    order_id: str | None = None
    email: str | None = None


async def paid_bookings(
    api: httpx.AsyncClient, gateway: httpx.AsyncClient, count: int, *, wallet: bool = True
) -> list[Paid]:
    """``count`` CONFIRMED bookings with their meeting link, alternately wallet and gateway."""
    gate = asyncio.Semaphore(4)

    async def one(n: int) -> Paid:
        async with gate:
            customer = uuid.uuid4()
            slot = await make_slot(api, price=PRICE, starts_in=AHEAD)
            email = f"{customer}@example.com"
            contact = {"email": email, "name": "Asha"}
            if wallet and n % 2 == 0:
                await fund(api, customer, PRICE)
                created = await book(api, customer, slot["id"], contact=contact)
                assert created.status_code == 201, created.text
                assert created.json()["status"] == "CONFIRMED", created.text
                return Paid(created.json()["id"], customer, slot["id"], email=email)
            created = await api.post(
                "/v1/bookings",
                json={
                    "slot_id": slot["id"],
                    "payment": {"method": "gateway", "provider": "sandbox"},
                    "contact": contact,
                },
                headers={**bearer(customer), "Idempotency-Key": str(uuid.uuid4())},
            )
            assert created.status_code == 201, created.text
            order = created.json()["payment"]["order_id"]
            paid = await gateway.post(f"/v1/orders/{order}/pay", json={"outcome": "success"})
            assert paid.status_code == 200, paid.text
            return Paid(created.json()["id"], customer, slot["id"], order, email)

    bookings = list(await asyncio.gather(*(one(n) for n in range(count))))

    async def all_ready() -> bool:
        views = await asyncio.gather(*(view(api, b) for b in bookings))
        return all(
            v["status"] == "CONFIRMED" and (v.get("meeting") or {}).get("status") == "READY"
            for v in views
        )

    await eventually(all_ready, within=120, every=1, what="every booking confirmed")
    return bookings


async def view(api: httpx.AsyncClient, booking: Paid) -> dict[str, Any]:
    """The booking as its operator reads it."""
    response = await api.get(f"/v1/bookings/{booking.id}", headers=OPERATOR)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def cancel_until_answered(
    api: httpx.AsyncClient, booking: Paid, *, within: float
) -> httpx.Response:
    """Cancel as the customer; a 503 is sent again after its ``Retry-After``, until 200."""
    deadline = time.monotonic() + within
    while True:
        answer = await api.post(
            f"/v1/bookings/{booking.id}/cancel", json={}, headers=bearer(booking.customer)
        )
        if answer.status_code == 200:
            return answer
        assert answer.status_code == 503, answer.text
        retry_after = answer.headers.get("Retry-After")
        assert retry_after, f"503 without Retry-After: {answer.text}"
        assert time.monotonic() < deadline, f"cancel of {booking.id} unanswered: {answer.text}"
        await asyncio.sleep(min(float(retry_after), 5.0))


async def read_until(api: httpx.AsyncClient, booking: Paid, stop: asyncio.Event) -> None:
    """Read ``booking`` as its customer twice a second until ``stop`` (the answers are kept)."""
    while not stop.is_set():
        await api.get(f"/v1/bookings/{booking.id}", headers=bearer(booking.customer))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def _settled(api: httpx.AsyncClient, booking: Paid) -> str | None:
    """What is still missing for ``booking`` (None: cancelled, refunded, slot released)."""
    try:
        current = await view(api, booking)
    except AssertionError as exc:  # a read refused while a part restarts
        return str(exc)[:200]
    refunds = current.get("refunds") or []
    if current["status"] != "CANCELLED":
        return f"status {current['status']}"
    if current["payment"]["status"] != "REFUNDED":
        return f"payment {current['payment']['status']}"
    if not refunds or any(r["status"] != "PROCESSED" for r in refunds):
        return f"refunds {refunds}"
    slot = await api.get(f"/v1/slots/{booking.slot_id}", headers=OPERATOR)
    if slot.status_code != 200 or slot.json()["remaining_capacity"] != 1:
        return f"slot {slot.text[:200]}"
    return None


async def until_settled(api: httpx.AsyncClient, bookings: list[Paid], since: float) -> float:
    """Wait until every booking is settled, at most SETTLE_BOUND after ``since``; the seconds."""
    deadline = since + SETTLE_BOUND
    while True:
        missing = await asyncio.gather(*(_settled(api, b) for b in bookings))
        if not any(missing):
            return time.monotonic() - since
        left = {b.id: m for b, m in zip(bookings, missing, strict=True) if m}
        assert time.monotonic() < deadline, f"not settled within {SETTLE_BOUND:.0f} s: {left}"
        await asyncio.sleep(1)


async def rows_by_kind(db: asyncpg.Connection, booking_id: str) -> dict[str, int]:
    """The booking's ledger, gateway and notification rows, counted by kind."""
    rows = await db.fetch(
        """
        SELECT 'wallet_' || kind AS kind, COUNT(*) AS n FROM ledger_entries
         WHERE booking_id = $1 GROUP BY kind
        UNION ALL
        SELECT 'gateway_' || kind, COUNT(*) FROM gateway_transactions
         WHERE booking_id = $1 GROUP BY kind
        UNION ALL
        SELECT 'mail_' || kind, COUNT(*) FROM notifications
         WHERE booking_id = $1 GROUP BY kind
        """,
        uuid.UUID(booking_id),
    )
    return {row["kind"]: row["n"] for row in rows}


async def assert_refunded_once(
    db: asyncpg.Connection, api: httpx.AsyncClient, sandbox: httpx.AsyncClient, bookings: list[Paid]
) -> None:
    """One payment and one refund each; wallets back to what they held, orders refunded in full."""
    for booking in bookings:
        rows = await rows_by_kind(db, booking.id)
        money = {kind: n for kind, n in rows.items() if not kind.startswith("mail_")}
        if booking.order_id is None:
            assert money == {"wallet_debit": 1, "wallet_refund": 1}, (booking.id, money)
            wallet = await api.get("/v1/wallets/me", headers=bearer(booking.customer))
            assert wallet.json()["balances"] == [{"amount": PRICE, "currency": "INR"}]
        else:
            assert money == {"gateway_capture": 1, "gateway_refund": 1}, (booking.id, money)
            order = (await sandbox.get(f"/v1/orders/{booking.order_id}")).json()
            assert (order["amount_paid"], order["amount_refunded"]) == (PRICE, PRICE), order
