"""An owed refund that goes through is mailed to the customer once, in words, with the manage link.

The gateway refuses refunds (the sandbox's ``refunds_unavailable``) when the
customer cancels: the cancel answers the refund OWED and the cancellation mail
says so. Once the gateway is back and an operator retries the pending steps,
the refund is made and the customer gets one mail saying it went through.
"""

from __future__ import annotations

import re
import uuid
from email.message import EmailMessage
from typing import Any

import httpx
from fastapi import FastAPI
from temporalio.client import Client

from core.manage_links import link_key, verify
from core.settings import Settings
from stack.mailsink import MailSink
from workflows.booking import BookingWorkflow

from support.auth import OPERATOR, bearer
from support.catalog import make_slot
from support.histories import record_history
from support.mail import html_of, text_of
from support.workflows import settled, until_state

SANDBOX_AUTH = {"Authorization": "Bearer sandbox-test-key"}
_LINK = re.compile(r"(\S+)/manage/([A-Za-z0-9_-]+)")
DONE = "Your payment was refunded"


def _mails(sink: MailSink, to: str) -> list[EmailMessage]:
    return [m for m in sink.messages() if m["To"] == to]


async def _paid_booking(
    api: httpx.AsyncClient, sandbox: httpx.AsyncClient, sandbox_app: FastAPI, email: str
) -> tuple[uuid.UUID, dict[str, Any]]:
    """A sandbox-paid booking of ₹420.00, confirmed."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=42_000)
    created = await api.post(
        "/v1/bookings",
        json={
            "slot_id": slot["id"],
            "payment": {"method": "gateway", "provider": "sandbox"},
            "contact": {"email": email, "name": "Asha"},
        },
        headers={**bearer(customer), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert created.status_code == 201, created.text
    booking: dict[str, Any] = created.json()
    paid = await sandbox.post(
        f"/v1/orders/{booking['payment']['order_id']}/pay", json={"outcome": "success"}
    )
    assert paid.status_code == 200, paid.text
    await sandbox_app.state.sandbox.drain()
    return customer, booking


async def test_an_owed_gateway_refund_that_goes_through_is_mailed_once_with_the_manage_link(
    api: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    sandbox_app: FastAPI,
    temporal: Client,
    settings: Settings,
    mail_sink: MailSink,
) -> None:
    """Cancelled while refunds fail: OWED, said so; after the retry one mail says ₹420.00 is back.

    The refund.processed webhook that follows the gateway's refund sends nothing more.
    """
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    customer, booking = await _paid_booking(api, sandbox, sandbox_app, email)
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    await until_state(handle, settled("CONFIRMED"))
    await sandbox.put(
        "/v1/sandbox/faults", json={"refunds_unavailable": True}, headers=SANDBOX_AUTH
    )
    try:
        cancelled = await api.post(f"/v1/bookings/{booking['id']}/cancel", headers=bearer(customer))
        stuck = await until_state(handle, lambda s: bool(s.pending_steps) and s.idle, within=60)
        owed_mails = [m["Subject"] for m in _mails(mail_sink, email)]
    finally:
        await sandbox.put("/v1/sandbox/faults", json={}, headers=SANDBOX_AUTH)

    retried = await api.post(
        f"/v1/ops/bookings/{booking['id']}/retry-pending-steps",
        json={"note": "gateway is back"},
        headers=OPERATOR,
    )
    done = await until_state(handle, lambda s: not s.pending_steps and s.idle, within=60)
    # The gateway's refund.processed webhook reaches the workflow too, and is recorded.
    await sandbox_app.state.sandbox.drain()
    await until_state(handle, lambda s: s.idle)
    await record_history(handle, "gateway_refund_owed_then_mailed")
    read = (await api.get(f"/v1/bookings/{booking['id']}", headers=bearer(customer))).json()

    mails = _mails(mail_sink, email)
    [cancel_mail] = [m for m in mails if m["Subject"] == "Your booking was cancelled"]
    refunded = [m for m in mails if m["Subject"] == DONE]
    key = link_key(settings)
    assert key is not None

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["refund"] == {
        "amount": {"amount": 42_000, "currency": "INR"},
        "method": "sandbox",
        "status": "OWED",
        "words": "₹420.00 is owed to you; we will refund it to the card or account you paid"
        " with through Sandbox gateway and write when it is done.",
    }
    assert stuck.attention == ["REFUND_FAILING"]
    assert DONE not in owed_mails, "nothing is said to be refunded before it is"
    assert (
        "₹420.00 is owed to you; we will refund it to the card or account you paid with"
        " through Sandbox gateway and write when it is done." in text_of(cancel_mail)
    )
    assert retried.status_code == 202, retried.text
    assert done.attention == []
    assert len(refunded) == 1, [m["Subject"] for m in mails]
    text, html = text_of(refunded[0]), html_of(refunded[0])
    [(base, token)] = _LINK.findall(text)
    assert "Hello Asha," in text
    assert (
        "₹420.00 was refunded to the card or account you paid with through Sandbox gateway." in text
    )
    assert "Why: this is the refund we wrote was owed to you" in text
    # The booking is cancelled: the link can only show it now.
    assert f"See your booking: {base}/manage/{token}" in text
    assert "42000" not in text
    assert "<strong>₹420.00</strong> was refunded" in html
    assert f'<a href="{base}/manage/{token}">See your booking</a>' in html
    assert verify(key, token).booking_id == uuid.UUID(booking["id"])
    assert read["payment"]["refunded"] == {"amount": 42_000, "currency": "INR"}
    assert [r["status"] for r in read["refunds"]] == ["PROCESSED"]
