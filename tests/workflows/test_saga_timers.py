"""Saga decisions and timers on the time-skipping server, activities mocked by name."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models.flow import (
    BookingInput,
    BookingPolicy,
    BookingResult,
    ChargeWalletInput,
    Hold,
    HoldInput,
    Meeting,
    MeetingInput,
    MeetingRecordInput,
    NotifyInput,
    NotifyResult,
    PaymentSpec,
    RefundWalletInput,
    ReleaseInput,
)
from worker import SANDBOX
from workflows.booking import BookingWorkflow

from support import record_history


@dataclass
class FakeSteps:
    """Stand-ins for the engine's activities that record what the workflow asked for."""

    clock: datetime = field(default_factory=lambda: datetime.now(UTC))
    charge_error: Exception | None = None
    meeting_works: bool = True
    calls: list[str] = field(default_factory=list)
    releases: list[ReleaseInput] = field(default_factory=list)
    alerted: asyncio.Event = field(default_factory=asyncio.Event)
    meeting_ready: asyncio.Event = field(default_factory=asyncio.Event)

    def activities(self) -> list[object]:
        @activity.defn(name="hold_slot")
        async def hold_slot(request: HoldInput) -> Hold:
            self.calls.append("hold_slot")
            # The server's clock, which earlier tests have skipped ahead.
            starts = self.clock + timedelta(days=1)
            return Hold(
                booking_id=request.booking_id,
                slot_id=request.slot_id,
                resource_id=uuid.uuid4(),
                amount=5_000,
                currency="INR",
                starts_at=starts,
                ends_at=starts + timedelta(hours=1),
                meeting_provider="jitsi",
            )

        @activity.defn(name="charge_wallet")
        async def charge_wallet(request: ChargeWalletInput) -> None:
            self.calls.append("charge_wallet")
            if self.charge_error is not None:
                raise self.charge_error

        @activity.defn(name="release_slot")
        async def release_slot(request: ReleaseInput) -> None:
            self.calls.append("release_slot")
            self.releases.append(request)

        @activity.defn(name="refund_wallet")
        async def refund_wallet(request: RefundWalletInput) -> int:
            self.calls.append("refund_wallet")
            return 0

        @activity.defn(name="create_meeting")
        async def create_meeting(request: MeetingInput) -> Meeting:
            self.calls.append("create_meeting")
            if not self.meeting_works:
                raise ApplicationError("provider answered 503")
            self.meeting_ready.set()
            return Meeting(url="https://meet.example/room", external_id="room")

        @activity.defn(name="record_meeting_alert")
        async def record_meeting_alert(request: MeetingRecordInput) -> None:
            self.calls.append("record_meeting_alert")
            self.alerted.set()

        @activity.defn(name="send_notification")
        async def send_notification(request: NotifyInput) -> NotifyResult:
            self.calls.append(f"send_notification:{request.kind}")
            return NotifyResult(status="SENT")

        return [
            hold_slot,
            charge_wallet,
            release_slot,
            refund_wallet,
            create_meeting,
            record_meeting_alert,
            send_notification,
        ]


async def _start(
    env: WorkflowEnvironment, queue: str, steps: FakeSteps, *, alert_after: int = 1800
) -> tuple[WorkflowHandle[BookingWorkflow, BookingResult], str]:
    # The time-skipping server has no Update-with-Start; the API's path is covered
    # on the dev server. Here: start, then the same update.
    booking_id = uuid.uuid4()
    steps.clock = await env.get_current_time()
    handle = await env.client.start_workflow(
        BookingWorkflow.run,
        BookingInput(
            booking_id=booking_id,
            customer_id=uuid.uuid4(),
            slot_id=uuid.uuid4(),
            payment=PaymentSpec(method="wallet"),
            policy=BookingPolicy(meeting_alert_after_seconds=alert_after),
        ),
        id=f"booking-{booking_id}",
        task_queue=queue,
    )
    decision = await handle.execute_update(BookingWorkflow.create, id="create")
    return handle, decision.status.value + ":" + str(decision.reason)


def _worker(env: WorkflowEnvironment, steps: FakeSteps) -> tuple[Worker, str]:
    queue = f"q-{uuid.uuid4().hex[:10]}"
    worker = Worker(
        env.client,
        task_queue=queue,
        workflows=[BookingWorkflow],
        activities=steps.activities(),
        workflow_runner=SANDBOX,
    )
    return worker, queue


async def test_confirmed_booking_stays_open_until_its_slot_ends(
    time_env: WorkflowEnvironment,
) -> None:
    """After CONFIRMED the workflow waits out the slot (a day, skipped) and completes CONFIRMED."""
    steps = FakeSteps()
    worker, queue = _worker(time_env, steps)
    async with worker:
        handle, decision = await _start(time_env, queue, steps)
        result = await handle.result()
        await record_history(handle, "wallet_confirmed")

    assert decision == "CONFIRMED:None"
    assert result.status == "CONFIRMED"
    assert steps.calls == [
        "hold_slot",
        "charge_wallet",
        "create_meeting",
        "send_notification:booking_confirmed",
    ]


async def test_insufficient_funds_releases_without_refund(time_env: WorkflowEnvironment) -> None:
    """A business refusal of the debit releases the slot, refunds nothing, and answers FAILED."""
    steps = FakeSteps(
        charge_error=ApplicationError("short", type="INSUFFICIENT_FUNDS", non_retryable=True)
    )
    worker, queue = _worker(time_env, steps)
    async with worker:
        handle, decision = await _start(time_env, queue, steps)
        result = await handle.result()
        await record_history(handle, "wallet_insufficient_funds")

    assert decision == "FAILED:INSUFFICIENT_FUNDS"
    assert (result.status, result.reason) == ("FAILED", "INSUFFICIENT_FUNDS")
    assert [(r.status, r.reason) for r in steps.releases] == [("FAILED", "INSUFFICIENT_FUNDS")]
    assert "refund_wallet" not in steps.calls
    assert steps.calls[-1] == "send_notification:booking_failed"


async def test_unexplained_debit_failure_releases_then_refunds(
    time_env: WorkflowEnvironment,
) -> None:
    """A debit failing for no business reason may have committed: release first, then refund."""
    steps = FakeSteps(charge_error=ApplicationError("?", type="Unexpected", non_retryable=True))
    worker, queue = _worker(time_env, steps)
    async with worker:
        handle, decision = await _start(time_env, queue, steps)
        result = await handle.result()

    assert decision == "FAILED:INTERNAL"
    assert result.status == "FAILED"
    assert steps.calls.index("release_slot") < steps.calls.index("refund_wallet")


async def test_meeting_failure_alerts_keeps_payment_and_operator_retry_fixes_it(
    time_env: WorkflowEnvironment,
) -> None:
    """A provider down past the bound: alert, no refund, PENDING; a retry signal makes it READY."""
    steps = FakeSteps(meeting_works=False)
    worker, queue = _worker(time_env, steps)
    async with worker:
        handle, decision = await _start(time_env, queue, steps, alert_after=600)
        # Time skips only while the test waits on the server: skip past the bound.
        await time_env.sleep(timedelta(seconds=650))
        await asyncio.wait_for(steps.alerted.wait(), timeout=30)
        pending = await handle.query(BookingWorkflow.state)

        steps.meeting_works = True
        await handle.signal(BookingWorkflow.retry_meeting)
        await asyncio.wait_for(steps.meeting_ready.wait(), timeout=30)
        result = await handle.result()
        await record_history(handle, "meeting_alert_then_retry")

    assert decision == "CONFIRMED:None"
    assert (pending.status, pending.meeting_status) == ("CONFIRMED", "PENDING")
    assert "refund_wallet" not in steps.calls
    assert "release_slot" not in steps.calls
    assert steps.calls.count("create_meeting") > 2
    assert result.status == "CONFIRMED"
