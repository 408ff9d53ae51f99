"""A top-up on the time-skipping server, with its real activities (PostgreSQL, the sandbox).

A top-up holds no inventory: a payment after its window closed still credits
the wallet, once.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.db import SessionFactory
from core.settings import Settings
from models.db import GatewayTransaction, LedgerEntry, Topup
from models.payloads import BookingPolicy, PaymentEvent, TopupInput
from worker import SANDBOX, topup_activities
from workflows.topup import TopupWorkflow


@dataclass
class _Topup:
    """A started 25,000 INR top-up: its workflow, its id, its customer and its gateway order."""

    handle: WorkflowHandle[TopupWorkflow, Any]
    topup_id: uuid.UUID
    customer: uuid.UUID
    order_id: str | None


@asynccontextmanager
async def _started_topup(
    time_env: WorkflowEnvironment,
    settings: Settings,
    sessions: SessionFactory,
    http_for_providers: httpx.AsyncClient,
    late_window: int,
) -> AsyncIterator[_Topup]:
    """A top-up row and its workflow, created (its order made), with a worker running."""
    queue = f"q-{uuid.uuid4().hex[:10]}"
    topup_id, customer = uuid.uuid4(), uuid.uuid4()
    async with sessions() as session:
        session.add(
            Topup(
                id=topup_id,
                customer_id=customer,
                amount=25_000,
                currency="INR",
                provider="sandbox",
                status="PENDING",
                workflow_id=f"topup-{topup_id}",
            )
        )
        await session.commit()
    async with Worker(
        time_env.client,
        task_queue=queue,
        workflows=[TopupWorkflow],
        activities=topup_activities(settings, sessions, http_for_providers),
        workflow_runner=SANDBOX,
    ):
        handle = await time_env.client.start_workflow(
            TopupWorkflow.run,
            TopupInput(
                topup_id=topup_id,
                customer_id=customer,
                amount=25_000,
                currency="INR",
                provider="sandbox",
                policy=BookingPolicy(hold_ttl_seconds=600, late_payment_window_seconds=late_window),
            ),
            id=f"topup-{topup_id}",
            task_queue=queue,
        )
        created = await handle.execute_update(TopupWorkflow.create)
        assert created.status == "AWAITING_PAYMENT"
        async with sessions() as session:
            row = await session.get(Topup, topup_id)
            assert row is not None
        yield _Topup(handle, topup_id, customer, row.order_id)


def _captured(event_id: str, order_id: str | None, payment_id: str, amount: int) -> PaymentEvent:
    return PaymentEvent(
        provider="sandbox",
        event_id=event_id,
        type="payment.captured",
        order_id=order_id,
        payment_id=payment_id,
        amount=amount,
        currency="INR",
    )


async def _credits(sessions: SessionFactory, customer: uuid.UUID) -> list[int]:
    async with sessions() as session:
        return list(
            (
                await session.scalars(
                    select(LedgerEntry.amount).where(LedgerEntry.customer_id == customer)
                )
            ).all()
        )


async def test_a_capture_after_the_window_closed_still_credits_once(
    time_env: WorkflowEnvironment,
    settings: Settings,
    sessions: SessionFactory,
    http_for_providers: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
) -> None:
    """EXPIRED at its deadline; a payment an hour later (delivered twice) credits, once."""
    async with _started_topup(
        time_env, settings, sessions, http_for_providers, late_window=86_400
    ) as topup:
        await time_env.sleep(timedelta(minutes=11))
        expired = await topup.handle.query(TopupWorkflow.state)
        paid = await sandbox.post(f"/v1/orders/{topup.order_id}/pay", json={"outcome": "success"})
        late = _captured("evt_late", topup.order_id, paid.json()["id"], 25_000)
        await topup.handle.signal(TopupWorkflow.payment_event, late)
        await topup.handle.signal(
            TopupWorkflow.payment_event, late.model_copy(update={"event_id": "evt_late_again"})
        )
        result = await topup.handle.result()

    assert expired.status == "EXPIRED"
    assert result == "CREDITED"
    assert await _credits(sessions, topup.customer) == [25_000]


async def _paid_topup_events(
    time_env: WorkflowEnvironment,
    settings: Settings,
    sessions: SessionFactory,
    http_for_providers: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    amounts: list[int],
) -> tuple[str, uuid.UUID, list[tuple[str, int]]]:
    """A 25,000 top-up paid once at the sandbox; events for that payment with ``amounts``.

    Returns the top-up's final status, its customer, and the (kind, amount) of its gateway rows.
    """
    async with _started_topup(
        time_env, settings, sessions, http_for_providers, late_window=3_600
    ) as topup:
        paid = await sandbox.post(f"/v1/orders/{topup.order_id}/pay", json={"outcome": "success"})
        for number, amount in enumerate(amounts):
            event = _captured(f"evt_{number}", topup.order_id, paid.json()["id"], amount)
            await topup.handle.signal(TopupWorkflow.payment_event, event)
        result = await topup.handle.result()
    async with sessions() as session:
        rows = (
            await session.execute(
                select(GatewayTransaction.kind, GatewayTransaction.amount)
                .where(GatewayTransaction.topup_id == topup.topup_id)
                .order_by(GatewayTransaction.id)
            )
        ).all()
    return result, topup.customer, [(kind, amount) for kind, amount in rows]


async def test_a_mismatched_capture_does_not_block_the_genuine_event_for_its_payment(
    time_env: WorkflowEnvironment,
    settings: Settings,
    sessions: SessionFactory,
    http_for_providers: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
) -> None:
    """30,000 claimed for the payment first, then its genuine 25,000: credited once, no refund."""
    result, customer, rows = await _paid_topup_events(
        time_env, settings, sessions, http_for_providers, sandbox, [30_000, 25_000]
    )

    assert result == "CREDITED"
    assert await _credits(sessions, customer) == [25_000]
    assert [kind for kind, _ in rows] == ["capture"]


async def test_only_mismatched_captures_fail_the_top_up_and_refund_at_most_its_amount(
    time_env: WorkflowEnvironment,
    settings: Settings,
    sessions: SessionFactory,
    http_for_providers: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
) -> None:
    """Only 30,000 claimed for a 25,000 top-up: FAILED at the deadline, 25,000 refunded, once."""
    result, customer, rows = await _paid_topup_events(
        time_env, settings, sessions, http_for_providers, sandbox, [30_000]
    )

    assert result == "FAILED"
    assert await _credits(sessions, customer) == []
    assert [(kind, amount) for kind, amount in rows if kind == "refund"] == [("refund", 25_000)]
