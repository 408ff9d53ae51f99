"""Rescheduling through the API: atomic moves, price differences, clear refusals."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from temporalio.client import Client

from stack.mailsink import MailSink
from workflows.booking import BookingWorkflow

from support.auth import OPERATOR, bearer
from support.catalog import book, fund, make_slot
from support.mail import text_of
from support.workflows import settled, until_state


async def reschedule(
    api: httpx.AsyncClient, booking_id: str, slot_id: str, customer: uuid.UUID
) -> httpx.Response:
    """POST the reschedule call as the customer."""
    return await api.post(
        f"/v1/bookings/{booking_id}/reschedule", json={"slot_id": slot_id}, headers=bearer(customer)
    )


async def _slot(api: httpx.AsyncClient, slot_id: str) -> dict[str, int]:
    slot: dict[str, int] = (await api.get(f"/v1/slots/{slot_id}", headers=OPERATOR)).json()
    return slot


async def _balance(api: httpx.AsyncClient, customer: uuid.UUID) -> int:
    wallet = (await api.get("/v1/wallets/me", headers=bearer(customer))).json()
    return int(wallet["balances"][0]["amount"])


async def test_move_to_a_cheaper_slot_refunds_the_difference(api: httpx.AsyncClient) -> None:
    """The booking moves, the old slot is free, the new one taken, the difference refunded."""
    customer = uuid.uuid4()
    old, new = await make_slot(api, price=9_000), await make_slot(api, price=6_500)
    await fund(api, customer, 9_000)
    booking = (await book(api, customer, old["id"])).json()

    response = await reschedule(api, booking["id"], new["id"], customer)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["booking"]["slot_id"] == new["id"]
    assert body["booking"]["amount"] == {"amount": 6_500, "currency": "INR"}
    assert body["difference"] == {"amount": -2_500, "currency": "INR"}
    assert body["refund"]["amount"] == {"amount": 2_500, "currency": "INR"}
    assert (await _slot(api, old["id"]))["remaining_capacity"] == 1
    assert (await _slot(api, new["id"]))["remaining_capacity"] == 0
    assert await _balance(api, customer) == 2_500
    assert "booking.rescheduled" in [e["type"] for e in body["booking"]["timeline"]]
    # The meeting follows the booking (a Jitsi room belongs to the booking).
    assert body["booking"]["meeting"]["status"] == "READY"
    assert body["booking"]["meeting"]["url"].startswith("https://meet.jit.si/booking-")


async def test_dearer_slot_is_paid_from_the_wallet_or_refused(api: httpx.AsyncClient) -> None:
    """Dearer: the difference comes from the wallet; short of it, 402 and nothing moves."""
    rich, poor = uuid.uuid4(), uuid.uuid4()
    for customer, funds in ((rich, 10_000), (poor, 4_000)):
        old, new = await make_slot(api, price=4_000), await make_slot(api, price=7_000)
        await fund(api, customer, funds)
        booking = (await book(api, customer, old["id"])).json()
        response = await reschedule(api, booking["id"], new["id"], customer)
        if customer == rich:
            assert response.status_code == 200, response.text
            assert response.json()["difference"] == {"amount": 3_000, "currency": "INR"}
            assert await _balance(api, customer) == 3_000
        else:
            assert response.status_code == 402
            assert response.json()["error"]["code"] == "INSUFFICIENT_FUNDS"
            unchanged = (
                await api.get(f"/v1/bookings/{booking['id']}", headers=bearer(poor))
            ).json()
            assert unchanged["slot_id"] == old["id"]
            assert (await _slot(api, new["id"]))["remaining_capacity"] == 1
            assert await _balance(api, customer) == 0


async def test_taken_slot_is_409_and_the_booking_is_unchanged(api: httpx.AsyncClient) -> None:
    """Moving onto a full slot answers SLOT_UNAVAILABLE; the customer keeps the old slot."""
    first, second = uuid.uuid4(), uuid.uuid4()
    mine, taken = await make_slot(api, price=1_000), await make_slot(api, price=1_000)
    await fund(api, first, 1_000)
    await fund(api, second, 1_000)
    booking = (await book(api, first, mine["id"])).json()
    assert (await book(api, second, taken["id"])).status_code == 201

    response = await reschedule(api, booking["id"], taken["id"], first)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "SLOT_UNAVAILABLE"
    still = (await api.get(f"/v1/bookings/{booking['id']}", headers=bearer(first))).json()
    assert (still["slot_id"], still["status"]) == (mine["id"], "CONFIRMED")
    assert (await _slot(api, mine["id"]))["remaining_capacity"] == 0


async def test_same_other_currency_or_past_slot_is_a_clear_4xx(api: httpx.AsyncClient) -> None:
    """The same slot (422), a slot in another currency (422), a started slot (409): no change."""
    customer = uuid.uuid4()
    mine = await make_slot(api, price=1_000)
    dollars = await make_slot(api, price=1_000, currency="USD")
    started = await make_slot(api, price=1_000, starts_in=timedelta(seconds=-30))
    await fund(api, customer, 1_000)
    booking = (await book(api, customer, mine["id"])).json()

    same = await reschedule(api, booking["id"], mine["id"], customer)
    other = await reschedule(api, booking["id"], dollars["id"], customer)
    past = await reschedule(api, booking["id"], started["id"], customer)

    assert (same.status_code, same.json()["error"]["code"]) == (422, "VALIDATION_ERROR")
    assert (other.status_code, other.json()["error"]["code"]) == (422, "VALIDATION_ERROR")
    assert "USD" in other.json()["error"]["message"]
    assert (past.status_code, past.json()["error"]["code"]) == (409, "SLOT_UNAVAILABLE")
    still = (await api.get(f"/v1/bookings/{booking['id']}", headers=bearer(customer))).json()
    assert (still["slot_id"], still["amount"]["amount"]) == (mine["id"], 1_000)
    assert await _balance(api, customer) == 0


async def test_failed_booking_cannot_be_moved(api: httpx.AsyncClient) -> None:
    """Only CONFIRMED bookings move: a FAILED one is 409 INVALID_STATE."""
    customer = uuid.uuid4()
    slot, other = await make_slot(api, price=500), await make_slot(api, price=500)
    assert (await book(api, customer, slot["id"])).status_code == 402
    booking_id = (await api.get("/v1/bookings", headers=bearer(customer))).json()["items"][0]["id"]

    response = await reschedule(api, booking_id, other["id"], customer)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "INVALID_STATE"


async def test_moving_back_and_forth_charges_and_mails_every_move(
    api: httpx.AsyncClient, mail_sink: MailSink, temporal: Client
) -> None:
    """A to dearer B, back, and to B again: every move moves money and sends its own mail.

    A repeated pair of slots reuses no idempotency key.
    """
    customer = uuid.uuid4()
    cheap, dear = await make_slot(api, price=5_000), await make_slot(api, price=7_000)
    await fund(api, customer, 20_000)
    booking = (
        await book(api, customer, cheap["id"], contact={"email": "moves@example.com"})
    ).json()
    balances = []
    for target in (dear, cheap, dear):
        moved = await reschedule(api, booking["id"], target["id"], customer)
        assert moved.status_code == 200, moved.text
        balances.append(await _balance(api, customer))

    assert balances == [13_000, 15_000, 13_000]
    # Each move's meeting link and mail follow its answer: wait until the workflow is idle.
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    await until_state(handle, settled("CONFIRMED"))
    subjects = [m["Subject"] for m in mail_sink.messages() if booking["id"] in text_of(m)]
    assert subjects.count("Your booking was moved") == 3
