"""The booking saga: hold, pay, meeting link, notify; undo in reverse when it falls through.

Read :meth:`BookingWorkflow.run` top to bottom. Each step that commits
something pushes its undo onto ``state.undo`` (before the step, when a failed
attempt may still have committed); failure, expiry and cancellation all end in
:meth:`BookingWorkflow._finish`, which pops that one stack in reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

from workflows.metrics import count_booking, count_refund
from workflows.ops_rules import find_refundable, refund_amount_for, refund_audit, resend_audit
from workflows.policies import (
    DECISION_ATTEMPT_TIMEOUT,
    DECISION_RETRY,
    MEETING_RETRY,
    MUST_ATTEMPT_TIMEOUT,
    MUST_RETRY,
    NOTIFY_RETRY,
    PENDING_RETRY_EVERY,
    PENDING_ROUNDS,
    STEP_ROUND_BOUND,
    STEP_TIMEOUT,
    ActivityFailure,
    failure_message,
    failure_reason,
    gateway_retry,
    is_business_failure,
    refusal,
    refused_by_charge,
    within,
)
from workflows.reminders import next_reminder_at, reminders_due
from workflows.saga import (
    ENDING_NOTICE,
    REFUNDS,
    PendingStep,
    SagaState,
    Undo,
    UndoKind,
    not_movable,
)

with workflow.unsafe.imports_passed_through():
    from temporalio.common import RetryPolicy

    from activities.alerts import AlertActivities
    from activities.audit import AuditActivities
    from activities.decision import DecisionActivities
    from activities.meetings import MeetingActivities
    from activities.notifications import NotificationActivities
    from activities.payments import PaymentActivities
    from activities.slots import SlotActivities
    from activities.wallet import WalletActivities
    from models.domain import (
        ACTIVE_STATUSES,
        TERMINAL_STATUSES,
        AttentionKind,
        BookingStatus,
        MeetingStatus,
        NotificationKind,
        NotificationStatus,
        PaymentMethod,
        Reason,
        RefundStatus,
    )
    from models.errors import ErrorCode
    from models.payloads import (
        BookingInput,
        BookingResult,
        BookingState,
        CancelInput,
        CancelMeetingInput,
        CancelOrderInput,
        CancelResult,
        ChargeWalletInput,
        ConfirmPaymentInput,
        CreateMeetingInput,
        CreateOrderInput,
        CreateResult,
        HoldSlotInput,
        MarkRefundProcessedInput,
        MoveBookingInput,
        OpenAlertInput,
        OpsRefundInput,
        OpsRefundResult,
        PaymentEvent,
        RecordAuditInput,
        RecordDeclineInput,
        RecordMeetingAlertInput,
        RefundInfo,
        RefundPaymentInput,
        RefundWalletInput,
        ReleaseSlotInput,
        RescheduleInput,
        RescheduleResult,
        ResendNotificationInput,
        ResendNotificationResult,
        RetryMeetingInput,
        RetryMeetingResult,
        RetryPendingInput,
        RetryPendingResult,
        SendNotificationInput,
        SettleAlertInput,
        SlotHold,
    )
    from models.refund_policy import refund_amount
    from models.search_attributes import (
        BOOKING_ATTENTION,
        BOOKING_STATUS,
        PAYMENT_DEADLINE,
        RESOURCE_ID,
    )


_In = TypeVar("_In")
_Out = TypeVar("_Out")


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
        self._s = SagaState()
        # Serialises cancel and reschedule: one change at a time, one answer per cancel.
        self._change_lock = asyncio.Lock()
        # Cancel and reschedule updates in flight (the lock's holder and its waiters).
        self._changes = 0

    # ---- the saga ------------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: BookingInput) -> BookingResult:
        """Hold, pay, confirm, meeting link, notify; then serve late events until closing."""
        s = self._s
        wallet = request.payment.method == PaymentMethod.WALLET
        if wallet and request.saga_version >= 2:
            paid = await self._decide_wallet()
        elif not await self._hold_slot():
            paid = False
        elif wallet:
            paid = await self._charge_wallet()  # Saga version 1 (docs/determinism.md).
        else:
            paid = await self._take_gateway_payment()
        if paid:
            if s.meeting != MeetingStatus.READY:
                await self._create_meeting()
            if s.confirmation is None:  # Not sent by the decision step.
                await self._notify(NotificationKind.BOOKING_CONFIRMED)
            s.reminders_since = workflow.now()
            # At its end the booking is COMPLETED (see _serve_until_close).
            self._close_no_later_than(self._current_hold().ends_at)
        elif not wallet and s.hold is not None:
            # Money may still arrive for the order: it is refunded within the window.
            window = timedelta(seconds=request.policy.late_payment_window_seconds)
            self._close_no_later_than(workflow.now() + window)
        else:
            # Closes at once, unless a compensation is still pending (it is retried first).
            self._close_no_later_than(workflow.now())
        await self._serve_until_close()
        workflow.set_current_details(f"completed: {s.status}")
        return await self._result()

    async def _decide_wallet(self) -> bool:
        """Hold, debit and (offline provider) meeting link in one step: the create call's answer.

        With the link made there, the step also tries the confirmation mail;
        ``s.confirmation`` keeps how that went, and run() sends it when it did not.

        Both undos are pushed first: an attempt that timed out may have held,
        and debited. The refund's undo also voids a debit that never happened
        (see refund_wallet). A refusal says which half refused: a refused hold
        took nothing and nobody is told; a refused debit leaves the hold to
        release, and the customer is told.
        """
        s = self._s
        self._show("placing a hold and charging the wallet")
        s.undo += [Undo(UndoKind.RELEASE_SLOT), Undo(UndoKind.REFUND_WALLET)]
        try:
            decision = await self._decide(DecisionActivities.decide_wallet, self._hold_request())
        except ActivityFailure as err:
            after_hold = refused_by_charge(err)
            if is_business_failure(err):
                s.undo.pop()  # The refused debit took nothing.
                if not after_hold:
                    s.undo.pop()  # Nor did the refused hold.
            # Undecided failures (retries exhausted, a defect) are heard by the caller.
            await self._finish(BookingStatus.FAILED, failure_reason(err), notify=after_hold)
            return False
        s.hold, s.confirmation = decision.hold, decision.confirmation
        s.decision = CreateResult(booking_id=s.hold.booking_id, status=BookingStatus.CONFIRMED)
        words = "confirmed"
        if decision.meeting is not None:
            s.undo.append(Undo(UndoKind.CANCEL_MEETING))
            s.meeting = MeetingStatus.READY
            words = self._ready_words()
        self._show(words, status=BookingStatus.CONFIRMED, resource=s.hold)
        return True

    def _hold_request(self) -> HoldSlotInput:
        request = self._request
        return HoldSlotInput(
            booking_id=request.booking_id,
            customer_id=request.customer_id,
            slot_id=request.slot_id,
            range=request.range,
            workflow_id=workflow.info().workflow_id,
            payment=request.payment,
            contact=request.contact,
            max_active_holds=request.policy.max_active_holds,
        )

    async def _hold_slot(self) -> bool:
        s = self._s
        self._show("placing a hold on the slot")
        # Pushed first: a hold attempt that timed out may still have committed.
        s.undo.append(Undo(UndoKind.RELEASE_SLOT))
        try:
            s.hold = await self._decide(SlotActivities.hold_slot, self._hold_request())
        except ActivityFailure as err:
            if is_business_failure(err):
                s.undo.pop()  # A refusal changed nothing (the activity recorded the FAILED row).
            # Nobody was charged, so nobody is told; the caller hears the reason.
            await self._finish(BookingStatus.FAILED, failure_reason(err), notify=False)
            return False
        self._show(f"held: {self._what()}", status=BookingStatus.HELD, resource=s.hold)
        return True

    async def _charge_wallet(self) -> bool:
        s, hold = self._s, self._current_hold()
        self._show(f"charging {hold.price_text or hold.amount} to the wallet for {self._what()}")
        # Pushed first: a debit attempt that timed out may still have committed. Its
        # undo also voids a debit that has not happened (see refund_wallet).
        s.undo.append(Undo(UndoKind.REFUND_WALLET))
        try:
            await self._decide(
                WalletActivities.charge_wallet,
                ChargeWalletInput(
                    booking_id=hold.booking_id,
                    customer_id=self._request.customer_id,
                    amount=hold.amount,
                    currency=hold.currency,
                ),
            )
        except ActivityFailure as err:
            if is_business_failure(err):
                s.undo.pop()
            await self._finish(BookingStatus.FAILED, failure_reason(err))
            return False
        self._show("confirmed", status=BookingStatus.CONFIRMED)
        s.decision = CreateResult(booking_id=hold.booking_id, status=BookingStatus.CONFIRMED)
        return True

    async def _take_gateway_payment(self) -> bool:
        s, hold, policy = self._s, self._current_hold(), self._request.policy
        provider = self._provider()
        deadline = workflow.now() + timedelta(seconds=policy.hold_ttl_seconds)
        self._show(f"creating a {provider} order")
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
            await self._finish(BookingStatus.FAILED, ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE)
            return False
        s.order_id, s.deadline = order.order_id, deadline
        s.undo.append(Undo(UndoKind.CANCEL_ORDER))
        self._show_waiting(status=BookingStatus.AWAITING_PAYMENT)
        s.decision = CreateResult(booking_id=hold.booking_id, status=BookingStatus.AWAITING_PAYMENT)
        while s.status == BookingStatus.AWAITING_PAYMENT and not s.cancelling:
            event = await self._next_event(deadline)
            if s.cancelling:
                break
            if event is None:
                await self._finish(BookingStatus.EXPIRED, Reason.PAYMENT_WINDOW_EXPIRED)
                return False
            await self._on_payment_event(event)
        if s.cancelling:
            # The cancel update finishes the booking; queued events wait for the close.
            await workflow.wait_condition(lambda: s.status == BookingStatus.CANCELLED)
        return s.status == BookingStatus.CONFIRMED

    async def _create_meeting(self) -> bool:
        """Create (or move) the meeting link; False when it is still missing."""
        s = self._s
        if s.status != BookingStatus.CONFIRMED:
            return False
        hold = self._current_hold()
        # Pushed first (once): a cancel racing the creation still cancels the meeting.
        if Undo(UndoKind.CANCEL_MEETING) not in s.undo:
            s.undo.append(Undo(UndoKind.CANCEL_MEETING))
        self._show(f"confirmed; creating the {hold.meeting_provider} meeting link")
        bound = timedelta(seconds=self._request.policy.meeting_alert_after_seconds)
        try:
            await workflow.execute_activity_method(
                MeetingActivities.create_meeting,
                CreateMeetingInput(
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
            alert = f"meeting link still missing after {bound}: {failure_message(err)}"[:300]
            await self._must(
                MeetingActivities.record_meeting_alert,
                RecordMeetingAlertInput(
                    booking_id=hold.booking_id, status=MeetingStatus.PENDING, alert=alert
                ),
                what="recording the meeting alert",
            )
            await self._attend(AttentionKind.MEETING_LINK_FAILING, alert)
            self._show(
                f"confirmed, but the {hold.meeting_provider} meeting link is missing ({alert}). "
                f"Waiting for an operator: POST /v1/ops/bookings/{hold.booking_id}/retry-meeting "
                "(or the retry_meeting signal)"
            )
            return False
        s.meeting = MeetingStatus.READY
        await self._settle(AttentionKind.MEETING_LINK_FAILING, "the meeting link was created")
        self._show(self._ready_words())
        return True

    def _ready_words(self) -> str:
        return (
            "confirmed; meeting link ready; open until the booked time ends "
            f"({self._current_hold().ends_at:%Y-%m-%d %H:%M} UTC)"
        )

    async def _serve_until_close(self) -> None:
        """Until ``close_at``: late payments, meeting links, a moved booking's mail, pending steps.

        A cancellation or a move changes ``close_at``; the wait starts again.
        The workflow does not close while a must-happen step is pending.
        """
        s = self._s
        while True:
            close_at = s.close_at
            assert close_at is not None
            if not self._woken(close_at):
                timeout = self._next_wake(close_at)
                if timeout is None or timeout > timedelta(0):
                    s.idle = True
                    with contextlib.suppress(TimeoutError):
                        await workflow.wait_condition(
                            functools.partial(self._woken, close_at), timeout=timeout
                        )
                    s.idle = False
                    if s.close_at != close_at:
                        continue
            while s.events:
                await self._on_payment_event(s.events.popleft())
            if s.moved_to is not None:
                await self._after_move(s.moved_to)
            if s.meeting_retry_requested:
                await self._retry_meeting()
            await self._send_reminders()
            if s.pending and (s.retry_pending_requested or self._pending_due()):
                await self._retry_pending()
            if s.close_at is not None and s.close_at <= workflow.now() and self._done():
                if s.status != BookingStatus.CONFIRMED:
                    return
                await self._complete()

    async def _retry_meeting(self) -> None:
        """An operator's retry of a missing link; once made, it is mailed (it comes late)."""
        s = self._s
        s.meeting_retry_requested = False
        if s.meeting != MeetingStatus.READY and await self._create_meeting():
            s.calendar_sequence += 1
            await self._notify(
                NotificationKind.MEETING_READY, about=f"meeting:{s.calendar_sequence}"
            )

    async def _after_move(self, move: int) -> None:
        """A moved booking's meeting at the new time, its mail, and its new reminders."""
        s = self._s
        s.moved_to = None
        await self._create_meeting()
        s.calendar_sequence += 1
        difference, refund = s.move_money
        await self._notify(
            NotificationKind.BOOKING_RESCHEDULED,
            about=f"move:{move}",
            refund=refund,
            charged=difference if difference > 0 else None,
        )
        s.reminders_since = workflow.now()

    async def _send_reminders(self) -> None:
        """Send the reminders that fell due; skip those whose time passed before the booking."""
        s = self._s
        if s.status != BookingStatus.CONFIRMED or s.reminders_since is None:
            return
        send, skip = reminders_due(
            self._reminder_offsets(),
            self._current_hold().starts_at,
            move=s.moves,
            since=s.reminders_since,
            now=workflow.now(),
            done=s.reminders_done,
        )
        s.reminders_done.update(skip)
        for reminder in send:
            s.reminders_done.add(reminder)
            await self._notify(NotificationKind.BOOKING_REMINDER, about=reminder.about)

    def _reminder_offsets(self) -> list[timedelta]:
        return [timedelta(seconds=o) for o in self._request.policy.reminder_offsets_seconds]

    async def _complete(self) -> None:
        """The booked time has passed: COMPLETED, the seat given back.

        A gateway booking then listens for late money for the late-payment
        window (a second capture is still refunded); a wallet booking closes.
        """
        s = self._s
        await self._must(
            SlotActivities.release_slot,
            ReleaseSlotInput(booking_id=self._request.booking_id, status=BookingStatus.COMPLETED),
            what="recording the completion",
        )
        self._show("completed: the booked time has passed", status=BookingStatus.COMPLETED)
        window = 0
        if self._request.payment.method == PaymentMethod.GATEWAY:
            window = self._request.policy.late_payment_window_seconds
        s.close_at = workflow.now() + timedelta(seconds=window)

    def _woken(self, close_at: datetime) -> bool:
        s = self._s
        return (
            bool(s.events)
            or s.meeting_retry_requested
            or s.moved_to is not None
            or s.retry_pending_requested
            or s.close_at != close_at
        )

    def _done(self) -> bool:
        s = self._s
        return not (s.events or s.pending or s.moved_to is not None)

    def _next_wake(self, close_at: datetime) -> timedelta | None:
        """How long to sleep: to the close or the next round of pending steps (None: a signal)."""
        s, now = self._s, workflow.now()
        wakes = [close_at - now] if close_at > now else []
        round_at = self._next_round_at()
        if round_at is not None:
            wakes.append(max(round_at - now, timedelta(0)))
        if s.status == BookingStatus.CONFIRMED and s.reminders_since is not None:
            reminder_at = next_reminder_at(
                self._reminder_offsets(), self._current_hold().starts_at, now=now
            )
            if reminder_at is not None:
                wakes.append(reminder_at - now)
        if wakes:
            return min(wakes)
        return None if s.pending else timedelta(0)

    def _next_round_at(self) -> datetime | None:
        """When pending steps are tried again by themselves (None: none, or rounds used up)."""
        s = self._s
        if not s.pending or s.pending_rounds >= PENDING_ROUNDS:
            return None
        return s.next_retry_at

    def _pending_due(self) -> bool:
        round_at = self._next_round_at()
        return round_at is not None and workflow.now() >= round_at

    async def _retry_pending(self) -> None:
        """One round over the pending steps, in order; what succeeds leaves the list."""
        s = self._s
        s.retry_pending_requested = False
        s.pending_rounds += 1
        s.next_retry_at = workflow.now() + PENDING_RETRY_EVERY
        still: list[PendingStep] = []
        failing: dict[AttentionKind, str] = {}
        for step in s.pending:
            try:
                await step.run()
            except ActivityFailure as err:
                still.append(step)
                failing[step.attention] = f"{step.what} is failing ({failure_message(err)})"
        done = {step.attention for step in s.pending} - {step.attention for step in still}
        s.pending = still
        for kind in sorted(done):
            await self._settle(kind, "the pending step went through")
        for kind, reason in failing.items():
            # Opens the alert again if an operator resolved it while the step still fails.
            await self._attend(kind, reason)
        self._show(s.details)

    # ---- the one way a booking ends: unwind the stack ------------------------------------------

    async def _finish(
        self,
        status: BookingStatus,
        reason: str | None,
        *,
        notify: bool = True,
        refund_reason: str | None = None,
    ) -> RefundInfo | None:
        """End the booking as ``status``: run the compensations in reverse, then tell the customer.

        A cancellation refunds per the resource's policy; every other ending
        gives back all that was taken.

        Returns:
            The refund the unwinding made, if any.
        """
        s = self._s
        s.reason = reason
        refund: RefundInfo | None = None
        while s.undo:
            undo = s.undo.pop()
            made = await self._undo(undo, status, refund_reason or f"booking {status.lower()}")
            refund = refund or made
        # There is no meeting once the booking has ended before its time.
        s.meeting = MeetingStatus.CANCELLED
        words = f"{status.lower()}: {reason}" if reason else status.lower()
        self._show(words, status=status)
        if s.decision is None:
            s.decision = CreateResult(
                booking_id=self._request.booking_id, status=status, reason=reason
            )
        if notify:
            s.calendar_sequence += 1
            await self._notify(ENDING_NOTICE[status], refund=refund)
        return refund

    async def _undo(self, undo: Undo, status: BookingStatus, reason: str) -> RefundInfo | None:
        request, s = self._request, self._s
        match undo.kind:
            case UndoKind.RELEASE_SLOT:
                await self._must(
                    SlotActivities.release_slot,
                    ReleaseSlotInput(booking_id=request.booking_id, status=status, reason=s.reason),
                    what="releasing the slot",
                )
            case UndoKind.CANCEL_ORDER:
                await self._cancel_order()
            case UndoKind.CANCEL_MEETING:
                await self._cancel_meeting()
            case UndoKind.REFUND_WALLET if s.hold is None:
                # The decision failed undecided: a debit it may have made is given back
                # whole, or voided (see refund_wallet). The customer was told nothing.
                await self._must(
                    WalletActivities.refund_wallet,
                    RefundWalletInput(booking_id=request.booking_id, amount=None, reason=reason),
                    what="voiding the undecided wallet debit",
                    attention=AttentionKind.REFUND_FAILING,
                )
            case UndoKind.REFUND_WALLET | UndoKind.REFUND_CAPTURE:
                amount = undo.amount if undo.kind == UndoKind.REFUND_CAPTURE else None
                if status == BookingStatus.CANCELLED:
                    hold = self._current_hold()
                    amount = refund_amount(
                        hold.refund_policy,
                        captured=hold.amount,
                        starts_at=hold.starts_at,
                        cancelled_at=workflow.now(),
                    )
                    if amount <= 0:
                        return None
                return await self._refund(amount, reason, paid_by=undo)
        return None

    # ---- money back -----------------------------------------------------------------------------

    async def _refund(
        self,
        amount: int | None,
        reason: str,
        *,
        paid_by: Undo,
        move: int | None = None,
        ops: uuid.UUID | None = None,
    ) -> RefundInfo:
        """Give ``amount`` back the way ``paid_by`` took it (None: all of it).

        ``move`` or ``ops`` (an operator's request) tell this refund from the
        booking's own; the activities never give back more than is left.
        """
        hold = self._current_hold()
        if paid_by.kind == UndoKind.REFUND_WALLET:
            refunded = await self._must(
                WalletActivities.refund_wallet,
                RefundWalletInput(
                    booking_id=hold.booking_id, amount=amount, reason=reason, move=move, ops=ops
                ),
                what=f"the wallet refund ({reason})",
                attention=AttentionKind.REFUND_FAILING,
            )
            if refunded is None:  # Pending: owed until its retry goes through.
                owed = hold.amount if amount is None else amount
                info = RefundInfo(
                    amount=owed, currency=hold.currency, method="wallet", status=RefundStatus.OWED
                )
            else:
                info = RefundInfo(
                    amount=refunded,
                    currency=hold.currency,
                    method="wallet",
                    status=RefundStatus.PROCESSED,
                )
            count_refund(info)
            return info
        given = paid_by.amount if amount is None else amount
        return await self._refund_capture(paid_by, given, reason, move=move, ops=ops)

    async def _refund_capture(
        self,
        capture: Undo,
        amount: int,
        reason: str,
        *,
        move: int | None = None,
        ops: uuid.UUID | None = None,
    ) -> RefundInfo:
        assert capture.payment_id is not None
        provider = self._provider()
        info = RefundInfo(
            amount=amount, currency=capture.currency, method=provider, status=RefundStatus.OWED
        )
        refund = RefundPaymentInput(
            booking_id=self._request.booking_id,
            provider=provider,
            order_id=capture.order_id,
            payment_id=capture.payment_id,
            amount=amount,
            currency=capture.currency,
            reason=reason,
            move=move,
            ops=ops,
        )
        retry = gateway_retry(2 * self._request.policy.gateway_max_attempts)
        try:
            # Bounded like every must-happen step: a cancel may be waiting (and its lock).
            outcome = await self._bounded(
                PaymentActivities.refund_payment, refund, self._step_bound(), retry, STEP_TIMEOUT
            )
        except ActivityFailure as err:
            # The refund request is keyed: it is tried again in rounds, and what is
            # owed stays visible to operators until it goes through.
            again = functools.partial(
                self._bounded,
                PaymentActivities.refund_payment,
                refund,
                STEP_ROUND_BOUND,
                retry,
                STEP_TIMEOUT,
            )
            what = (
                f"the refund of {amount} {capture.currency} for payment {capture.payment_id}"
                " (the money is owed to the customer)"
            )
            await self._defer(
                PendingStep(what, AttentionKind.REFUND_FAILING, again),
                f"{failure_reason(err).value}: {failure_message(err)}",
            )
            count_refund(info)
            return info
        info = info.model_copy(update={"status": outcome.status, "amount": outcome.amount})
        count_refund(info)
        return info

    def _capture_of(self, event: PaymentEvent) -> Undo:
        assert event.payment_id is not None
        return Undo(
            UndoKind.REFUND_CAPTURE,
            payment_id=event.payment_id,
            order_id=event.order_id or self._s.order_id,
            amount=event.amount or 0,
            currency=(event.currency or "").upper(),
        )

    # ---- gateway events -------------------------------------------------------------------------

    async def _next_event(self, deadline: datetime) -> PaymentEvent | None:
        s = self._s
        if not s.events:
            remaining = deadline - workflow.now()
            if remaining <= timedelta(0):
                return None
            s.idle = True
            try:
                await workflow.wait_condition(
                    lambda: bool(s.events) or s.cancelling, timeout=remaining
                )
            except TimeoutError:
                return None
            finally:
                s.idle = False
        if s.cancelling:
            return None
        return s.events.popleft()

    async def _on_payment_event(self, event: PaymentEvent) -> None:
        s = self._s
        if event.type == "payment.captured" and event.payment_id:
            await self._on_capture(event)
        elif event.type == "payment.failed" and s.status == BookingStatus.AWAITING_PAYMENT:
            await self._must(
                PaymentActivities.record_decline,
                RecordDeclineInput(
                    booking_id=self._request.booking_id,
                    provider=event.provider,
                    event_id=event.event_id,
                    payment_id=event.payment_id,
                ),
                what="recording the declined payment",
            )
            self._show_waiting(note="; the last attempt was declined, the customer may try again")
            await self._notify(NotificationKind.PAYMENT_DECLINED, about=event.event_id)
        elif event.type == "refund.processed":
            await self._must(
                PaymentActivities.mark_refund_processed,
                MarkRefundProcessedInput(
                    booking_id=self._request.booking_id,
                    provider=event.provider,
                    payment_id=event.payment_id,
                ),
                what="recording the processed refund",
            )

    async def _on_capture(self, event: PaymentEvent) -> None:
        s, hold = self._s, self._current_hold()
        capture = self._capture_of(event)
        if capture.payment_id in s.payments:
            return
        s.payments.add(capture.payment_id or "")
        if s.status == BookingStatus.AWAITING_PAYMENT and not s.cancelling:
            # The order is paid: nothing is left to cancel, the capture is what to undo.
            s.undo.remove(Undo(UndoKind.CANCEL_ORDER))
            s.undo.append(capture)
            if (capture.amount, capture.currency) != (hold.amount, hold.currency):
                await self._refuse_mismatched(capture)
                return
            # The money is taken: the booking is confirmed even if this record waits.
            await self._must(
                PaymentActivities.confirm_payment,
                ConfirmPaymentInput(
                    booking_id=hold.booking_id,
                    provider=event.provider,
                    order_id=capture.order_id or "",
                    payment_id=capture.payment_id or "",
                    amount=hold.amount,
                    currency=hold.currency,
                ),
                what="recording the payment confirmation",
            )
            self._show("confirmed", status=BookingStatus.CONFIRMED)
            return
        # Money for a booking that is no longer waiting for it: give it back.
        late = s.status != BookingStatus.CONFIRMED
        refund = await self._refund_capture(
            capture,
            capture.amount,
            f"payment after the booking was {s.status}"
            if late
            else "second payment for a confirmed booking",
        )
        await self._notify(
            NotificationKind.PAYMENT_REFUNDED, about=capture.payment_id, refund=refund
        )

    async def _refuse_mismatched(self, capture: Undo) -> None:
        """Never confirm on a payment that does not match the order: refund it and fail."""
        hold = self._current_hold()
        refund = await self._finish(
            BookingStatus.FAILED,
            ErrorCode.PAYMENT_MISMATCH,
            refund_reason="amount or currency differs from the order",
        )
        given = "it was refunded" if refund and refund.status != RefundStatus.OWED else "it is owed"
        await self._attend(
            AttentionKind.PAYMENT_MISMATCH,
            f"payment {capture.payment_id} of {capture.amount} {capture.currency} did not match "
            f"the order ({hold.amount} {hold.currency}); {given}",
        )

    async def _cancel_order(self) -> None:
        if self._s.order_id is None:
            return
        try:
            await workflow.execute_activity_method(
                PaymentActivities.cancel_order,
                CancelOrderInput(
                    booking_id=self._request.booking_id,
                    provider=self._provider(),
                    order_id=self._s.order_id,
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=gateway_retry(self._request.policy.gateway_max_attempts),
            )
        except ActivityFailure:
            workflow.logger.warning("order could not be cancelled; late payments get refunded")

    async def _cancel_meeting(self) -> None:
        try:
            await workflow.execute_activity_method(
                MeetingActivities.cancel_meeting,
                CancelMeetingInput(booking_id=self._request.booking_id),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=gateway_retry(self._request.policy.gateway_max_attempts),
            )
        except ActivityFailure:
            workflow.logger.warning(
                "meeting could not be cancelled; the booking is cancelled anyway"
            )

    # ---- handlers -------------------------------------------------------------------------------

    @workflow.update
    async def create(self) -> CreateResult:
        """Answer the creating caller once the hold and payment step are decided."""
        await workflow.wait_condition(lambda: self._s.decision is not None)
        assert self._s.decision is not None
        return self._s.decision

    @workflow.update
    async def cancel(self, request: CancelInput) -> CancelResult:
        """Cancel: the compensations in reverse (meeting, refund per policy, order, slot).

        Concurrent and repeated cancels get the first one's answer: one refund.
        The mail goes out after the change lock is released.
        """
        s = self._s
        self._changes += 1
        try:
            async with self._change_lock:
                first = s.cancel_result is None
                if first:
                    await workflow.wait_condition(lambda: s.decision is not None)
                    if s.status not in ACTIVE_STATUSES:
                        raise refusal(
                            ErrorCode.BOOKING_NOT_CANCELLABLE, f"the booking is {s.status}"
                        )
                    s.cancel_result = await self._cancel(request)
                result = s.cancel_result
            assert result is not None
            if first:
                s.calendar_sequence += 1
                await self._notify(NotificationKind.BOOKING_CANCELLED, refund=result.refund)
            return result
        finally:
            self._changes -= 1

    @cancel.validator
    def _accept_cancel(self, request: CancelInput) -> None:
        if self._s.cancel_result is None and self._s.status in TERMINAL_STATUSES:
            raise refusal(ErrorCode.BOOKING_NOT_CANCELLABLE, f"the booking is {self._s.status}")

    async def _cancel(self, request: CancelInput) -> CancelResult:
        s = self._s
        s.cancelling = True
        who = "an operator" if request.by_operator else "the customer"
        self._show(f"cancelling at the request of {who}")
        await self._audit(request.actor, "booking.cancel_requested", request.reason, "the cancel")
        refund = await self._finish(
            BookingStatus.CANCELLED,
            Reason.CANCELLED_BY_OPERATOR if request.by_operator else Reason.CANCELLED_BY_CUSTOMER,
            notify=False,
            refund_reason="cancellation",
        )
        # Wallet money cannot arrive late; gateway money can, for a while.
        window = 0
        if self._request.payment.method == PaymentMethod.GATEWAY:
            window = self._request.policy.late_payment_window_seconds
        s.close_at = workflow.now() + timedelta(seconds=window)
        s.moved_to = None
        self._show(f"cancelled by {who}")
        return CancelResult(
            booking_id=self._request.booking_id, status=BookingStatus.CANCELLED, refund=refund
        )

    @workflow.update
    async def reschedule(self, request: RescheduleInput) -> RescheduleResult:
        """Move a confirmed booking to another slot; a cheaper one refunds the difference.

        The answer comes once the move and its refund are done; the new meeting
        link and the mail follow from the main loop, outside the change lock.
        """
        self._changes += 1
        try:
            async with self._change_lock:
                return await self._reschedule(request)
        finally:
            self._changes -= 1

    async def _reschedule(self, request: RescheduleInput) -> RescheduleResult:
        s = self._s
        await workflow.wait_condition(lambda: s.decision is not None)
        if s.status != BookingStatus.CONFIRMED or s.hold is None:
            raise refusal(ErrorCode.INVALID_STATE, not_movable(s.status))
        move = s.moves + 1
        try:
            moved = await workflow.execute_activity_method(
                SlotActivities.move_booking,
                MoveBookingInput(
                    booking_id=s.hold.booking_id,
                    customer_id=self._request.customer_id,
                    slot_id=request.slot_id,
                    range=request.range,
                    allow_wallet_topup=self._request.payment.method == PaymentMethod.WALLET,
                    move=move,
                ),
                start_to_close_timeout=DECISION_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=self._decision_bound(),
                retry_policy=within(DECISION_RETRY, self._decision_bound()),
            )
        except ActivityFailure as err:
            raise refusal(failure_reason(err), failure_message(err)) from None
        s.moves, s.hold = move, moved.hold
        refund = None
        if moved.difference < 0:
            paid_by = next(u for u in s.undo if u.kind in REFUNDS)
            refund = await self._refund(
                -moved.difference, "reschedule to a cheaper time", paid_by=paid_by, move=move
            )
        s.close_at = moved.hold.ends_at
        s.meeting, s.moved_to = MeetingStatus.PENDING, move
        s.move_money = (moved.difference, refund)
        self._show(f"moved to {self._what()}; creating its meeting link")
        return RescheduleResult(
            booking_id=moved.hold.booking_id,
            slot_id=moved.hold.slot_id,
            difference=moved.difference,
            refund=refund,
        )

    @reschedule.validator
    def _accept_reschedule(self, request: RescheduleInput) -> None:
        if self._s.status in TERMINAL_STATUSES:
            raise refusal(ErrorCode.INVALID_STATE, not_movable(self._s.status))

    @workflow.signal
    def payment_event(self, event: PaymentEvent) -> None:
        """A verified gateway webhook for this booking (duplicates are ignored)."""
        if event.event_id in self._s.seen_events:
            return
        self._s.seen_events.add(event.event_id)
        self._s.events.append(event)

    @workflow.signal
    def retry_meeting(self) -> None:
        """Operator asks to try creating the meeting link again (from the Temporal UI)."""
        self._s.meeting_retry_requested = True

    @workflow.update
    async def request_meeting_retry(self, request: RetryMeetingInput) -> RetryMeetingResult:
        """The ops API's retry-meeting: audited, then the main loop tries the link again."""
        # Numbered before the audit is awaited: two retries at once get two audit rows.
        self._s.meeting_retries += 1
        action = f"meeting.retry_requested:{self._s.meeting_retries}"
        await self._audit(request.actor, action, request.note, "the meeting retry")
        self._s.meeting_retry_requested = True
        return RetryMeetingResult(
            booking_id=self._request.booking_id, meeting_status=self._s.meeting
        )

    @request_meeting_retry.validator
    def _accept_meeting_retry(self, request: RetryMeetingInput) -> None:
        s = self._s
        if s.status != BookingStatus.CONFIRMED:
            raise refusal(
                ErrorCode.INVALID_STATE, f"only a CONFIRMED booking has a meeting; it is {s.status}"
            )
        if s.meeting == MeetingStatus.READY:
            raise refusal(ErrorCode.INVALID_STATE, "the meeting link is already there")

    @workflow.update
    async def refund(self, request: OpsRefundInput) -> OpsRefundResult:
        """An operator's refund of some or all of what is left (audited, keyed by the request).

        Serialised with cancel and reschedule; what is left is read inside the
        lock, so a later cancel refunds at most the rest.
        """
        booking_id = self._request.booking_id
        self._changes += 1
        try:
            async with self._change_lock:
                plan = await find_refundable(booking_id, self._decision_bound())
                amount = refund_amount_for(plan, request.amount)
                await self._must(
                    AuditActivities.record_audit,
                    refund_audit(booking_id, request, amount),
                    what="the refund's audit row",
                )
                paid_by = (
                    Undo(UndoKind.REFUND_WALLET)
                    if plan.method == PaymentMethod.WALLET
                    else Undo(
                        UndoKind.REFUND_CAPTURE,
                        payment_id=plan.payment_id,
                        order_id=plan.order_id,
                        amount=plan.remaining,
                        currency=plan.currency,
                    )
                )
                info = await self._refund(
                    amount, request.reason, paid_by=paid_by, ops=request.request_id
                )
        finally:
            self._changes -= 1
        await self._notify(
            NotificationKind.PAYMENT_REFUNDED, about=f"ops:{request.request_id}", refund=info
        )
        return OpsRefundResult(booking_id=booking_id, refund=info)

    @refund.validator
    def _accept_refund(self, request: OpsRefundInput) -> None:
        if self._s.status in (None, BookingStatus.HELD, BookingStatus.AWAITING_PAYMENT):
            raise refusal(ErrorCode.INVALID_STATE, "nothing has been paid for this booking yet")

    @workflow.update
    async def resend_notification(
        self, request: ResendNotificationInput
    ) -> ResendNotificationResult:
        """An operator sends one of the booking's notifications again (audited)."""
        booking_id = self._request.booking_id
        await self._must(
            AuditActivities.record_audit,
            resend_audit(booking_id, request),
            what="the resend's audit row",
        )
        status = await self._notify(request.kind, about=f"resend:{request.request_id}")
        return ResendNotificationResult(booking_id=booking_id, kind=request.kind, status=status)

    @workflow.signal
    def retry_pending_steps(self) -> None:
        """Operator asks to try the pending must-happen steps again now (from the Temporal UI)."""
        self._s.retry_pending_requested = True

    @workflow.update
    async def request_pending_retry(self, request: RetryPendingInput) -> RetryPendingResult:
        """The ops API's retry-pending-steps: audited, then the main loop tries them again."""
        s = self._s
        pending = [step.what for step in s.pending]
        s.pending_retries += 1
        action = f"pending_steps.retry_requested:{s.pending_retries}"
        await self._audit(request.actor, action, request.note, "the pending-steps retry")
        s.retry_pending_requested = True
        return RetryPendingResult(booking_id=self._request.booking_id, pending_steps=pending)

    @request_pending_retry.validator
    def _accept_pending_retry(self, request: RetryPendingInput) -> None:
        if not self._s.pending:
            raise refusal(ErrorCode.INVALID_STATE, "the booking has no pending steps")

    @workflow.signal
    def alert_resolved(self, kind: AttentionKind) -> None:
        """An operator resolved the booking's ``kind`` alert: it leaves ``BookingAttention``.

        A step still pending under that kind keeps being retried, and opens
        the alert again if it fails again.
        """
        self._drop_attention(kind)

    @workflow.query
    def state(self) -> BookingState:
        """The booking as this workflow sees it now."""
        return BookingState(
            booking_id=self._request.booking_id,
            status=self._s.status,
            reason=self._s.reason,
            meeting_status=self._s.meeting,
            idle=self._s.idle and self._changes == 0,
            attention=sorted(self._s.attention),
            pending_steps=[step.what for step in self._s.pending],
        )

    # ---- small helpers --------------------------------------------------------------------------

    def _show(
        self,
        details: str,
        *,
        status: BookingStatus | None = None,
        resource: SlotHold | None = None,
    ) -> None:
        """Set the status, the search attributes and the current details together."""
        s = self._s
        s.details = details
        if status is not None:
            if status != s.status:
                count_booking(status, s.reason)
            s.status = status
            current = workflow.info().typed_search_attributes
            updates: list[SearchAttributeUpdate[Any]] = []
            if current.get(BOOKING_STATUS) != status.value:
                updates.append(BOOKING_STATUS.value_set(status.value))
            if status == BookingStatus.AWAITING_PAYMENT and s.deadline is not None:
                updates.append(PAYMENT_DEADLINE.value_set(s.deadline))
            if resource is not None and current.get(RESOURCE_ID) != str(resource.resource_id):
                updates.append(RESOURCE_ID.value_set(str(resource.resource_id)))
            # The start already carries HELD and the resource: only real changes
            # cost a history event and a visibility write.
            if updates:
                workflow.upsert_search_attributes(updates)
        if s.pending:
            steps = "; ".join(step.what for step in s.pending)
            details += (
                f". Needs attention: {steps}. Last error: {s.attention_note}. Retried every "
                f"{PENDING_RETRY_EVERY}, or at once: POST /v1/ops/bookings/"
                f"{self._request.booking_id}/retry-pending-steps "
                "(or the retry_pending_steps signal)"
            )
        workflow.set_current_details(details)

    def _show_waiting(self, *, status: BookingStatus | None = None, note: str = "") -> None:
        s = self._s
        assert s.deadline is not None
        hold = self._current_hold()
        self._show(
            f"waiting for {self._provider()} payment of {hold.price_text or hold.amount} for "
            f"order {s.order_id} until {s.deadline:%Y-%m-%d %H:%M:%S} UTC{note}; unpaid by "
            "then, the slot is released (EXPIRED)",
            status=status,
        )

    def _what(self) -> str:
        """The booking in words for the details: resource, local start, price (no PII)."""
        hold = self._current_hold()
        if not hold.resource_name:
            return f"slot {hold.slot_id}" if hold.slot_id else f"resource {hold.resource_id}"
        return f"{hold.resource_name}, {hold.starts_text}, {hold.price_text}"

    def _close_no_later_than(self, when: datetime) -> None:
        self._s.close_at = min(when, self._s.close_at or when)

    def _current_hold(self) -> SlotHold:
        assert self._s.hold is not None
        return self._s.hold

    def _provider(self) -> str:
        return self._request.payment.provider or "sandbox"

    def _step_bound(self) -> timedelta:
        return timedelta(seconds=self._request.policy.step_bound_seconds)

    def _decision_bound(self) -> timedelta:
        return timedelta(seconds=self._request.policy.decision_timeout_seconds)

    async def _decide(self, step: Callable[[Any, _In], Awaitable[_Out]], request: _In) -> _Out:
        """Run a step the create call waits for: local (no task-queue round trip), bounded."""
        return await workflow.execute_local_activity_method(
            step,
            request,
            start_to_close_timeout=DECISION_ATTEMPT_TIMEOUT,
            schedule_to_close_timeout=self._decision_bound(),
            retry_policy=within(DECISION_RETRY, self._decision_bound()),
        )

    async def _bounded(
        self,
        step: Callable[[Any, _In], Awaitable[_Out]],
        request: _In,
        bound: timedelta,
        retry: RetryPolicy = MUST_RETRY,
        attempt: timedelta = MUST_ATTEMPT_TIMEOUT,
    ) -> _Out:
        return await workflow.execute_activity_method(
            step,
            request,
            start_to_close_timeout=attempt,
            schedule_to_close_timeout=bound,
            retry_policy=retry,
        )

    async def _must(
        self,
        step: Callable[[Any, _In], Awaitable[_Out]],
        request: _In,
        *,
        what: str,
        attention: AttentionKind = AttentionKind.STEP_FAILING,
    ) -> _Out | None:
        """Run a step that must happen, within a bound; past it, keep it pending (None).

        A pending step is tried again in rounds (see ``workflows.policies``) and
        whenever an operator sends ``retry_pending_steps``; until it is done the
        booking carries ``attention`` and the workflow stays open. Nothing here
        waits without a bound, so a cancel never keeps the change lock for long.
        """
        try:
            return await self._bounded(step, request, self._step_bound())
        except ActivityFailure as err:
            again = functools.partial(self._bounded, step, request, STEP_ROUND_BOUND)
            await self._defer(PendingStep(what, attention, again), failure_message(err))
            return None

    async def _audit(self, actor: str, action: str, reason: str | None, what: str) -> None:
        """The audit row of a request made of the booking (a step that must happen)."""
        await self._must(
            AuditActivities.record_audit,
            RecordAuditInput(
                booking_id=self._request.booking_id, actor=actor, action=action, reason=reason
            ),
            what=f"{what}'s audit row",
        )

    async def _defer(self, step: PendingStep, error: str) -> None:
        s = self._s
        if not s.pending:
            s.next_retry_at = workflow.now() + PENDING_RETRY_EVERY
        s.pending.append(step)
        await self._attend(step.attention, f"{step.what} is failing ({error})")
        self._show(s.details)

    async def _attend(self, kind: AttentionKind, reason: str) -> None:
        """Put the booking in front of operators: search attribute, log event, alert row."""
        s = self._s
        s.attention_note = reason
        if kind not in s.attention:
            s.attention.add(kind)
            self._publish_attention()
        workflow.logger.error("booking needs attention (%s): %s", kind, reason)
        try:
            # Best effort: when the database is what fails, the search attribute still says it.
            await self._bounded(
                AlertActivities.open_alert,
                OpenAlertInput(booking_id=self._request.booking_id, kind=kind, details=reason),
                self._step_bound(),
            )
        except ActivityFailure:
            workflow.logger.warning("the alert could not be stored")

    async def _settle(self, kind: AttentionKind, note: str) -> None:
        """``kind`` no longer needs a person (its step went through): resolve its alert."""
        s = self._s
        if kind not in s.attention:
            return
        self._drop_attention(kind)
        try:
            await self._bounded(
                AlertActivities.settle_alert,
                SettleAlertInput(booking_id=self._request.booking_id, kind=kind, note=note),
                self._step_bound(),
            )
        except ActivityFailure:
            workflow.logger.warning("the alert could not be resolved; an operator can")

    def _drop_attention(self, kind: AttentionKind) -> None:
        if kind in self._s.attention:
            self._s.attention.discard(kind)
            self._publish_attention()

    def _publish_attention(self) -> None:
        workflow.upsert_search_attributes([BOOKING_ATTENTION.value_set(sorted(self._s.attention))])

    async def _notify(
        self,
        kind: NotificationKind,
        *,
        about: str | None = None,
        refund: RefundInfo | None = None,
        charged: int | None = None,
    ) -> NotificationStatus:
        # Local: one SMTP hand-off needs no task-queue round trip or workflow
        # task of its own. The outbox row bounds the delivery attempts; the
        # bound here covers the outbox itself failing (the database down): the
        # booking goes on and operators see NOTIFICATION_FAILED.
        bound = timedelta(seconds=self._request.policy.notify_timeout_seconds)
        try:
            sent = await workflow.execute_local_activity_method(
                NotificationActivities.send_notification,
                SendNotificationInput(
                    booking_id=self._request.booking_id,
                    kind=kind,
                    about=about,
                    sequence=self._s.calendar_sequence,
                    refund=refund,
                    charged=charged,
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                schedule_to_close_timeout=bound,
                retry_policy=within(NOTIFY_RETRY, bound),
            )
        except ActivityFailure as err:
            await self._attend(
                AttentionKind.NOTIFICATION_FAILED,
                f"the {kind} notification could not be queued: {failure_message(err)}",
            )
            return NotificationStatus.FAILED
        return sent.status

    async def _result(self) -> BookingResult:
        # The create update must answer before the run returns, or Temporal
        # fails it with "workflow completed before the update completed".
        await workflow.wait_condition(workflow.all_handlers_finished)
        s = self._s
        assert s.decision is not None
        assert s.status is not None
        return BookingResult(
            booking_id=self._request.booking_id,
            status=s.status,
            reason=s.reason,
            create=s.decision,
        )
