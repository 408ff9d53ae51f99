"""Every field tells the truth at every moment.

No PENDING after a decline, no READY meeting on a cancelled booking, no
REFUNDED for half a refund, COMPLETED once the booked time has passed.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from temporalio.client import Client

from core.db import SessionFactory
from models.db import OutgoingEvent
from models.search_attributes import BOOKING_STATUS
from workflows.booking import BookingWorkflow

from support.auth import OPERATOR, bearer
from support.catalog import book, book_gateway, fund, make_slot
from support.workflows import settled, until_state


async def _booking(api: httpx.AsyncClient, booking_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await api.get(f"/v1/bookings/{booking_id}", headers=OPERATOR)).json()
    return body


async def test_a_declined_payment_is_declined_and_a_cancelled_booking_has_no_meeting(
    api: httpx.AsyncClient, sandbox: httpx.AsyncClient, sandbox_app: FastAPI, temporal: Client
) -> None:
    """Declined: payment DECLINED, in the timeline too; cancelled: payment FAILED, no meeting.

    The reason says who cancelled: CANCELLED_BY_CUSTOMER.
    """
    customer = uuid.uuid4()
    slot = await make_slot(api, price=2_000)
    booking = (await book_gateway(api, customer, slot["id"])).json()
    order = booking["payment"]["order_id"]
    await sandbox.post(f"/v1/orders/{order}/pay", json={"outcome": "failure"})
    await sandbox_app.state.sandbox.drain()
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    await until_state(handle, lambda s: s.idle)
    declined = await _booking(api, booking["id"])
    await api.post(f"/v1/bookings/{booking['id']}/cancel", headers=bearer(customer))
    cancelled = await _booking(api, booking["id"])

    assert declined["status"] == "AWAITING_PAYMENT"
    assert declined["payment"]["status"] == "DECLINED"
    assert "payment.declined" in [e["type"] for e in declined["timeline"]]
    assert (cancelled["status"], cancelled["reason"]) == ("CANCELLED", "CANCELLED_BY_CUSTOMER")
    assert cancelled["payment"]["status"] == "FAILED"
    assert cancelled["meeting"]["status"] == "CANCELLED"


async def test_half_a_refund_is_partially_refunded_and_the_meeting_is_cancelled(
    api: httpx.AsyncClient, temporal: Client
) -> None:
    """Cancelled inside the notice period: half back, PARTIALLY_REFUNDED; the link is gone."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=8_000, starts_in=timedelta(hours=3))
    await fund(api, customer, 8_000)
    booking = (await book(api, customer, slot["id"])).json()
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    await until_state(handle, settled("CONFIRMED"))
    ready = await _booking(api, booking["id"])
    await api.post(f"/v1/bookings/{booking['id']}/cancel", headers=bearer(customer))
    after = await _booking(api, booking["id"])

    assert ready["meeting"]["status"] == "READY"
    assert after["payment"]["status"] == "PARTIALLY_REFUNDED"
    assert after["payment"]["refunded"] == {"amount": 4_000, "currency": "INR"}
    assert after["meeting"]["status"] == "CANCELLED"


async def test_a_booking_whose_time_has_passed_is_completed_everywhere(
    api: httpx.AsyncClient, temporal: Client, sessions: SessionFactory
) -> None:
    """A one-second slot two seconds ahead: COMPLETED in the API, Temporal and the events out.

    The seat is given back, a cancel is refused, and the workflow closes (a
    wallet booking has no late money to wait for).
    """
    customer = uuid.uuid4()
    slot = await make_slot(
        api, price=500, starts_in=timedelta(seconds=2), length=timedelta(seconds=1)
    )
    await fund(api, customer, 500)
    booking = (await book(api, customer, slot["id"])).json()
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    result = await handle.result()
    described = await handle.describe()
    view = await _booking(api, booking["id"])
    seat = (await api.get(f"/v1/slots/{slot['id']}", headers=OPERATOR)).json()
    async with sessions() as session:
        published = list(
            await session.scalars(
                select(OutgoingEvent.type).where(
                    OutgoingEvent.booking_id == uuid.UUID(booking["id"])
                )
            )
        )
    refused = await api.post(f"/v1/bookings/{booking['id']}/cancel", headers=bearer(customer))

    assert booking["status"] == "CONFIRMED"
    assert result.status == "COMPLETED"
    assert described.typed_search_attributes.get(BOOKING_STATUS) == "COMPLETED"
    assert (view["status"], view["reason"]) == ("COMPLETED", None)
    assert view["meeting"]["status"] == "READY"
    assert "booking.completed" in [e["type"] for e in view["timeline"]]
    assert "booking.completed" in published
    assert seat["remaining_capacity"] == 1
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "BOOKING_NOT_CANCELLABLE"
