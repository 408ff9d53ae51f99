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
    BOOKING_STATUS,
    COMPENSATION_RETRY,
    DECISION_ATTEMPT_TIMEOUT,
    DECISION_RETRY,
    DECISION_TIMEOUT,
    MEETING_RETRY,
    NOTIFY_RETRY,
    PAYMENT_DEADLINE,
    RESOURCE_ID,
    STEP_TIMEOUT,
    ActivityFailure,
    failure_reason,
    gateway_retry,
    is_business_failure,
)

with workflow.unsafe.imports_passed_through():
    from activities.audit import AuditActivities
    from activities.meetings import MeetingActivities
    from activities.notifications import NotificationActivities
    from activities.payments import PaymentActivities
    from activities.slots import SlotActivities
    from activities.wallet import WalletActivities
    from core.errors import ErrorCode
    from models.flow import (
        ACTIVE_STATUSES,
        AuditInput,
        BookingInput,
        BookingResult,
        BookingState,
        BookingStatus,
        CancelInput,
        CancelMeetingInput,
        CancelOrderInput,
        CancelResult,
        ChargeWalletInput,
        ConfirmPaymentInput,
        CreateOrderInput,
        CreateResult,
        FlagInput,
        Hold,
        HoldInput,
        MeetingInput,
        MeetingRecordInput,
        MeetingStatus,
        MoveInput,
        NotificationKind,
        NotifyInput,
        PaymentEvent,
        RefundInfo,
        RefundOutcome,
        RefundPaymentInput,
        RefundProcessedInput,
        RefundWalletInput,
        ReleaseInput,
        RescheduleInput,
        RescheduleResult,
    )
    from models.refund_policy import refund_amount


TERMINAL = frozenset({BookingStatus.FAILED, BookingStatus.EXPIRED, BookingStatus.CANCELLED})


@workflow.defn
class BookingWorkflow:
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

    # -- steps ----------------------------------------------------------------

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

    async def _take_gateway_payment(self, hold: Hold) -> bool:
        policy = self._request.policy
        provider = self._request.payment.provider or "sandbox"
        deadline = workflow.now() + timedelta(seconds=policy.hold_ttl_seconds)
        workflow.set_current_details(f"creating a {provider} order")
        try:
            order = await workflow.execute_activity_method(
                PaymentActivities.create_order,
                CreateOrderInput(
                    booking_id=hold.booking_id,
                    provider=provider,
                    amount=hold.amount,
                    currency=hold.currency,
                    expires_at=deadline,
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=gateway_retry(policy.gateway_max_attempts),
            )
        except ActivityFailure:
            await self._release(BookingStatus.FAILED, ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE)
            await self._fail(ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE, notify=True)
            return False
        self._order_id, self._deadline = order.order_id, deadline
        self._status = BookingStatus.AWAITING_PAYMENT
        workflow.upsert_search_attributes(
            [
                BOOKING_STATUS.value_set(BookingStatus.AWAITING_PAYMENT.value),
                PAYMENT_DEADLINE.value_set(deadline),
            ]
        )
        self._await_details(provider)
        self._decision = CreateResult(
            booking_id=hold.booking_id, status=BookingStatus.AWAITING_PAYMENT
        )
        while self._status == BookingStatus.AWAITING_PAYMENT and not self._cancelling:
            event = await self._next_event(deadline)
            if self._cancelling:
                break
            if event is None:
                await self._expire(hold, provider, order.order_id)
                return False
            await self._on_payment_event(event, hold)
        if self._cancelling:
            # The cancel update finishes the booking; queued events stay for _linger.
            await workflow.wait_condition(lambda: self._status == BookingStatus.CANCELLED)
        return self._status == BookingStatus.CONFIRMED

    def _await_details(self, provider: str, note: str = "") -> None:
        assert self._deadline is not None
        workflow.set_current_details(
            f"waiting for {provider} payment for order {self._order_id} until "
            f"{self._deadline:%Y-%m-%d %H:%M:%S} UTC{note}"
        )

    async def _next_event(self, deadline: datetime) -> PaymentEvent | None:
        if not self._events:
            remaining = deadline - workflow.now()
            if remaining <= timedelta(0):
                return None
            try:
                await workflow.wait_condition(
                    lambda: bool(self._events) or self._cancelling, timeout=remaining
                )
            except TimeoutError:
                return None
        if self._cancelling:
            return None
        return self._events.popleft()

    async def _on_payment_event(self, event: PaymentEvent, hold: Hold) -> None:
        if event.type == "payment.captured" and event.payment_id:
            await self._on_capture(event, hold)
        elif event.type == "payment.failed" and self._status == BookingStatus.AWAITING_PAYMENT:
            self._await_details(event.provider, "; the last attempt failed, the customer may retry")
        elif event.type == "refund.processed":
            await workflow.execute_activity_method(
                PaymentActivities.mark_refund_processed,
                RefundProcessedInput(
                    booking_id=hold.booking_id, provider=event.provider, payment_id=event.payment_id
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=COMPENSATION_RETRY,
            )

    async def _on_capture(self, event: PaymentEvent, hold: Hold) -> None:
        assert event.payment_id is not None
        if event.payment_id == self._captured_payment:
            return
        awaiting = self._status == BookingStatus.AWAITING_PAYMENT and not self._cancelling
        if awaiting and (event.amount, (event.currency or "").upper()) != (
            hold.amount,
            hold.currency,
        ):
            # Never confirm on a payment that does not match the order.
            await self._refund(event, "amount or currency differs from the order")
            await self._flag(
                f"payment {event.payment_id} of {event.amount} {event.currency} did not match "
                f"the order ({hold.amount} {hold.currency}); it was refunded"
            )
            await self._release(BookingStatus.FAILED, ErrorCode.PAYMENT_MISMATCH)
            await self._fail(ErrorCode.PAYMENT_MISMATCH, notify=True)
            return
        if awaiting:
            await workflow.execute_activity_method(
                PaymentActivities.confirm_payment,
                ConfirmPaymentInput(
                    booking_id=hold.booking_id,
                    provider=event.provider,
                    order_id=event.order_id or self._order_id or "",
                    payment_id=event.payment_id,
                    amount=hold.amount,
                    currency=hold.currency,
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=COMPENSATION_RETRY,
            )
            self._captured_payment = event.payment_id
            self._set_status(BookingStatus.CONFIRMED)
            return
        # Money for a booking that is no longer waiting for it: give it back.
        late = self._status != BookingStatus.CONFIRMED
        await self._refund(
            event,
            f"payment after the booking was {self._status}"
            if late
            else "second payment for a confirmed booking",
        )
        await self._notify("payment_refunded")

    async def _refund(self, event: PaymentEvent, reason: str) -> RefundOutcome | None:
        assert event.payment_id is not None
        return await self._refund_gateway(
            provider=event.provider,
            order_id=event.order_id,
            payment_id=event.payment_id,
            amount=event.amount or 0,
            currency=(event.currency or "").upper(),
            reason=reason,
        )

    async def _refund_gateway(
        self,
        *,
        provider: str,
        order_id: str | None,
        payment_id: str,
        amount: int,
        currency: str,
        reason: str,
        step: str = "refund",
    ) -> RefundOutcome | None:
        try:
            return await workflow.execute_activity_method(
                PaymentActivities.refund_payment,
                RefundPaymentInput(
                    booking_id=self._request.booking_id,
                    provider=provider,
                    order_id=order_id,
                    payment_id=payment_id,
                    amount=amount,
                    currency=currency,
                    reason=reason,
                    step=step,
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=gateway_retry(2 * self._request.policy.gateway_max_attempts),
            )
        except ActivityFailure as err:
            # The refund request is recorded; what is owed stays visible to operators.
            await self._flag(
                f"refund of {amount} {currency} for payment {payment_id} failed "
                f"({failure_reason(err).value}); the money is owed to the customer"
            )
            return None

    async def _cancel(self, request: CancelInput) -> CancelResult:
        hold = self._hold
        assert hold is not None
        self._cancelling = True
        was = self._status
        who = "an operator" if request.by_operator else "the customer"
        workflow.set_current_details(f"cancelling at the request of {who}")
        await workflow.execute_activity_method(
            AuditActivities.record_audit,
            AuditInput(
                booking_id=hold.booking_id,
                actor=request.actor,
                action="booking.cancel_requested",
                reason=request.reason,
            ),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=COMPENSATION_RETRY,
        )
        refund: RefundInfo | None = None
        if was == BookingStatus.CONFIRMED:
            await self._cancel_meeting(hold)
            refund = await self._refund_for_cancellation(hold)
        elif was == BookingStatus.AWAITING_PAYMENT and self._order_id is not None:
            await self._cancel_order(hold, self._request.payment.provider or "sandbox")
        await self._release(BookingStatus.CANCELLED, None)
        self._set_status(BookingStatus.CANCELLED)
        # Wallet money cannot arrive late; gateway money can, for a while.
        window = 0
        if self._request.payment.method == "gateway":
            window = self._request.policy.late_payment_window_seconds
        self._linger_until = workflow.now() + timedelta(seconds=window)
        workflow.set_current_details(f"cancelled by {who}")
        await self._notify("booking_cancelled")
        return CancelResult(
            booking_id=hold.booking_id, status=BookingStatus.CANCELLED, refund=refund
        )

    async def _refund_difference(self, hold: Hold, amount: int) -> RefundInfo:
        step = f"reschedule:{hold.slot_id}:refund"
        reason = "reschedule to a cheaper slot"
        if self._request.payment.method == "wallet":
            await workflow.execute_activity_method(
                WalletActivities.refund_wallet,
                RefundWalletInput(
                    booking_id=hold.booking_id, amount=amount, reason=reason, step=step
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=COMPENSATION_RETRY,
            )
            return RefundInfo(
                amount=amount, currency=hold.currency, method="wallet", status="PROCESSED"
            )
        provider = self._request.payment.provider or "sandbox"
        assert self._captured_payment is not None
        outcome = await self._refund_gateway(
            provider=provider,
            order_id=self._order_id,
            payment_id=self._captured_payment,
            amount=amount,
            currency=hold.currency,
            reason=reason,
            step=step,
        )
        return RefundInfo(
            amount=amount,
            currency=hold.currency,
            method=provider,
            status=outcome.status if outcome is not None else "OWED",
        )

    async def _refund_for_cancellation(self, hold: Hold) -> RefundInfo | None:
        amount = refund_amount(
            hold.refund_policy,
            captured=hold.amount,
            starts_at=hold.starts_at,
            cancelled_at=workflow.now(),
        )
        if amount <= 0:
            return None
        if self._request.payment.method == "wallet":
            await workflow.execute_activity_method(
                WalletActivities.refund_wallet,
                RefundWalletInput(booking_id=hold.booking_id, amount=amount, reason="cancellation"),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=COMPENSATION_RETRY,
            )
            return RefundInfo(
                amount=amount, currency=hold.currency, method="wallet", status="PROCESSED"
            )
        provider = self._request.payment.provider or "sandbox"
        assert self._captured_payment is not None
        outcome = await self._refund_gateway(
            provider=provider,
            order_id=self._order_id,
            payment_id=self._captured_payment,
            amount=amount,
            currency=hold.currency,
            reason="cancellation",
        )
        return RefundInfo(
            amount=amount,
            currency=hold.currency,
            method=provider,
            status=outcome.status if outcome is not None else "OWED",
        )

    async def _cancel_meeting(self, hold: Hold) -> None:
        try:
            await workflow.execute_activity_method(
                MeetingActivities.cancel_meeting,
                CancelMeetingInput(booking_id=hold.booking_id),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=gateway_retry(5),
            )
        except ActivityFailure:
            workflow.logger.warning(
                "meeting could not be cancelled; the booking is cancelled anyway"
            )

    async def _cancel_order(self, hold: Hold, provider: str) -> None:
        assert self._order_id is not None
        try:
            await workflow.execute_activity_method(
                PaymentActivities.cancel_order,
                CancelOrderInput(
                    booking_id=hold.booking_id, provider=provider, order_id=self._order_id
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=gateway_retry(3),
            )
        except ActivityFailure:
            workflow.logger.warning("order could not be cancelled; late payments get refunded")

    async def _expire(self, hold: Hold, provider: str, order_id: str) -> None:
        await self._cancel_order(hold, provider)
        await self._release(BookingStatus.EXPIRED, None)
        self._set_status(BookingStatus.EXPIRED)
        workflow.set_current_details("expired: no payment before the deadline")
        await self._notify("booking_expired")

    # -- shared -----------------------------------------------------------------

    def _set_status(self, status: BookingStatus, resource: Hold | None = None) -> None:
        self._status = status
        updates = [BOOKING_STATUS.value_set(status.value)]
        if resource is not None:
            updates.append(RESOURCE_ID.value_set(str(resource.resource_id)))
        workflow.upsert_search_attributes(updates)

    async def _release(self, status: BookingStatus, reason: ErrorCode | None) -> None:
        await workflow.execute_activity_method(
            SlotActivities.release_slot,
            ReleaseInput(booking_id=self._request.booking_id, status=status, reason=reason),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=COMPENSATION_RETRY,
        )

    async def _fail(self, reason: ErrorCode, *, notify: bool) -> None:
        self._reason = reason.value
        self._set_status(BookingStatus.FAILED)
        if self._decision is None:
            self._decision = CreateResult(
                booking_id=self._request.booking_id, status=BookingStatus.FAILED, reason=reason
            )
        workflow.set_current_details(f"failed: {reason.value}")
        if notify:
            await self._notify("booking_failed")

    async def _flag(self, reason: str) -> None:
        await workflow.execute_activity_method(
            PaymentActivities.flag_booking,
            FlagInput(booking_id=self._request.booking_id, reason=reason),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=COMPENSATION_RETRY,
        )

    async def _create_meeting(self, hold: Hold) -> None:
        workflow.set_current_details(f"creating the {hold.meeting_provider} meeting link")
        bound = timedelta(seconds=self._request.policy.meeting_alert_after_seconds)
        try:
            await workflow.execute_activity_method(
                MeetingActivities.create_meeting,
                MeetingInput(
                    booking_id=hold.booking_id,
                    provider=hold.meeting_provider,
                    starts_at=hold.starts_at,
                    ends_at=hold.ends_at,
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                schedule_to_close_timeout=bound,
                retry_policy=MEETING_RETRY,
            )
        except ActivityFailure as err:
            # Never refund a paid booking over a meeting link: keep it PENDING,
            # alert operators, and wait for their retry signal.
            alert = f"meeting link still missing after {bound}: {err.cause or err}"
            await workflow.execute_activity_method(
                MeetingActivities.record_meeting_alert,
                MeetingRecordInput(
                    booking_id=hold.booking_id, status=MeetingStatus.PENDING, alert=alert[:300]
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=COMPENSATION_RETRY,
            )
            workflow.set_current_details(
                "confirmed; meeting link creation failing, waiting for an operator "
                "to send the retry_meeting signal"
            )
            return
        self._meeting_status = MeetingStatus.READY
        workflow.set_current_details("confirmed; meeting link ready")

    async def _notify(self, kind: NotificationKind) -> None:
        await workflow.execute_activity_method(
            NotificationActivities.send_notification,
            NotifyInput(booking_id=self._request.booking_id, kind=kind),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=NOTIFY_RETRY,
        )

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

    async def _result(self) -> BookingResult:
        # The create update must answer before the run returns, or Temporal
        # fails it with "workflow completed before the update completed".
        await workflow.wait_condition(workflow.all_handlers_finished)
        assert self._decision is not None
        assert self._status is not None
        return BookingResult(
            booking_id=self._request.booking_id,
            status=self._status,
            reason=self._reason,
            create=self._decision,
        )
