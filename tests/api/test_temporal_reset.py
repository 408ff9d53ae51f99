"""Temporal's Reset on a booking: the new run repeats the steps, and the keys hold.

Reset (the Temporal UI's button, ``temporal workflow reset``) replays a
booking's workflow from an earlier point: its activities run again. Each side
effect is keyed by the booking and the step, never by the attempt, so the
new run finds what the first one did: one debit, one refund, one mail each.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client

from core.db import SessionFactory
from models.db import GatewayTransaction, LedgerEntry, Notification
from workflows.booking import BookingWorkflow

from support.auth import bearer
from support.catalog import book, book_gateway, fund, make_slot
from support.histories import record_history
from support.workflows import settled, until_state


async def _reset_to_start(temporal: Client, workflow_id: str) -> str:
    """Reset the workflow to its first workflow task: every step runs again. The new run's id."""
    handle = temporal.get_workflow_handle(workflow_id)
    history = await handle.fetch_history()
    first_task = next(
        event.event_id
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    )
    described = await handle.describe()
    reset = await temporal.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=temporal.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=described.run_id),
            reason="test: reset to the start",
            workflow_task_finish_event_id=first_task,
            request_id=str(uuid.uuid4()),
        )
    )
    return reset.run_id


async def test_a_reset_cancelled_booking_is_never_charged_refunded_or_mailed_twice(
    api: httpx.AsyncClient, temporal: Client, sessions: SessionFactory
) -> None:
    """After a reset to the start: one debit, one refund, one mail of each kind."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=30_000, starts_in=timedelta(days=3))
    await fund(api, customer, 30_000)
    booking = (await book(api, customer, slot["id"], contact={"email": "z@example.com"})).json()
    cancelled = await api.post(f"/v1/bookings/{booking['id']}/cancel", headers=bearer(customer))
    workflow_id = f"booking-{booking['id']}"
    before = await _money_and_mail(sessions, booking["id"])

    new_run = await _reset_to_start(temporal, workflow_id)
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, workflow_id, run_id=new_run)
    again = await handle.result()
    after = await _money_and_mail(sessions, booking["id"])
    view = (await api.get(f"/v1/bookings/{booking['id']}", headers=bearer(customer))).json()
    wallet = (await api.get("/v1/wallets/me", headers=bearer(customer))).json()

    assert cancelled.status_code == 200, cancelled.text
    assert before[0] == Counter({"debit": 1, "refund": 1}), before
    assert after == before, (before, after)
    # The new run learns the booking ended and takes nothing; the row keeps the truth.
    assert (again.status, again.reason) == ("FAILED", "INVALID_STATE")
    assert view["status"] == "CANCELLED"
    assert wallet["balances"] == [{"amount": 30_000, "currency": "INR"}]


async def _money_and_mail(
    sessions: SessionFactory, booking_id: str
) -> tuple[Counter[str], Counter[str]]:
    async with sessions() as session:
        ledger = Counter(
            await session.scalars(
                select(LedgerEntry.kind).where(LedgerEntry.booking_id == uuid.UUID(booking_id))
            )
        )
        mail = Counter(
            await session.scalars(
                select(Notification.kind).where(Notification.booking_id == uuid.UUID(booking_id))
            )
        )
    return ledger, mail


async def test_a_reset_paid_gateway_booking_refunds_and_mails_nothing_again(
    api: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    sandbox_app: FastAPI,
    temporal: Client,
    sessions: SessionFactory,
) -> None:
    """The reset replays the capture into a run whose hold was refused: no crash, no new mail."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=30_000, starts_in=timedelta(days=3))
    created = (await book_gateway(api, customer, slot["id"])).json()
    order = created["payment"]["order_id"]
    await sandbox.post(f"/v1/orders/{order}/pay", json={"outcome": "success"})
    await sandbox_app.state.sandbox.drain()
    workflow_id = f"booking-{created['id']}"
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, workflow_id)
    await until_state(handle, settled("CONFIRMED"))
    cancelled = await api.post(f"/v1/bookings/{created['id']}/cancel", headers=bearer(customer))
    await sandbox_app.state.sandbox.drain()
    before = await _money_and_mail(sessions, created["id"])

    new_run = await _reset_to_start(temporal, workflow_id)
    again = temporal.get_workflow_handle_for(BookingWorkflow.run, workflow_id, run_id=new_run)
    result = await again.result()
    await record_history(again, "gateway_reset_after_cancel")
    after = await _money_and_mail(sessions, created["id"])
    async with sessions() as session:
        refunds = list(
            await session.scalars(
                select(GatewayTransaction.amount).where(
                    GatewayTransaction.booking_id == uuid.UUID(created["id"]),
                    GatewayTransaction.kind == "refund",
                )
            )
        )

    assert cancelled.status_code == 200, cancelled.text
    assert before[1]["booking_cancelled"] == 1, before
    assert after == before, (before, after)
    assert "payment_refunded" not in after[1]
    assert refunds == [30_000]
    assert (result.status, result.reason) == ("FAILED", "INVALID_STATE")
