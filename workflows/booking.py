"""The booking saga: hold, pay, confirm, meeting link, notify; compensate in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.common import (
    COMPENSATION_RETRY,
    DECISION_ATTEMPT_TIMEOUT,
    DECISION_RETRY,
    DECISION_TIMEOUT,
    STEP_TIMEOUT,
    ActivityFailure,
    failure_reason,
    is_business_failure,
)

with workflow.unsafe.imports_passed_through():
    from activities.slots import SlotActivities
    from activities.wallet import WalletActivities
    from core.errors import ErrorCode
    from models.flow import (
        ACTIVE_STATUSES,
        BookingInput,
        BookingResult,
        BookingState,
        BookingStatus,
        CancelInput,
        CancelResult,
        ChargeWalletInput,
        CreateResult,
        Hold,
        HoldInput,
        MeetingStatus,
        MoveInput,
        PaymentEvent,
        RefundWalletInput,
        RescheduleInput,
        RescheduleResult,
    )


from workflows.changes import ChangeSteps

TERMINAL = frozenset({BookingStatus.FAILED, BookingStatus.EXPIRED, BookingStatus.CANCELLED})


@workflow.defn
class BookingWorkflow(ChangeSteps):
    """One booking, from hold to the end of its slot (or of its late-payment window).

    The ``create`` update (sent with Update-with-Start) returns as soon as the
    hold and payment are decided: CONFIRMED or FAILED for wallets,
    AWAITING_PAYMENT once a gateway order exists. Gateway results arrive as
    ``payment_event`` signals. The workflow stays open after the decision so
    operators can retry a missing meeting link and money that arrives late
    is refunded exactly once.
    """

    @workflow.init
    def __init__(self, request: BookingInput) -> None:
        self._request = request
        self._status: BookingStatus | None = None
        self._reason: str | None = None
        self._decision: CreateResult | None = None
        self._meeting_status = MeetingStatus.PENDING
        self._meeting_retry_requested = False
        self._events: deque[PaymentEvent] = deque()
        self._seen_events: set[str] = set()
        self._order_id: str | None = None
        self._deadline: datetime | None = None
        self._captured_payment: str | None = None
        self._hold: Hold | None = None
        self._cancelling = False
        self._cancel_result: CancelResult | None = None
        self._cancel_lock = asyncio.Lock()
        self._linger_until: datetime | None = None

    @workflow.run
    async def run(self, request: BookingInput) -> BookingResult:
        """Drive the booking through its lifecycle."""
        hold = await self._place_hold()
        if hold is None:
            return await self._result()
        self._hold = hold
        if request.payment.method == "wallet":
            confirmed = await self._charge_wallet(hold)
        else:
            confirmed = await self._take_gateway_payment(hold)
        if confirmed:
            await self._create_meeting(hold)
            await self._notify("booking_confirmed")
            await self._linger(hold, until=hold.ends_at)
        elif request.payment.method == "gateway":
            window = timedelta(seconds=request.policy.late_payment_window_seconds)
            await self._linger(hold, until=workflow.now() + window)
        workflow.set_current_details(f"completed: {self._status}")
        return await self._result()

    @workflow.update
    async def create(self) -> CreateResult:
        """Answer the creating caller once the hold and payment step are decided."""
        await workflow.wait_condition(lambda: self._decision is not None)
        assert self._decision is not None
        return self._decision

    @workflow.update
    async def cancel(self, request: CancelInput) -> CancelResult:
        """Cancel: compensations in reverse (meeting, refund per policy, slot), then notify.

        Concurrent and repeated cancels get the first one's answer: one refund.
        """
        async with self._cancel_lock:
            if self._cancel_result is None:
                await workflow.wait_condition(lambda: self._decision is not None)
                if self._status not in ACTIVE_STATUSES:
                    raise ApplicationError(
                        f"the booking is {self._status}",
                        type=ErrorCode.BOOKING_NOT_CANCELLABLE.value,
                        non_retryable=True,
                    )
                self._cancel_result = await self._cancel(request)
            return self._cancel_result

    @workflow.update
    async def reschedule(self, request: RescheduleInput) -> RescheduleResult:
        """Move a confirmed booking to another slot; a cheaper one refunds the difference."""
        async with self._cancel_lock:
            await workflow.wait_condition(lambda: self._decision is not None)
            hold = self._hold
            if self._status != BookingStatus.CONFIRMED or hold is None:
                raise ApplicationError(
                    f"only a CONFIRMED booking can be moved; this one is {self._status}",
                    type=ErrorCode.INVALID_STATE.value,
                    non_retryable=True,
                )
            try:
                moved = await workflow.execute_activity_method(
                    SlotActivities.move_booking,
                    MoveInput(
                        booking_id=hold.booking_id,
                        customer_id=self._request.customer_id,
                        slot_id=request.slot_id,
                        allow_wallet_topup=self._request.payment.method == "wallet",
                    ),
                    start_to_close_timeout=DECISION_ATTEMPT_TIMEOUT,
                    schedule_to_close_timeout=DECISION_TIMEOUT,
                    retry_policy=DECISION_RETRY,
                )
            except ActivityFailure as err:
                cause = err.cause if isinstance(err, ActivityError) else err
                raise ApplicationError(
                    str(getattr(cause, "message", cause)),
                    type=failure_reason(err).value,
                    non_retryable=True,
                ) from None
            self._hold = moved.hold
            refund = None
            if moved.difference < 0:
                refund = await self._refund_difference(moved.hold, -moved.difference)
            self._linger_until = moved.hold.ends_at
            await self._create_meeting(moved.hold)
            await self._notify("booking_rescheduled")
            return RescheduleResult(
                booking_id=hold.booking_id,
                slot_id=moved.hold.slot_id,
                difference=moved.difference,
                refund=refund,
            )

    @reschedule.validator
    def _accept_reschedule(self, request: RescheduleInput) -> None:
        if self._status in TERMINAL:
            raise ApplicationError(
                f"only a CONFIRMED booking can be moved; this one is {self._status}",
                type=ErrorCode.INVALID_STATE.value,
                non_retryable=True,
            )

    @cancel.validator
    def _accept_cancel(self, request: CancelInput) -> None:
        if self._cancel_result is None and self._status in TERMINAL:
            raise ApplicationError(
                f"the booking is {self._status}",
                type=ErrorCode.BOOKING_NOT_CANCELLABLE.value,
                non_retryable=True,
            )

    @workflow.signal
    def payment_event(self, event: PaymentEvent) -> None:
        """A verified gateway webhook for this booking (duplicates are ignored)."""
        if event.event_id in self._seen_events:
            return
        self._seen_events.add(event.event_id)
        self._events.append(event)

    @workflow.signal
    def retry_meeting(self) -> None:
        """Operator asks to try creating the meeting link again."""
        self._meeting_retry_requested = True

    @workflow.query
    def state(self) -> BookingState:
        """The booking as this workflow sees it now."""
        return BookingState(
            booking_id=self._request.booking_id,
            status=self._status,
            reason=self._reason,
            meeting_status=self._meeting_status,
        )

    async def _place_hold(self) -> Hold | None:
        request = self._request
        workflow.set_current_details("placing a hold on the slot")
        try:
            hold = await workflow.execute_local_activity_method(
                SlotActivities.hold_slot,
                HoldInput(
                    booking_id=request.booking_id,
                    customer_id=request.customer_id,
                    slot_id=request.slot_id,
                    workflow_id=workflow.info().workflow_id,
                    payment=request.payment,
                    contact=request.contact,
                ),
                start_to_close_timeout=DECISION_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=DECISION_TIMEOUT,
                retry_policy=DECISION_RETRY,
            )
        except ActivityFailure as err:
            if not is_business_failure(err):
                # The hold may have committed before the attempt timed out.
                await self._release(BookingStatus.FAILED, failure_reason(err))
            await self._fail(failure_reason(err), notify=False)
            return None
        self._set_status(BookingStatus.HELD, resource=hold)
        return hold

    async def _charge_wallet(self, hold: Hold) -> bool:
        workflow.set_current_details(f"charging wallet {hold.amount} {hold.currency} (minor units)")
        try:
            await workflow.execute_local_activity_method(
                WalletActivities.charge_wallet,
                ChargeWalletInput(
                    booking_id=hold.booking_id,
                    customer_id=self._request.customer_id,
                    amount=hold.amount,
                    currency=hold.currency,
                ),
                start_to_close_timeout=DECISION_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=DECISION_TIMEOUT,
                retry_policy=DECISION_RETRY,
            )
        except ActivityFailure as err:
            reason = failure_reason(err)
            # Release first: it moves the booking out of HELD, so a late charge
            # attempt can no longer debit; then refund whatever did get debited.
            await self._release(BookingStatus.FAILED, reason)
            if not is_business_failure(err):
                await workflow.execute_activity_method(
                    WalletActivities.refund_wallet,
                    RefundWalletInput(booking_id=hold.booking_id),
                    start_to_close_timeout=STEP_TIMEOUT,
                    retry_policy=COMPENSATION_RETRY,
                )
            await self._fail(reason, notify=True)
            return False
        self._set_status(BookingStatus.CONFIRMED)
        self._decision = CreateResult(booking_id=hold.booking_id, status=BookingStatus.CONFIRMED)
        return True

    def _linger_interrupted(self, until: datetime) -> bool:
        return bool(self._events) or self._meeting_retry_requested or self._linger_until != until

    async def _linger(self, hold: Hold, *, until: datetime) -> None:
        """Until ``until``: refund stray payments and serve operator meeting retries.

        A cancellation moves ``until`` to the end of its late-payment window.
        """
        self._linger_until = min(until, self._linger_until or until)
        while True:
            until = self._linger_until
            remaining = until - workflow.now()
            if remaining > timedelta(0) and not self._events:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        functools.partial(self._linger_interrupted, until), timeout=remaining
                    )
                if self._linger_until != until:
                    continue
            while self._events:
                await self._on_payment_event(self._events.popleft(), self._hold or hold)
            if self._meeting_retry_requested:
                self._meeting_retry_requested = False
                confirmed = self._status == BookingStatus.CONFIRMED
                if confirmed and self._meeting_status != MeetingStatus.READY:
                    await self._create_meeting(self._hold or hold)
            if self._linger_until <= workflow.now() and not self._events:
                return
