"""Mails a customer trusts: true refund words, names they know, both times of a move, their zone.

Read from the SMTP sink after the real notification path; invites parsed with icalendar.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client

from integrations.mail_content import refund_words
from models.domain import RefundStatus
from models.payloads.common import RefundInfo
from stack.mailsink import MailSink
from workflows.booking import BookingWorkflow

from support.auth import OPERATOR, bearer
from support.catalog import book, fund
from support.mail import invite_of, text_of
from support.workflows import settled, until_state


@pytest.mark.parametrize(
    ("status", "method", "sentence"),
    [
        (RefundStatus.PROCESSED, "wallet", "₹500.00 was refunded to your wallet"),
        (
            RefundStatus.PENDING,
            "stripe",
            "₹500.00 is on its way to the card or account you paid with through Stripe",
        ),
        (
            RefundStatus.OWED,
            "wallet",
            "₹500.00 is owed to you; we will refund it to your wallet and write when it is done",
        ),
    ],
)
def test_each_refund_state_has_its_own_true_sentence(
    status: RefundStatus, method: str, sentence: str
) -> None:
    """PROCESSED, PENDING at the gateway and OWED each read as what happened."""
    words = refund_words(RefundInfo(amount=50_000, currency="INR", method=method, status=status))

    assert f"{words.amount} {words.words}".startswith(sentence)


async def _slots(api: httpx.AsyncClient, count: int = 2) -> list[dict[str, Any]]:
    resource = await api.post(
        "/v1/resources", json={"name": "Dr. Rao", "timezone": "Asia/Kolkata"}, headers=OPERATOR
    )
    starts = (datetime.now(UTC) + timedelta(days=3)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    slots = await api.post(
        f"/v1/resources/{resource.json()['id']}/slots",
        json={
            "slots": [
                {
                    "starts_at": (starts + timedelta(hours=2 * i)).isoformat(),
                    "ends_at": (starts + timedelta(hours=2 * i, minutes=30)).isoformat(),
                    "price": {"amount": 50_000, "currency": "INR"},
                }
                for i in range(count)
            ]
        },
        headers=OPERATOR,
    )
    items: list[dict[str, Any]] = slots.json()["items"]
    return items


async def test_a_move_tells_old_and_new_time_in_the_customers_zone_and_invites_them(
    api: httpx.AsyncClient, temporal: Client, mail_sink: MailSink
) -> None:
    """Berlin customer, Kolkata resource: 10:00 CET beside 14:30 IST; moved from 10:00 to 12:00.

    The invite's ATTENDEE is named and asked to answer; its SUMMARY names the booking.
    """
    customer, email = uuid.uuid4(), f"{uuid.uuid4().hex[:8]}@example.com"
    first, second = await _slots(api)
    await fund(api, customer, 50_000)
    contact = {"email": email, "name": "Asha", "timezone": "Europe/Berlin"}
    booking = (await book(api, customer, first["id"], contact=contact)).json()
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    await until_state(handle, settled("CONFIRMED"))
    await api.post(
        f"/v1/bookings/{booking['id']}/reschedule",
        json={"slot_id": second["id"]},
        headers=bearer(customer),
    )
    await until_state(handle, settled("CONFIRMED"))

    confirmed, moved = [m for m in mail_sink.messages() if m["To"] == email]
    calendar = invite_of(moved)
    assert calendar is not None
    (event,) = calendar.walk("VEVENT")
    attendee = event["ATTENDEE"]

    assert "10:00 to 10:30 CET (UTC+01:00), your time" in text_of(confirmed)
    assert "14:30 to 15:00 IST (UTC+05:30) at Dr. Rao" in text_of(confirmed)
    assert "moved from " in text_of(moved)
    assert "10:00 to 10:30 CET" in text_of(moved)
    assert "12:00 to 12:30 CET" in text_of(moved)
    assert str(attendee) == f"mailto:{email}"
    assert attendee.params["CN"] == "Asha"
    assert attendee.params["RSVP"] == "TRUE"
    assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
    assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
    assert str(event["SUMMARY"]) == "Dr. Rao booking"
    assert event["SEQUENCE"] == 1


async def test_a_gateway_booking_speaks_the_gateways_name_and_an_unpaid_one_took_nothing(
    api: httpx.AsyncClient,
    temporal: Client,
    mail_sink: MailSink,
    sandbox: httpx.AsyncClient,
    sandbox_app: FastAPI,
) -> None:
    """Paid "with Sandbox gateway", not "with sandbox"; cancelled before paying: NOT_TAKEN.

    The unpaid cancellation says nothing was charged rather than citing the policy.
    """
    customer = uuid.uuid4()
    paid_mail, unpaid_mail = (f"{uuid.uuid4().hex[:8]}@example.com" for _ in range(2))
    first, second = await _slots(api)
    answers = []
    for slot, email in ((first, paid_mail), (second, unpaid_mail)):
        response = await api.post(
            "/v1/bookings",
            json={
                "slot_id": slot["id"],
                "payment": {"method": "gateway", "provider": "sandbox"},
                "contact": {"email": email},
            },
            headers={**bearer(customer), "Idempotency-Key": str(uuid.uuid4())},
        )
        answers.append(response.json())
    paid, unpaid = answers
    await sandbox.post(f"/v1/orders/{paid['payment']['order_id']}/pay", json={"outcome": "success"})
    await sandbox_app.state.sandbox.drain()
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{paid['id']}")
    await until_state(handle, settled("CONFIRMED"))
    await api.post(f"/v1/bookings/{unpaid['id']}/cancel", headers=bearer(customer))
    unpaid_view = await api.get(f"/v1/bookings/{unpaid['id']}", headers=bearer(customer))

    (confirmation,) = [m for m in mail_sink.messages() if m["To"] == paid_mail]
    (cancellation,) = [m for m in mail_sink.messages() if m["To"] == unpaid_mail]

    assert "Paid:  ₹500.00 with Sandbox gateway" in text_of(confirmation)
    assert "with sandbox" not in text_of(confirmation)
    assert unpaid_view.json()["payment"]["status"] == "NOT_TAKEN"
    assert "Nothing was charged, so there is nothing to refund." in text_of(cancellation)
    assert "cancellation policy" not in text_of(cancellation)


async def test_refusals_read_as_words(api: httpx.AsyncClient) -> None:
    """A provider not configured lists the choices in words; an unknown zone is 422."""
    customer = uuid.uuid4()
    (slot,) = await _slots(api, 1)

    provider = await api.post(
        "/v1/bookings",
        json={"slot_id": slot["id"], "payment": {"method": "gateway", "provider": "stripe"}},
        headers={**bearer(customer), "Idempotency-Key": str(uuid.uuid4())},
    )
    zone = await book(api, customer, slot["id"], contact={"timezone": "Mars/Olympus"})

    assert provider.status_code == 422
    assert provider.json()["error"]["message"] == "payment.provider: must be one of: sandbox"
    assert zone.status_code == 422
    assert "contact.timezone" in zone.json()["error"]["message"]


async def test_an_overlapping_rental_is_refused_as_an_overlap(api: httpx.AsyncClient) -> None:
    """A range that overlaps a confirmed one: 409 SLOT_UNAVAILABLE, "overlaps another booking"."""
    car = await api.post(
        "/v1/resources",
        json={
            "name": "Car",
            "booking_mode": "range",
            "rate": {"per": "hour", "price": {"amount": 10_000, "currency": "INR"}},
            "min_duration_minutes": 60,
            "max_duration_minutes": 600,
            "availability": {
                "weekly": [
                    {"day": d, "start": "00:00", "end": "24:00"}
                    for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
                ]
            },
        },
        headers=OPERATOR,
    )
    assert car.status_code == 201, car.text
    starts = (datetime.now(UTC) + timedelta(days=5)).replace(minute=0, second=0, microsecond=0)
    answers = []
    for offset in (0, 1):
        customer = uuid.uuid4()
        await fund(api, customer, 100_000)
        answers.append(
            await api.post(
                "/v1/bookings",
                json={
                    "resource_id": car.json()["id"],
                    "starts_at": (starts + timedelta(hours=offset)).isoformat(),
                    "ends_at": (starts + timedelta(hours=offset + 2)).isoformat(),
                    "payment": {"method": "wallet"},
                },
                headers={**bearer(customer), "Idempotency-Key": str(uuid.uuid4())},
            )
        )
    first, second = answers

    assert first.status_code == 201, first.text
    assert second.status_code == 409
    assert second.json()["error"] == {
        **second.json()["error"],
        "code": "SLOT_UNAVAILABLE",
        "message": "The time overlaps another booking.",
    }
