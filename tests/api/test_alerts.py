"""Alerts: one open row per (kind, subject), resolved by an operator with a note (audited).

A booking's open alerts set its ``needs_attention``; the workflow that opened
one lists its kind in ``BookingAttention`` until it is resolved.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from temporalio.client import Client

from core.db import SessionFactory
from models.db import AuditRecord
from models.domain import AttentionKind
from models.search_attributes import BOOKING_ATTENTION
from store import alerts
from workflows.booking import BookingWorkflow

from support.auth import OPERATOR, bearer
from support.catalog import book, book_gateway, fund, make_slot
from support.webhooks import captured_event, signed
from support.workflows import until_state


async def _alerts(api: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await api.get("/v1/ops/alerts", params={"limit": 200, **params}, headers=OPERATOR)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_one_open_alert_per_kind_and_subject_then_resolved_with_a_note(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """A repeat counts on the open alert; resolving is audited and clears needs_attention."""
    slot = await make_slot(api, price=1_000)
    booking = (await book_gateway(api, uuid.uuid4(), slot["id"])).json()
    booking_id = uuid.UUID(booking["id"])
    async with sessions() as session:
        first = await alerts.open_alert(
            session, AttentionKind.REFUND_FAILING, str(booking_id), "owed", booking_id=booking_id
        )
        again = await alerts.open_alert(
            session, AttentionKind.REFUND_FAILING, str(booking_id), "owed", booking_id=booking_id
        )
        await session.commit()
    flagged = (await api.get(f"/v1/bookings/{booking_id}", headers=OPERATOR)).json()

    resolved = await api.post(
        f"/v1/ops/alerts/{first}/resolve", json={"note": "refunded by hand"}, headers=OPERATOR
    )
    twice = await api.post(
        f"/v1/ops/alerts/{first}/resolve", json={"note": "again"}, headers=OPERATOR
    )
    cleared = (await api.get(f"/v1/bookings/{booking_id}", headers=OPERATOR)).json()
    async with sessions() as session:
        audit = (
            await session.execute(
                select(AuditRecord).where(
                    AuditRecord.booking_id == booking_id, AuditRecord.action == "alert.resolved"
                )
            )
        ).scalar_one()
        reopened = await alerts.open_alert(
            session, AttentionKind.REFUND_FAILING, str(booking_id), "owed", booking_id=booking_id
        )
        await session.commit()

    assert first == again
    assert (flagged["needs_attention"], flagged["attention_reason"]) == (True, "owed")
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert (body["kind"], body["severity"], body["occurrences"]) == (
        "REFUND_FAILING",
        "critical",
        2,
    )
    assert body["resolution_note"] == "refunded by hand"
    assert body["resolved_by"].startswith("operator:")
    assert twice.status_code == 409
    assert (cleared["needs_attention"], cleared["attention_reason"]) == (False, None)
    assert audit.reason == "REFUND_FAILING: refunded by hand"
    # Once resolved, the next occurrence is a new alert.
    assert reopened != first
    listed = await _alerts(api, booking_id=str(booking_id))
    assert [(a["id"], a["resolved_at"] is None) for a in listed] == [
        (str(reopened), True),
        (str(first), False),
    ]


async def test_alert_queries_and_resolution_refuse_what_they_do_not_know(
    api: httpx.AsyncClient,
) -> None:
    """Unknown alert 404, bad status or kind 422, an empty note 422, customers 403."""
    missing = await api.post(
        f"/v1/ops/alerts/{uuid.uuid4()}/resolve", json={"note": "x"}, headers=OPERATOR
    )
    bad_status = await api.get("/v1/ops/alerts?status=maybe", headers=OPERATOR)
    bad_kind = await api.get("/v1/ops/alerts?kind=NOT_A_KIND", headers=OPERATOR)
    no_note = await api.post(
        f"/v1/ops/alerts/{uuid.uuid4()}/resolve", json={"note": ""}, headers=OPERATOR
    )
    customer = await api.get("/v1/ops/alerts", headers=bearer(uuid.uuid4()))

    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    assert bad_status.status_code == bad_kind.status_code == no_note.status_code == 422
    assert customer.status_code == 403


async def _audit_row(sessions: SessionFactory, booking_id: str, action: str) -> AuditRecord:
    async with sessions() as session:
        row: AuditRecord = (
            await session.execute(
                select(AuditRecord).where(
                    AuditRecord.booking_id == uuid.UUID(booking_id), AuditRecord.action == action
                )
            )
        ).scalar_one()
    return row


async def _confirmed_with_link(
    api: httpx.AsyncClient, temporal: Client, customer: uuid.UUID
) -> dict[str, Any]:
    """A confirmed wallet booking whose workflow has made its link and is idle."""
    slot = await make_slot(api, price=1_000)
    await fund(api, customer, 1_000)
    booking: dict[str, Any] = (await book(api, customer, slot["id"])).json()
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    await until_state(handle, lambda s: s.meeting_status == "READY" and s.idle)
    return booking


async def test_resolving_a_workflows_alert_takes_it_out_of_booking_attention(
    api: httpx.AsyncClient, temporal: Client
) -> None:
    """A payment of the wrong amount: the workflow alerts PAYMENT_MISMATCH; resolved, it leaves.

    (Cancelled, the booking refunds that payment, which the gateway does not
    know, so its refund is pending too: REFUND_FAILING stays.)
    """
    slot = await make_slot(api, price=1_000)
    customer = uuid.uuid4()
    booking = (await book_gateway(api, customer, slot["id"])).json()
    order = booking["payment"]["order_id"]
    body, headers = signed(captured_event(order, 999, f"evt_{uuid.uuid4().hex}"))
    assert (await api.post("/v1/webhooks/sandbox", content=body, headers=headers)).is_success
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    alerted = await until_state(handle, lambda s: "PAYMENT_MISMATCH" in s.attention and s.idle)
    described = await handle.describe()
    [alert] = await _alerts(api, booking_id=booking["id"], status="open", kind="PAYMENT_MISMATCH")
    await _cancel_until_refund_fails(api, handle, booking["id"], customer)

    resolved = await api.post(
        f"/v1/ops/alerts/{alert['id']}/resolve",
        json={"note": "refund confirmed with the gateway"},
        headers=OPERATOR,
    )
    after = await until_state(handle, lambda s: "PAYMENT_MISMATCH" not in s.attention)
    described_after = await handle.describe()

    assert alerted.status == "AWAITING_PAYMENT"
    assert "PAYMENT_MISMATCH" in (described.typed_search_attributes.get(BOOKING_ATTENTION) or [])
    assert alert["kind"] == "PAYMENT_MISMATCH"
    assert alert["subject"] == booking["id"]
    assert resolved.status_code == 200, resolved.text
    assert after.status == "CANCELLED"
    assert after.attention == ["REFUND_FAILING"]
    assert described_after.typed_search_attributes.get(BOOKING_ATTENTION) == ["REFUND_FAILING"]


async def _cancel_until_refund_fails(
    api: httpx.AsyncClient, handle: Any, booking_id: str, customer: uuid.UUID
) -> Any:
    """Cancel a booking held by a mismatched payment; its refund is refused (REFUND_FAILING)."""
    cancelled = await api.post(f"/v1/bookings/{booking_id}/cancel", headers=bearer(customer))
    assert cancelled.status_code == 200, cancelled.text
    return await until_state(handle, lambda s: "REFUND_FAILING" in s.attention and s.idle)


async def _google_booking(api: httpx.AsyncClient, customer: uuid.UUID) -> dict[str, Any]:
    """A confirmed wallet booking on a resource whose provider (Google) is not configured."""
    resource = await api.post(
        "/v1/resources",
        json={"name": "Dr. Rao", "timezone": "Asia/Kolkata", "meeting_provider": "google"},
        headers=OPERATOR,
    )
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    slots = await api.post(
        f"/v1/resources/{resource.json()['id']}/slots",
        json={
            "slots": [
                {
                    "starts_at": starts.isoformat(),
                    "ends_at": (starts + timedelta(hours=1)).isoformat(),
                    "price": {"amount": 1_000, "currency": "INR"},
                    "capacity": 1,
                }
            ]
        },
        headers=OPERATOR,
    )
    await fund(api, customer, 1_000)
    booked = await book(api, customer, slots.json()["items"][0]["id"])
    assert booked.status_code == 201, booked.text
    booking: dict[str, Any] = booked.json()
    return booking


async def test_an_operator_retries_a_missing_meeting_link_through_the_workflow(
    api: httpx.AsyncClient, temporal: Client, sessions: SessionFactory
) -> None:
    """MEETING_LINK_FAILING; retry-meeting is audited and tried again (still failing: counted)."""
    customer = uuid.uuid4()
    booking = await _google_booking(api, customer)
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    await until_state(handle, lambda s: "MEETING_LINK_FAILING" in s.attention and s.idle)

    retried = await api.post(
        f"/v1/ops/bookings/{booking['id']}/retry-meeting",
        json={"note": "provider back?"},
        headers=OPERATOR,
    )

    # The update answers once the retry is queued; the workflow is idle again once it ran.
    await until_state(handle, lambda s: s.idle)
    [alert] = await _alerts(api, booking_id=booking["id"], kind="MEETING_LINK_FAILING")
    audit = await _audit_row(sessions, booking["id"], "meeting.retry_requested:1")

    assert retried.status_code == 202, retried.text
    assert retried.json() == {"booking_id": booking["id"], "meeting_status": "PENDING"}
    assert audit.reason == "provider back?"
    assert audit.actor.startswith("operator:")
    # Tried again, failed again: the same open alert, seen twice.
    assert (alert["occurrences"], alert["resolved_at"]) == (2, None)


async def test_retry_meeting_is_refused_where_there_is_nothing_to_retry(
    api: httpx.AsyncClient, temporal: Client
) -> None:
    """A booking with its link: 409; no such booking: 404; a customer: 403."""
    customer = uuid.uuid4()
    booking = await _confirmed_with_link(api, temporal, customer)

    ready = await api.post(f"/v1/ops/bookings/{booking['id']}/retry-meeting", headers=OPERATOR)
    missing = await api.post(f"/v1/ops/bookings/{uuid.uuid4()}/retry-meeting", headers=OPERATOR)
    customer_call = await api.post(
        f"/v1/ops/bookings/{booking['id']}/retry-meeting", headers=bearer(customer)
    )

    assert ready.status_code == 409
    assert ready.json()["error"]["code"] == "INVALID_STATE"
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "BOOKING_NOT_FOUND"
    assert customer_call.status_code == 403


async def test_an_operator_retries_pending_steps_through_the_workflow(
    api: httpx.AsyncClient, temporal: Client, sessions: SessionFactory
) -> None:
    """A refund the gateway keeps refusing is pending; retry-pending-steps is audited and runs it.

    (The booking, cancelled after a payment of the wrong amount, refunds it; the
    gateway knows no such payment, so the retry fails again: the same open
    alert, counted twice.) Nothing pending: 409; a customer: 403.
    """
    slot = await make_slot(api, price=1_000)
    customer = uuid.uuid4()
    booking = (await book_gateway(api, customer, slot["id"])).json()
    body, headers = signed(captured_event(booking["payment"]["order_id"], 999, "evt_pending_1"))
    assert (await api.post("/v1/webhooks/sandbox", content=body, headers=headers)).is_success
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    await until_state(handle, lambda s: "PAYMENT_MISMATCH" in s.attention and s.idle)
    stuck = await _cancel_until_refund_fails(api, handle, booking["id"], customer)
    url = f"/v1/ops/bookings/{booking['id']}/retry-pending-steps"

    by_customer = await api.post(url, headers=bearer(customer))
    retried = await api.post(url, json={"note": "gateway is back"}, headers=OPERATOR)
    await until_state(handle, lambda s: s.idle)
    [alert] = await _alerts(api, booking_id=booking["id"], kind="REFUND_FAILING")
    audit = await _audit_row(sessions, booking["id"], "pending_steps.retry_requested:1")

    assert by_customer.status_code == 403
    assert retried.status_code == 202, retried.text
    assert retried.json() == {"booking_id": booking["id"], "pending_steps": stuck.pending_steps}
    assert "refund" in stuck.pending_steps[0]
    assert (audit.actor.startswith("operator:"), audit.reason) == (True, "gateway is back")
    assert (alert["occurrences"], alert["resolved_at"]) == (2, None)


async def test_retry_pending_steps_is_refused_where_nothing_is_pending(
    api: httpx.AsyncClient, temporal: Client
) -> None:
    """A confirmed booking with nothing pending: 409 INVALID_STATE; no such booking: 404."""
    customer = uuid.uuid4()
    booking = await _confirmed_with_link(api, temporal, customer)

    nothing = await api.post(
        f"/v1/ops/bookings/{booking['id']}/retry-pending-steps", headers=OPERATOR
    )
    missing = await api.post(
        f"/v1/ops/bookings/{uuid.uuid4()}/retry-pending-steps", headers=OPERATOR
    )

    assert nothing.status_code == 409
    error = nothing.json()["error"]
    assert (error["code"], error["message"]) == (
        "INVALID_STATE",
        "the booking has no pending steps",
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "BOOKING_NOT_FOUND"
