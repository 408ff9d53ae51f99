"""Operator actions on a booking: refunds (capped, keyed, audited) and resent notifications.

Each goes through the booking's workflow while it runs, and through the
booking's ops workflow once it has closed.
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
from models.db import AuditRecord, LedgerEntry
from stack.mailsink import MailSink
from workflows.booking import BookingWorkflow
from workflows.ops import BookingOpsWorkflow

from support.auth import OPERATOR, bearer
from support.catalog import book, book_gateway, fund, make_slot
from support.mail import text_of
from support.workflows import settled, until_state

SANDBOX_AUTH = {"Authorization": "Bearer sandbox-test-key"}


async def _refund(api: httpx.AsyncClient, booking_id: str, key: str, **body: Any) -> httpx.Response:
    return await api.post(
        f"/v1/ops/bookings/{booking_id}/refund",
        json={"reason": "goodwill", **body},
        headers={**OPERATOR, "Idempotency-Key": key},
    )


def _inr(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "INR"}


async def _audit(sessions: SessionFactory, booking_id: str) -> list[str]:
    async with sessions() as session:
        rows = await session.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.booking_id == uuid.UUID(booking_id))
            .order_by(AuditRecord.id)
        )
        return [action.split(":")[0] for action in rows]


async def test_partial_refund_is_capped_keyed_and_a_later_cancel_refunds_only_the_rest(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """20 000 of 50 000 back (PARTIALLY_REFUNDED); replayed per key; the cancel gives 30 000."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=50_000, starts_in=timedelta(days=3))
    await fund(api, customer, 50_000)
    booking = (await book(api, customer, slot["id"])).json()
    key = str(uuid.uuid4())

    first = await _refund(api, booking["id"], key, amount=_inr(20_000))
    again = await _refund(api, booking["id"], key, amount=_inr(20_000))
    reused = await _refund(api, booking["id"], key, amount=_inr(10_000))
    too_much = await _refund(api, booking["id"], str(uuid.uuid4()), amount=_inr(30_001))
    other_currency = await _refund(
        api, booking["id"], str(uuid.uuid4()), amount={"amount": 1, "currency": "USD"}
    )
    partly = (await api.get(f"/v1/bookings/{booking['id']}", headers=OPERATOR)).json()
    cancelled = await api.post(f"/v1/bookings/{booking['id']}/cancel", headers=bearer(customer))
    wallet = (await api.get("/v1/wallets/me", headers=bearer(customer))).json()
    final = (await api.get(f"/v1/bookings/{booking['id']}", headers=OPERATOR)).json()

    assert first.status_code == 201, first.text
    assert first.json() == {
        "booking_id": booking["id"],
        "refund": {
            "amount": _inr(20_000),
            "method": "wallet",
            "status": "PROCESSED",
            "words": "₹200.00 was refunded to your wallet.",
        },
    }
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert too_much.status_code == 422
    assert "at most 30000 INR" in too_much.json()["error"]["message"]
    assert other_currency.status_code == 422
    assert partly["payment"]["status"] == "PARTIALLY_REFUNDED"
    assert partly["payment"]["refunded"] == _inr(20_000)
    assert cancelled.json()["refund"]["amount"] == _inr(30_000)
    assert wallet["balances"] == [_inr(50_000)]
    assert final["payment"]["status"] == "REFUNDED"
    assert [r["amount"]["amount"] for r in final["refunds"]] == [20_000, 30_000]
    assert await _audit(sessions, booking["id"]) == [
        "refund.requested",
        "booking.cancel_requested",
    ]


async def test_a_closed_bookings_refund_goes_through_its_ops_workflow_once(
    api: httpx.AsyncClient, sessions: SessionFactory, temporal: Client
) -> None:
    """Cancelled late (half back, workflow closed): the operator refunds the rest; then nothing."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=10_000, starts_in=timedelta(hours=3))
    await fund(api, customer, 10_000)
    booking = (await book(api, customer, slot["id"])).json()
    cancelled = await api.post(f"/v1/bookings/{booking['id']}/cancel", headers=bearer(customer))
    closed = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    await closed.result()

    rest = await _refund(api, booking["id"], str(uuid.uuid4()))
    nothing_left = await _refund(api, booking["id"], str(uuid.uuid4()))
    ops = temporal.get_workflow_handle_for(BookingOpsWorkflow.run, f"booking-{booking['id']}-ops")
    description = await ops.describe()

    assert cancelled.json()["refund"]["amount"] == _inr(5_000)
    assert rest.status_code == 201, rest.text
    assert rest.json()["refund"] == {
        "amount": _inr(5_000),
        "method": "wallet",
        "status": "PROCESSED",
        "words": "₹50.00 was refunded to your wallet.",
    }
    assert nothing_left.status_code == 409
    assert nothing_left.json()["error"]["code"] == "INVALID_STATE"
    assert description.workflow_type == "BookingOpsWorkflow"
    wallet = (await api.get("/v1/wallets/me", headers=bearer(customer))).json()
    assert wallet["balances"] == [_inr(10_000)]
    async with sessions() as session:
        keys = await session.scalars(
            select(LedgerEntry.idempotency_key).where(
                LedgerEntry.booking_id == uuid.UUID(booking["id"]), LedgerEntry.kind == "refund"
            )
        )
        assert sorted(k.split(":")[1] for k in keys) == ["ops", "refund"]


async def test_gateway_refund_by_an_operator_goes_to_the_gateway_and_is_capped(
    api: httpx.AsyncClient, sandbox: httpx.AsyncClient, sandbox_app: FastAPI, temporal: Client
) -> None:
    """A paid sandbox booking: 4 000 back through the sandbox, then the cancel returns the rest."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=10_000, starts_in=timedelta(days=3))
    booking = (await book_gateway(api, customer, slot["id"])).json()
    await sandbox.post(
        f"/v1/orders/{booking['payment']['order_id']}/pay", json={"outcome": "success"}
    )
    await sandbox_app.state.sandbox.drain()
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    await until_state(handle, settled("CONFIRMED"))

    partial = await _refund(api, booking["id"], str(uuid.uuid4()), amount=_inr(4_000))
    cancelled = await api.post(f"/v1/bookings/{booking['id']}/cancel", headers=bearer(customer))
    order = (
        await sandbox.get(f"/v1/orders/{booking['payment']['order_id']}", headers=SANDBOX_AUTH)
    ).json()

    assert partial.status_code == 201, partial.text
    assert partial.json()["refund"]["method"] == "sandbox"
    assert partial.json()["refund"]["amount"] == _inr(4_000)
    assert cancelled.json()["refund"]["amount"] == _inr(6_000)
    assert order["amount_refunded"] == 10_000


async def test_resend_sends_the_mail_again_and_refuses_a_kind_never_sent(
    api: httpx.AsyncClient, sessions: SessionFactory, mail_sink: MailSink, temporal: Client
) -> None:
    """The confirmation goes out a second time (audited); an expiry notice never sent is 409."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=1_000)
    await fund(api, customer, 1_000)
    booking = (
        await book(api, customer, slot["id"], contact={"email": "resend@example.com"})
    ).json()

    def confirmations() -> int:
        return len(
            [
                m
                for m in mail_sink.messages()
                if m["To"] == "resend@example.com" and booking["id"] in text_of(m)
            ]
        )

    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    await until_state(handle, settled("CONFIRMED"))
    before = confirmations()
    resent = await api.post(
        f"/v1/ops/bookings/{booking['id']}/resend-notification",
        json={"kind": "booking_confirmed", "note": "customer lost the mail"},
        headers=OPERATOR,
    )
    never = await api.post(
        f"/v1/ops/bookings/{booking['id']}/resend-notification",
        json={"kind": "booking_expired"},
        headers=OPERATOR,
    )
    customer_tries = await api.post(
        f"/v1/ops/bookings/{booking['id']}/resend-notification",
        json={"kind": "booking_confirmed"},
        headers=bearer(customer),
    )

    assert resent.status_code == 200, resent.text
    assert resent.json() == {
        "booking_id": booking["id"],
        "kind": "booking_confirmed",
        "status": "SENT",
    }
    assert (before, confirmations()) == (1, 2)
    assert never.status_code == 409
    assert customer_tries.status_code == 403
    assert await _audit(sessions, booking["id"]) == ["notification.resent"]


async def test_a_refund_before_payment_is_refused_by_the_workflows_validator(
    api: httpx.AsyncClient,
) -> None:
    """An unpaid gateway booking has nothing to refund: 409, and it stays AWAITING_PAYMENT."""
    slot = await make_slot(api, price=1_000)
    booking = (await book_gateway(api, uuid.uuid4(), slot["id"])).json()

    refused = await _refund(api, booking["id"], str(uuid.uuid4()))
    after = (await api.get(f"/v1/bookings/{booking['id']}", headers=OPERATOR)).json()

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "INVALID_STATE"
    assert after["status"] == "AWAITING_PAYMENT"
