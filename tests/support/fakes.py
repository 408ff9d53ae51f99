"""Stand-ins for the engine's activities, registered under the same names, for workflow tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.decision import DecisionActivities
from activities.slots import Held, Payment, PayOnHold
from core.failures import FailureClassifier
from integrations.meetings import JitsiProvider
from models.domain import BookingStatus, MeetingStatus
from models.payloads import (
    SAGA_VERSION,
    BookingInput,
    BookingPolicy,
    BookingRange,
    BookingResult,
    CancelMeetingInput,
    CancelOrderInput,
    ChargeWalletInput,
    ConfirmPaymentInput,
    CreateMeetingInput,
    CreateOrderInput,
    CreateOrderResult,
    CreateResult,
    FindRefundableInput,
    HoldSlotInput,
    MarkRefundProcessedInput,
    MeetingLink,
    MoveBookingInput,
    MoveBookingResult,
    OpenAlertInput,
    PaymentEvent,
    PaymentSpec,
    RecordAuditInput,
    RecordDeclineInput,
    RecordMeetingAlertInput,
    RecoveryPlan,
    RecoveryPlanInput,
    Refundable,
    RefundPaymentInput,
    RefundPaymentResult,
    RefundWalletInput,
    ReleaseSlotInput,
    SendNotificationInput,
    SendNotificationResult,
    SettleAlertInput,
    SlotHold,
)
from worker import SANDBOX
from workflows.booking import BookingWorkflow


@dataclass
class FakeSteps:
    """Records what the workflow asked for; knobs make steps fail."""

    clock: datetime = field(default_factory=lambda: datetime.now(UTC))
    # How long after the booking is made its slot starts, and how long it lasts.
    starts_in: timedelta = timedelta(days=1)
    length: timedelta = timedelta(hours=1)
    # The booking's workflow, when a test keeps it here for its helpers.
    handle: WorkflowHandle[Any, Any] | None = None
    amount: int = 5_000
    # The resource's meeting provider: jitsi's link is made in the wallet decision;
    # any other is made by the create_meeting step after it.
    meeting_provider: str = "jitsi"
    charge_error: Exception | None = None
    order_error: Exception | None = None
    refund_error: Exception | None = None
    # What is left of a payment to refund (None: all of it), as an operator's refund leaves it.
    refund_left: int | None = None
    meeting_works: bool = True
    calls: list[str] = field(default_factory=list)
    releases: list[ReleaseSlotInput] = field(default_factory=list)
    refunds: list[RefundPaymentInput] = field(default_factory=list)
    wallet_refunds: list[RefundWalletInput] = field(default_factory=list)
    moves: list[MoveBookingInput] = field(default_factory=list)
    notifications: list[SendNotificationInput] = field(default_factory=list)
    # What a move costs (positive) or saves (negative).
    move_difference: int = 0
    flags: list[str] = field(default_factory=list)
    release_times: list[datetime] = field(default_factory=list)
    alerted: asyncio.Event = field(default_factory=asyncio.Event)
    meeting_ready: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)
    refunded: asyncio.Event = field(default_factory=asyncio.Event)
    # Activity name -> the error every call of it raises (until removed).
    faults: dict[str, BaseException] = field(default_factory=dict)
    # (activity name, Temporal's attempt number) of every call that raised its fault.
    failed_attempts: list[tuple[str, int]] = field(default_factory=list)

    def _fault(self, name: str) -> None:
        """Raise the fault injected into activity ``name``, if any (the call is recorded first)."""
        fault = self.faults.get(name)
        if fault is not None:
            self.calls.append(f"{name}!")
            self.failed_attempts.append((name, activity.info().attempt))
            raise fault

    def activities(self) -> list[Callable[..., Any]]:  # noqa: C901 - one fake per activity
        """One fake per engine activity, each registered under the real activity's name."""

        @activity.defn(name="hold_slot")
        async def hold_slot(request: HoldSlotInput) -> SlotHold:
            self._fault("hold_slot")
            self.calls.append("hold_slot")
            # The server's clock, which earlier tests have skipped ahead.
            starts = self.clock + self.starts_in
            return SlotHold(
                booking_id=request.booking_id,
                slot_id=request.slot_id,
                resource_id=uuid.uuid4(),
                amount=self.amount,
                currency="INR",
                starts_at=starts,
                ends_at=starts + self.length,
                meeting_provider=self.meeting_provider,
            )

        @activity.defn(name="charge_wallet")
        async def charge_wallet(request: ChargeWalletInput) -> None:
            self._fault("charge_wallet")
            self.calls.append("charge_wallet")
            if self.charge_error is not None:
                raise self.charge_error

        steps = self

        class Halves:
            """The fakes as the decision's halves and its mail, so the real decide_wallet runs."""

            async def hold(self, request: HoldSlotInput, pay: PayOnHold | None = None) -> Held:
                # Never paid with the hold: the debit stays its own half, to fail on its own.
                return Held(await hold_slot(request))

            async def pay_on_hold(self, *args: object) -> Payment | None:
                raise AssertionError("the fake hold never pays")

            async def charge(
                self, request: ChargeWalletInput, meeting: MeetingLink | None = None
            ) -> None:
                await charge_wallet(request)
                if meeting is not None:
                    steps.meeting_ready.set()

            async def deliver(
                self, request: SendNotificationInput, *, smtp_timeout: float = 0
            ) -> SendNotificationResult:
                return await send_notification(request)

        offline = {"jitsi": JitsiProvider("https://meet.example", b"test-meeting-key")}
        decision = DecisionActivities(Halves(), Halves(), offline, Halves())

        @activity.defn(name="release_slot")
        async def release_slot(request: ReleaseSlotInput) -> None:
            self._fault("release_slot")
            self.calls.append("release_slot")
            self.releases.append(request)
            self.release_times.append(activity.info().scheduled_time)
            self.released.set()

        @activity.defn(name="refund_wallet")
        async def refund_wallet(request: RefundWalletInput) -> int:
            self._fault("refund_wallet")
            self.calls.append("refund_wallet")
            self.wallet_refunds.append(request)
            return self.amount if request.amount is None else request.amount

        @activity.defn(name="create_meeting")
        async def create_meeting(request: CreateMeetingInput) -> MeetingLink:
            self._fault("create_meeting")
            self.calls.append("create_meeting")
            if not self.meeting_works:
                raise ApplicationError("provider answered 503")
            self.meeting_ready.set()
            return MeetingLink(url="https://meet.example/room", external_id="room")

        @activity.defn(name="record_meeting_alert")
        async def record_meeting_alert(request: RecordMeetingAlertInput) -> None:
            self._fault("record_meeting_alert")
            self.calls.append("record_meeting_alert")
            self.alerted.set()

        @activity.defn(name="send_notification")
        async def send_notification(request: SendNotificationInput) -> SendNotificationResult:
            self._fault("send_notification")
            self.calls.append(f"send_notification:{request.kind}")
            self.notifications.append(request)
            return SendNotificationResult(status="SENT")

        @activity.defn(name="create_order")
        async def create_order(request: CreateOrderInput) -> CreateOrderResult:
            self._fault("create_order")
            self.calls.append("create_order")
            if self.order_error is not None:
                raise self.order_error
            return CreateOrderResult(order_id="order_1", checkout_url="https://pay.example/order_1")

        @activity.defn(name="confirm_payment")
        async def confirm_payment(request: ConfirmPaymentInput) -> None:
            self._fault("confirm_payment")
            self.calls.append("confirm_payment")
            self.confirmed.set()

        @activity.defn(name="refund_payment")
        async def refund_payment(request: RefundPaymentInput) -> RefundPaymentResult:
            self._fault("refund_payment")
            self.calls.append("refund_payment")
            if self.refund_error is not None:
                raise self.refund_error
            self.refunds.append(request)
            self.refunded.set()
            left = request.amount if self.refund_left is None else self.refund_left
            return RefundPaymentResult(
                refund_id="rfnd_1", status="PROCESSED", amount=min(request.amount, left)
            )

        @activity.defn(name="mark_refund_processed")
        async def mark_refund_processed(request: MarkRefundProcessedInput) -> None:
            self._fault("mark_refund_processed")
            self.calls.append("mark_refund_processed")

        @activity.defn(name="cancel_order")
        async def cancel_order(request: CancelOrderInput) -> bool:
            self._fault("cancel_order")
            self.calls.append("cancel_order")
            return False

        @activity.defn(name="move_booking")
        async def move_booking(request: MoveBookingInput) -> MoveBookingResult:
            self._fault("move_booking")
            self.calls.append(f"move_booking:{request.move}")
            self.moves.append(request)
            starts = self.clock + timedelta(days=2 + request.move)
            hold = SlotHold(
                booking_id=request.booking_id,
                slot_id=request.slot_id,
                resource_id=uuid.uuid4(),
                amount=self.amount + self.move_difference,
                currency="INR",
                starts_at=starts,
                ends_at=starts + timedelta(hours=1),
                meeting_provider="jitsi",
            )
            return MoveBookingResult(hold=hold, difference=self.move_difference)

        @activity.defn(name="cancel_meeting")
        async def cancel_meeting(request: CancelMeetingInput) -> None:
            self._fault("cancel_meeting")
            self.calls.append("cancel_meeting")

        @activity.defn(name="record_audit")
        async def record_audit(request: RecordAuditInput) -> None:
            self._fault("record_audit")
            self.calls.append(f"record_audit:{request.action}")

        @activity.defn(name="open_alert")
        async def open_alert(request: OpenAlertInput) -> None:
            self._fault("open_alert")
            self.calls.append(f"open_alert:{request.kind}")
            self.flags.append(request.details)

        @activity.defn(name="settle_alert")
        async def settle_alert(request: SettleAlertInput) -> None:
            self._fault("settle_alert")
            self.calls.append(f"settle_alert:{request.kind}")

        @activity.defn(name="record_decline")
        async def record_decline(request: RecordDeclineInput) -> None:
            self._fault("record_decline")
            self.calls.append("record_decline")

        @activity.defn(name="find_refundable")
        async def find_refundable(request: FindRefundableInput) -> Refundable:
            self._fault("find_refundable")
            self.calls.append("find_refundable")
            left = self.amount - sum(r.amount or self.amount for r in self.wallet_refunds)
            return Refundable(method="wallet", currency="INR", remaining=left)

        @activity.defn(name="recovery_plan")
        async def recovery_plan(request: RecoveryPlanInput) -> RecoveryPlan:
            self._fault("recovery_plan")
            self.calls.append("recovery_plan")
            return RecoveryPlan(
                booking_id=request.booking_id,
                status=BookingStatus.CONFIRMED,
                provider=None,
                order_id=None,
                meeting_status=MeetingStatus.READY,
                ends_at=self.clock + self.starts_in + self.length,
            )

        return [
            hold_slot,
            charge_wallet,
            decision.decide_wallet,
            release_slot,
            refund_wallet,
            create_meeting,
            record_meeting_alert,
            send_notification,
            create_order,
            confirm_payment,
            refund_payment,
            mark_refund_processed,
            cancel_order,
            open_alert,
            settle_alert,
            move_booking,
            cancel_meeting,
            record_audit,
            find_refundable,
            record_decline,
            recovery_plan,
        ]


def fake_worker(env: WorkflowEnvironment, steps: FakeSteps) -> tuple[Worker, str]:
    """A worker running the real workflow with ``steps`` on a fresh task queue."""
    queue = f"q-{uuid.uuid4().hex[:10]}"
    worker = Worker(
        env.client,
        task_queue=queue,
        workflows=[BookingWorkflow],
        activities=steps.activities(),
        workflow_runner=SANDBOX,
        # As in production: defects fail at once, transient faults are retried.
        interceptors=[FailureClassifier()],
    )
    return worker, queue


async def start_booking(
    env: WorkflowEnvironment,
    queue: str,
    steps: FakeSteps,
    *,
    payment: PaymentSpec | None = None,
    policy: BookingPolicy | None = None,
    span: BookingRange | None = None,
    saga_version: int = SAGA_VERSION,
) -> tuple[WorkflowHandle[BookingWorkflow, BookingResult], CreateResult]:
    """Start a booking (of a slot, or of ``span``) and send its ``create`` update.

    The time-skipping server has no Update-with-Start; the API's path is
    covered on the dev server. Here: start, then the same update.
    """
    booking_id = uuid.uuid4()
    steps.clock = await env.get_current_time()
    handle = await env.client.start_workflow(
        BookingWorkflow.run,
        BookingInput(
            booking_id=booking_id,
            customer_id=uuid.uuid4(),
            slot_id=None if span else uuid.uuid4(),
            range=span,
            payment=payment or PaymentSpec(method="wallet"),
            policy=policy or BookingPolicy(),
            saga_version=saga_version,
        ),
        id=f"booking-{booking_id}",
        task_queue=queue,
    )
    decision = await handle.execute_update(BookingWorkflow.create, id="create")
    return handle, decision


def captured(
    event_id: str, payment_id: str, amount: int = 5_000, currency: str = "INR"
) -> PaymentEvent:
    """A payment.captured event as the webhook endpoint signals it."""
    return PaymentEvent(
        provider="sandbox",
        event_id=event_id,
        type="payment.captured",
        order_id="order_1",
        payment_id=payment_id,
        amount=amount,
        currency=currency,
    )


def failed(event_id: str, payment_id: str) -> PaymentEvent:
    """A payment.failed event."""
    return PaymentEvent(
        provider="sandbox",
        event_id=event_id,
        type="payment.failed",
        order_id="order_1",
        payment_id=payment_id,
    )
