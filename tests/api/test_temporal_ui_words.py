"""What an operator reads in the Temporal UI: a summary to scan and details that say what waits.

No personal data: the summary names the resource, its local start time, the
price and the payment method; never the customer's contact.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from temporalio.client import Client

from workflows.booking import BookingWorkflow

from support.auth import OPERATOR
from support.catalog import book, book_gateway, fund
from support.workflows import current_details, settled, until_state


async def _slot(api: httpx.AsyncClient, provider: str = "jitsi") -> dict[str, str]:
    """A slot of "Dr. Rao" (Asia/Kolkata) at 09:00 UTC in three days, ₹1,250.00."""
    resource = await api.post(
        "/v1/resources",
        json={"name": "Dr. Rao", "timezone": "Asia/Kolkata", "meeting_provider": provider},
        headers=OPERATOR,
    )
    starts = (datetime.now(UTC) + timedelta(days=3)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    slots = await api.post(
        f"/v1/resources/{resource.json()['id']}/slots",
        json={
            "slots": [
                {
                    "starts_at": starts.isoformat(),
                    "ends_at": (starts + timedelta(hours=1)).isoformat(),
                    "price": {"amount": 125_000, "currency": "INR"},
                }
            ]
        },
        headers=OPERATOR,
    )
    slot: dict[str, str] = slots.json()["items"][0]
    return slot


async def test_summary_says_what_when_how_much_and_how_paid_without_contact_data(
    api: httpx.AsyncClient, temporal: Client
) -> None:
    """``Dr. Rao · <day>, 14:30 IST (UTC+05:30) · ₹1,250.00 · wallet``; the email is not there."""
    customer = uuid.uuid4()
    slot = await _slot(api)
    await fund(api, customer, 125_000)
    booking = (
        await book(api, customer, slot["id"], contact={"email": "asha@example.com", "name": "Asha"})
    ).json()
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    await until_state(handle, settled("CONFIRMED"))

    summary = await (await handle.describe()).static_summary()
    details = await current_details(handle)

    assert summary is not None
    assert summary.startswith("Dr. Rao · ")
    assert "14:30 IST (UTC+05:30) · ₹1,250.00 · wallet" in summary
    assert "asha" not in summary.lower()
    assert details.startswith("confirmed; meeting link ready; open until the booked time ends")


async def test_details_name_the_payment_awaited_and_the_action_for_a_missing_meeting_link(
    api: httpx.AsyncClient, temporal: Client
) -> None:
    """Waiting: provider, price, order and deadline; a failing link: its error and the ops call."""
    waiting = (await book_gateway(api, uuid.uuid4(), (await _slot(api))["id"])).json()
    customer = uuid.uuid4()
    await fund(api, customer, 125_000)
    # Google is not configured on the suite's worker: its meeting link cannot be made.
    broken = (await book(api, customer, (await _slot(api, "google"))["id"])).json()
    waiting_handle = temporal.get_workflow_handle_for(
        BookingWorkflow.run, f"booking-{waiting['id']}"
    )
    broken_handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{broken['id']}")
    await until_state(broken_handle, lambda s: "MEETING_LINK_FAILING" in s.attention and s.idle)

    waiting_details = await current_details(waiting_handle)
    broken_details = await current_details(broken_handle)

    assert waiting_details.startswith(
        f"waiting for sandbox payment of ₹1,250.00 for order {waiting['payment']['order_id']} "
        "until "
    )
    assert "the slot is released (EXPIRED)" in waiting_details
    assert "meeting link is missing" in broken_details
    assert "not configured" in broken_details
    assert f"POST /v1/ops/bookings/{broken['id']}/retry-meeting" in broken_details
