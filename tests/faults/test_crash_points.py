"""SIGKILL the worker at each side-effect boundary: every booking still ends right, once.

A worker armed with a crash point (``core.crashpoints``) dies right after a
commit or a gateway call, before Temporal hears of the result. A clean worker
takes over; the step runs again and its idempotency key makes the second run
write nothing. What must hold afterwards: the booking's end state, at most one
debit, capture and refund each, and every invariant of ``support.invariants``.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
from faults.conftest import Workers

from core.crashpoints import CrashPoint

from support.auth import bearer
from support.catalog import book, book_gateway, fund, make_slot
from support.waiting import eventually

PRICE = 5_000
# Far enough ahead that a customer's cancel refunds everything (the default policy).
AHEAD = timedelta(days=5)


async def _booking(api: httpx.AsyncClient, booking_id: str, customer: uuid.UUID) -> dict[str, Any]:
    response = await api.get(f"/v1/bookings/{booking_id}", headers=bearer(customer))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _until_status(
    api: httpx.AsyncClient, booking_id: str, customer: uuid.UUID, status: str
) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        booking = await _booking(api, booking_id, customer)
        return booking if booking["status"] == status else None

    found: dict[str, Any] = await eventually(reached, what=f"booking {booking_id} {status}")
    return found


async def _until_meeting(
    api: httpx.AsyncClient, booking_id: str, customer: uuid.UUID
) -> dict[str, Any]:
    async def ready() -> dict[str, Any] | None:
        booking = await _booking(api, booking_id, customer)
        return booking if (booking.get("meeting") or {}).get("status") == "READY" else None

    found: dict[str, Any] = await eventually(ready, what=f"the meeting link of {booking_id}")
    return found


async def _money(db: asyncpg.Connection, booking_id: str) -> dict[str, int]:
    """How many ledger and gateway rows of each kind the booking has."""
    rows = await db.fetch(
        """
        SELECT 'wallet_' || kind AS kind, COUNT(*) AS n FROM ledger_entries
         WHERE booking_id = $1 GROUP BY kind
        UNION ALL
        SELECT 'gateway_' || kind, COUNT(*) FROM gateway_transactions
         WHERE booking_id = $1 GROUP BY kind
        """,
        uuid.UUID(booking_id),
    )
    return {row["kind"]: row["n"] for row in rows}


async def _confirmed_wallet_booking(api: httpx.AsyncClient) -> tuple[str, uuid.UUID]:
    customer = uuid.uuid4()
    slot = await make_slot(api, price=PRICE, starts_in=AHEAD)
    await fund(api, customer, 3 * PRICE)
    created = await book(api, customer, slot["id"])
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "CONFIRMED"
    return created.json()["id"], customer


async def _paid_gateway_booking(
    api: httpx.AsyncClient, gateway: httpx.AsyncClient
) -> tuple[str, uuid.UUID, str]:
    customer = uuid.uuid4()
    slot = await make_slot(api, price=PRICE, starts_in=AHEAD)
    created = await book_gateway(api, customer, slot["id"])
    assert created.status_code == 201, created.text
    order = created.json()["payment"]["order_id"]
    paid = await gateway.post(f"/v1/orders/{order}/pay", json={"outcome": "success"})
    assert paid.status_code == 200, paid.text
    return created.json()["id"], customer, order


async def test_killed_after_the_hold_commits(
    api: httpx.AsyncClient, db: asyncpg.Connection, workers: Workers
) -> None:
    """The hold is a local activity: the next worker replays the task and holds once."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=PRICE, starts_in=AHEAD)
    await fund(api, customer, PRICE)
    workers.arm(CrashPoint.HOLD_COMMITTED)
    key = str(uuid.uuid4())
    # The call waits while its worker dies and the next one takes over.
    call = asyncio.create_task(book(api, customer, slot["id"], key=key))
    assert await workers.died() == -signal.SIGKILL
    first = await call
    # The caller may have heard 503 while the worker was gone; the same key tells the end.
    booking = first.json() if first.status_code == 201 else None
    if booking is None:
        assert first.status_code == 503, first.text

        async def answered() -> dict[str, Any] | None:
            again = await book(api, customer, slot["id"], key=key)
            return again.json() if again.status_code == 201 else None

        booking = await eventually(answered, what="the same key answered")
    done = await _until_meeting(api, booking["id"], customer)

    assert done["status"] == "CONFIRMED"
    assert done["amount"]["amount"] == PRICE
    assert await _money(db, booking["id"]) == {"wallet_debit": 1}
    remaining = (await api.get(f"/v1/slots/{slot['id']}", headers=bearer(customer))).json()
    assert remaining["remaining_capacity"] == 0


async def test_killed_after_the_debit_commits(
    api: httpx.AsyncClient, db: asyncpg.Connection, workers: Workers
) -> None:
    """The debit is keyed: the replayed step finds it and the customer pays once."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=PRICE, starts_in=AHEAD)
    await fund(api, customer, 2 * PRICE)
    workers.arm(CrashPoint.DEBIT_COMMITTED)
    key = str(uuid.uuid4())
    # The call waits while its worker dies and the next one takes over.
    call = asyncio.create_task(book(api, customer, slot["id"], key=key))
    assert await workers.died() == -signal.SIGKILL
    first = await call

    async def answered() -> dict[str, Any] | None:
        again = await book(api, customer, slot["id"], key=key)
        return again.json() if again.status_code == 201 else None

    booking = first.json() if first.status_code == 201 else await eventually(answered)
    done = await _until_meeting(api, booking["id"], customer)

    assert done["status"] == "CONFIRMED"
    assert await _money(db, booking["id"]) == {"wallet_debit": 1}
    wallet = (await api.get("/v1/wallets/me", headers=bearer(customer))).json()
    assert wallet["balances"] == [{"amount": PRICE, "currency": "INR"}]


async def test_killed_after_a_gateway_capture_is_recorded(
    api: httpx.AsyncClient, gateway: httpx.AsyncClient, db: asyncpg.Connection, workers: Workers
) -> None:
    """The confirmation runs again on the next worker and records the capture once."""
    workers.arm(CrashPoint.CAPTURE_RECORDED)
    booking_id, customer, _ = await _paid_gateway_booking(api, gateway)
    assert await workers.died() == -signal.SIGKILL
    # Past the crash the saga goes on: the meeting link comes after the confirmation.
    done = await _until_meeting(api, booking_id, customer)

    assert done["status"] == "CONFIRMED"
    assert done["payment"]["status"] == "CAPTURED"
    assert await _money(db, booking_id) == {"gateway_capture": 1}


async def _cancel_through_a_crash(
    api: httpx.AsyncClient,
    workers: Workers,
    point: CrashPoint,
    booking_id: str,
    customer: uuid.UUID,
) -> tuple[httpx.Response, dict[str, Any]]:
    """Cancel while the worker dies at ``point``; the answer, and the booking once CANCELLED."""
    workers.arm(point)
    call = asyncio.create_task(
        api.post(f"/v1/bookings/{booking_id}/cancel", json={}, headers=bearer(customer))
    )
    assert await workers.died() == -signal.SIGKILL
    cancel = await call
    assert cancel.status_code == 200, cancel.text
    return cancel, await _until_status(api, booking_id, customer, "CANCELLED")


async def test_killed_inside_a_wallet_refund(
    api: httpx.AsyncClient, db: asyncpg.Connection, workers: Workers
) -> None:
    """The cancel's refund committed, then the worker died: retried, refunded once, CANCELLED."""
    booking_id, customer = await _confirmed_wallet_booking(api)
    cancel, done = await _cancel_through_a_crash(
        api, workers, CrashPoint.WALLET_REFUND_COMMITTED, booking_id, customer
    )

    assert await _money(db, booking_id) == {"wallet_debit": 1, "wallet_refund": 1}
    assert cancel.json()["refund"]["amount"] == {"amount": PRICE, "currency": "INR"}
    assert done["refunds"][0]["amount"]["amount"] == PRICE
    wallet = (await api.get("/v1/wallets/me", headers=bearer(customer))).json()
    assert wallet["balances"] == [{"amount": 3 * PRICE, "currency": "INR"}]


async def test_killed_after_the_gateway_refunded(
    api: httpx.AsyncClient, gateway: httpx.AsyncClient, db: asyncpg.Connection, workers: Workers
) -> None:
    """The gateway refunded, the worker died before recording it: the retry reuses the key."""
    booking_id, customer, _ = await _paid_gateway_booking(api, gateway)
    await _until_status(api, booking_id, customer, "CONFIRMED")
    _, done = await _cancel_through_a_crash(
        api, workers, CrashPoint.GATEWAY_REFUND_SENT, booking_id, customer
    )

    assert await _money(db, booking_id) == {"gateway_capture": 1, "gateway_refund": 1}

    async def processed() -> bool:
        booking = await _booking(api, booking_id, customer)
        return booking["refunds"][0]["status"] == "PROCESSED"

    await eventually(processed, what="the refund recorded as processed")
    assert done["refunds"][0]["amount"]["amount"] == PRICE


async def test_killed_inside_a_reschedule(
    api: httpx.AsyncClient, db: asyncpg.Connection, workers: Workers
) -> None:
    """The move committed (with its extra debit), the worker died: one move, one extra debit."""
    booking_id, customer = await _confirmed_wallet_booking(api)
    dearer = await make_slot(api, price=PRICE + 2_000, starts_in=AHEAD)
    workers.arm(CrashPoint.MOVE_COMMITTED)
    call = asyncio.create_task(
        api.post(
            f"/v1/bookings/{booking_id}/reschedule",
            json={"slot_id": dearer["id"]},
            headers=bearer(customer),
        )
    )
    assert await workers.died() == -signal.SIGKILL
    moved = await call
    assert moved.status_code == 200, moved.text

    async def on_the_new_slot() -> bool:
        booking = await _booking(api, booking_id, customer)
        return booking["slot_id"] == dearer["id"] and booking["meeting"]["status"] == "READY"

    await eventually(on_the_new_slot, what="the booking on its new slot")
    assert await _money(db, booking_id) == {"wallet_debit": 2}
    wallet = (await api.get("/v1/wallets/me", headers=bearer(customer))).json()
    assert wallet["balances"] == [{"amount": 3 * PRICE - PRICE - 2_000, "currency": "INR"}]
