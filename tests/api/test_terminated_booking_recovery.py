"""Temporal's Terminate on a booking: found within a minute, recovered by an operator.

A booking workflow closes only once its booking has ended, so a terminated one
leaves an active booking (money charged, slot taken) with nobody to finish
it. The ``reconcile-closed-workflows`` schedule (every minute) raises
WORKFLOW_MISSING naming the recover call; ``POST /v1/ops/bookings/{id}/recover``
finishes the booking in its ops workflow: refunded, released, mailed, audited.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from sqlalchemy import select
from temporalio.client import Client

from core.db import SessionFactory
from core.settings import Settings
from models.db import Alert, AuditRecord
from models.domain import ReconcileJob
from models.payloads import ReconcileInput, ReconcileResult
from stack.schedules import SCHEDULES
from workflows.reconcile import ReconcileWorkflow

from support.auth import OPERATOR, bearer
from support.catalog import book, fund, make_slot


async def _reconcile_closed(temporal: Client, settings: Settings) -> ReconcileResult:
    return await temporal.execute_workflow(
        ReconcileWorkflow.run,
        ReconcileInput(job=ReconcileJob.CLOSED_WORKFLOWS, grace_seconds=0),
        id=f"test-reconcile-closed-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
    )


async def _alert(sessions: SessionFactory, booking_id: str) -> Alert | None:
    async with sessions() as session:
        return (
            await session.execute(
                select(Alert).where(Alert.kind == "WORKFLOW_MISSING", Alert.subject == booking_id)
            )
        ).scalar_one_or_none()


def test_the_closed_workflows_job_runs_every_minute() -> None:
    """Found within a minute: the schedule's interval is one minute."""
    job, every, _ = SCHEDULES["reconcile-closed-workflows"]
    assert (job, every) == (ReconcileJob.CLOSED_WORKFLOWS, timedelta(minutes=1))


async def test_a_terminated_wallet_booking_is_found_and_recovered_with_its_refund(
    api: httpx.AsyncClient, temporal: Client, settings: Settings, sessions: SessionFactory
) -> None:
    """WORKFLOW_MISSING names the call; recover refunds all, frees the slot, settles the alert."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=40_000, starts_in=timedelta(days=3))
    await fund(api, customer, 40_000)
    booking = (await book(api, customer, slot["id"], contact={"email": "r@example.com"})).json()
    assert booking["status"] == "CONFIRMED"
    running = await api.post(
        f"/v1/ops/bookings/{booking['id']}/recover", json={"note": "too early"}, headers=OPERATOR
    )
    await temporal.get_workflow_handle(f"booking-{booking['id']}").terminate("by mistake")

    found = await _reconcile_closed(temporal, settings)
    alert = await _alert(sessions, booking["id"])
    recovered = await api.post(
        f"/v1/ops/bookings/{booking['id']}/recover",
        json={"note": "terminated by mistake"},
        headers=OPERATOR,
    )
    again = await api.post(
        f"/v1/ops/bookings/{booking['id']}/recover", json={"note": "twice"}, headers=OPERATOR
    )
    view = (await api.get(f"/v1/bookings/{booking['id']}", headers=OPERATOR)).json()
    wallet = (await api.get("/v1/wallets/me", headers=bearer(customer))).json()
    slot_now = (await api.get(f"/v1/slots/{slot['id']}", headers=OPERATOR)).json()
    settled_alert = await _alert(sessions, booking["id"])
    async with sessions() as session:
        audit = list(
            await session.scalars(
                select(AuditRecord.action).where(AuditRecord.booking_id == uuid.UUID(booking["id"]))
            )
        )

    assert running.status_code == 409, running.text
    assert any(booking["id"] in finding for finding in found.findings)
    assert alert is not None
    assert f"POST /v1/ops/bookings/{booking['id']}/recover" in alert.details
    assert recovered.status_code == 200, recovered.text
    assert recovered.json()["status"] == "CANCELLED"
    assert recovered.json()["refund"] == {
        "amount": {"amount": 40_000, "currency": "INR"},
        "method": "wallet",
        "status": "PROCESSED",
        "words": "₹400.00 was refunded to your wallet.",
    }
    assert again.json()["already_finished"] is True
    assert again.json()["refund"] is None
    assert (view["status"], view["payment"]["status"]) == ("CANCELLED", "REFUNDED")
    assert wallet["balances"] == [{"amount": 40_000, "currency": "INR"}]
    assert slot_now["remaining_capacity"] == 1
    assert settled_alert is not None
    assert settled_alert.resolved_at is not None
    assert any(action.startswith("booking.recovered:") for action in audit)
