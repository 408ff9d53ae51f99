"""Reconciliation: each kind of discrepancy planted in the database or the sandbox opens its alert.

The jobs run as the schedules run them (the reconcile workflow on the engine's
worker, real PostgreSQL, the in-process sandbox), with no grace period so a
discrepancy planted a moment ago is judged.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, text, update
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow, WorkflowFailureError
from temporalio.worker import Worker

from activities.reconcile import ReconcileActivities
from core.db import SessionFactory
from core.settings import Settings
from integrations.gateways.stripe import StripeGateway
from models.db import Alert, Booking, GatewayTransaction, IdempotencyRecord
from models.domain import ReconcileJob
from models.payloads import ReconcileInput, ReconcileResult
from stack.schedules import SCHEDULES, ensure_schedules
from worker import build_worker
from workflows.reconcile import ReconcileWorkflow

from support.auth import OPERATOR
from support.catalog import book_gateway, fund, make_slot
from support.db import insert_confirmed_booking

SANDBOX_AUTH = {"Authorization": "Bearer sandbox-test-key"}


async def _run(
    temporal: Client, settings: Settings, job: ReconcileJob, **bounds: int
) -> ReconcileResult:
    return await temporal.execute_workflow(
        ReconcileWorkflow.run,
        ReconcileInput(job=job, grace_seconds=0, **bounds),
        id=f"test-reconcile-{job}-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
    )


async def _open(sessions: SessionFactory, kind: str, subject: str) -> Alert | None:
    async with sessions() as session:
        found: Alert | None = (
            await session.execute(
                select(Alert).where(
                    Alert.kind == kind, Alert.subject == subject, Alert.resolved_at.is_(None)
                )
            )
        ).scalar_one_or_none()
        return found


async def test_ledger_job_finds_a_balance_off_its_ledger_and_a_credit_spike(
    api: httpx.AsyncClient, sessions: SessionFactory, temporal: Client, settings: Settings
) -> None:
    """A wallet nudged by 7 without a ledger row: BALANCE_MISMATCH; big credits: CREDIT_SPIKE."""
    # The job reads wallets in customer order and its result lists its first findings
    # only (every one has its alert); a customer id that sorts first is among them,
    # whatever other tests left in the shared database.
    customer = uuid.UUID(int=uuid.uuid4().int >> 64)
    await fund(api, customer, 600)
    await fund(api, customer, 600)
    async with sessions() as session:
        await session.execute(
            text("UPDATE wallets SET balance = balance + 7 WHERE customer_id = :c"),
            {"c": customer},
        )
        await session.commit()
    try:
        result = await _run(temporal, settings, ReconcileJob.LEDGER, credit_spike_amount=1_000)
    finally:
        async with sessions() as session:
            await session.execute(
                text("UPDATE wallets SET balance = balance - 7 WHERE customer_id = :c"),
                {"c": customer},
            )
            await session.commit()

    mismatch = await _open(sessions, "BALANCE_MISMATCH", f"wallet:{customer}:INR")
    day = datetime.now(UTC).date().isoformat()
    spike = await _open(sessions, "CREDIT_SPIKE", f"credits:{customer}:INR:{day}")
    assert mismatch is not None
    assert "balance 1207 but the ledger sums to 1200" in mismatch.details
    assert spike is not None
    assert "credited 1200 INR" in spike.details
    assert any(str(customer) in f for f in result.findings)


async def test_workflows_job_finds_a_booking_without_workflow_and_one_whose_status_differs(
    api: httpx.AsyncClient, sessions: SessionFactory, temporal: Client, settings: Settings
) -> None:
    """A CONFIRMED row without a workflow, and a HELD row whose workflow says otherwise.

    The first is WORKFLOW_MISSING; the second (its workflow says AWAITING_PAYMENT) is
    STATUS_MISMATCH, and the booking needs attention.
    """
    orphan = await insert_confirmed_booking(sessions)
    slot = await make_slot(api, price=1_000)
    waiting = (await book_gateway(api, uuid.uuid4(), slot["id"])).json()
    waiting_id = uuid.UUID(waiting["id"])
    async with sessions() as session:
        await session.execute(update(Booking).where(Booking.id == waiting_id).values(status="HELD"))
        await session.commit()
    try:
        await _run(temporal, settings, ReconcileJob.WORKFLOWS, page_size=2)
    finally:
        async with sessions() as session:
            await session.execute(
                update(Booking).where(Booking.id == waiting_id).values(status="AWAITING_PAYMENT")
            )
            await session.commit()

    missing = await _open(sessions, "WORKFLOW_MISSING", str(orphan))
    differs = await _open(sessions, "STATUS_MISMATCH", str(waiting_id))
    assert missing is not None
    assert missing.booking_id == orphan
    assert differs is not None
    assert "HELD in the database but its workflow says AWAITING_PAYMENT" in differs.details
    flagged = (await api.get(f"/v1/bookings/{waiting_id}", headers=OPERATOR)).json()
    assert flagged["needs_attention"] is True


async def test_gateways_job_finds_money_the_books_do_not_know_and_books_the_gateway_does_not(
    sandbox: httpx.AsyncClient, sessions: SessionFactory, temporal: Client, settings: Settings
) -> None:
    """A sandbox capture and refund for no booking, and a capture row the sandbox never made."""
    order = (
        await sandbox.post(
            "/v1/orders",
            json={"amount": 2_500, "currency": "INR", "receipt": f"stray-{uuid.uuid4()}"},
            headers=SANDBOX_AUTH,
        )
    ).json()
    payment = (
        await sandbox.post(f"/v1/orders/{order['id']}/pay", json={"outcome": "success"})
    ).json()
    refund = (
        await sandbox.post(
            "/v1/refunds",
            json={"payment_id": payment["id"], "amount": 500},
            headers={**SANDBOX_AUTH, "Idempotency-Key": str(uuid.uuid4())},
        )
    ).json()
    booking_id = await insert_confirmed_booking(sessions)
    async with sessions() as session:
        session.add(
            GatewayTransaction(
                booking_id=booking_id,
                provider="sandbox",
                kind="capture",
                amount=100,
                currency="INR",
                order_id="order_ghost",
                payment_id=f"pay_ghost_{uuid.uuid4().hex[:6]}",
                status="CAPTURED",
                idempotency_key=f"ghost:{uuid.uuid4()}",
                created_at=datetime.now(UTC) - timedelta(minutes=1),
            )
        )
        await session.commit()

    await _run(temporal, settings, ReconcileJob.GATEWAYS, page_size=1)

    unknown_capture = await _open(sessions, "GATEWAY_MISMATCH", f"sandbox:capture:{payment['id']}")
    unknown_refund = await _open(sessions, "GATEWAY_MISMATCH", f"sandbox:refund:{refund['id']}")
    async with sessions() as session:
        ghost = (
            await session.execute(
                select(Alert).where(
                    Alert.kind == "GATEWAY_MISMATCH",
                    Alert.booking_id == booking_id,
                    Alert.resolved_at.is_(None),
                )
            )
        ).scalar_one()
    assert unknown_capture is not None
    assert "captured 2500 INR" in unknown_capture.details
    assert unknown_refund is not None
    assert "sandbox does not list" in ghost.details


async def test_a_job_that_cannot_finish_opens_reconciliation_failed_and_the_next_run_settles_it(
    sessions: SessionFactory, temporal: Client, settings: Settings
) -> None:
    """Stripe refuses the list (401): RECONCILIATION_FAILED opens, a good run settles it."""
    refusing = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(401, json={"error": {}}))
    )
    stripe = StripeGateway(refusing, "https://api.stripe.test", "sk_test_x")
    failing = ReconcileActivities(sessions, temporal, {"stripe": stripe})
    healthy = ReconcileActivities(sessions, temporal, {})

    def on_queue(jobs: ReconcileActivities) -> tuple[Settings, Worker]:
        queue = settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex[:10]}"})
        return queue, build_worker(
            temporal, queue, [jobs.reconcile_gateways, jobs.reconcile_failed]
        )

    async with refusing:
        queue, worker = on_queue(failing)
        async with worker:
            with pytest.raises(WorkflowFailureError):
                await _run(temporal, queue, ReconcileJob.GATEWAYS)
        failed = await _open(sessions, "RECONCILIATION_FAILED", "job:gateways")
        queue, worker = on_queue(healthy)
        async with worker:
            await _run(temporal, queue, ReconcileJob.GATEWAYS)
    settled = await _open(sessions, "RECONCILIATION_FAILED", "job:gateways")

    assert failed is not None
    assert "stripe list_transactions answered 401" in failed.details
    assert settled is None


async def test_purge_deletes_expired_keys_only(
    sessions: SessionFactory, temporal: Client, settings: Settings
) -> None:
    """A key past its TTL is gone after the purge; a live one stays."""
    expired, live = f"old-{uuid.uuid4()}", f"new-{uuid.uuid4()}"
    async with sessions() as session:
        for key, expires in ((expired, -1), (live, 7)):
            session.add(
                IdempotencyRecord(
                    principal="purge-test",
                    scope="test",
                    key=key,
                    request_hash="x",
                    target_id=uuid.uuid4(),
                    expires_at=datetime.now(UTC) + timedelta(days=expires),
                )
            )
        await session.commit()

    result = await _run(temporal, settings, ReconcileJob.PURGE)

    async with sessions() as session:
        left = set(
            await session.scalars(
                select(IdempotencyRecord.key).where(IdempotencyRecord.principal == "purge-test")
            )
        )
    assert left == {live}
    assert result.checked >= 1


async def test_schedules_are_created_once_with_fixed_ids_and_start_the_reconcile_workflow(
    temporal: Client, settings: Settings, engine_worker: Worker
) -> None:
    """Two starts converge on the same six schedules; triggering one runs its job."""
    await ensure_schedules(temporal, settings)
    await ensure_schedules(temporal, settings)
    try:
        described = {
            schedule_id: await temporal.get_schedule_handle(schedule_id).describe()
            for schedule_id in SCHEDULES
        }
        handle = temporal.get_schedule_handle("reconcile-ledger")
        await handle.trigger()
        # A trigger is queued by the scheduler: its run shows up in the schedule's description.
        async with asyncio.timeout(30):
            while True:
                actions = (await handle.describe()).info.recent_actions
                if actions:
                    break
                await asyncio.sleep(0.1)
        action = actions[0].action
        assert isinstance(action, ScheduleActionExecutionStartWorkflow)
        result = await temporal.get_workflow_handle(
            action.workflow_id, result_type=ReconcileResult
        ).result()
    finally:
        for schedule_id in SCHEDULES:
            await temporal.get_schedule_handle(schedule_id).delete()

    every = {
        schedule_id: d.schedule.spec.intervals[0].every for schedule_id, d in described.items()
    }
    assert every == {
        "reconcile-ledger": timedelta(minutes=15),
        "reconcile-ledger-full": timedelta(days=1),
        "reconcile-workflows": timedelta(minutes=15),
        "reconcile-closed-workflows": timedelta(minutes=1),
        "reconcile-gateways": timedelta(hours=1),
        "purge-idempotency": timedelta(days=1),
    }
    assert result.job == ReconcileJob.LEDGER
