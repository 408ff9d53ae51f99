"""The booking saga: hold, pay, meeting link, notify; undo in reverse when it falls through.

Read :meth:`BookingWorkflow._saga` top to bottom. Each step that commits
something pushes its undo onto ``state.undo`` (before the step, when a failed
attempt may still have committed); failure, expiry and cancellation all end in
:meth:`BookingWorkflow.finish`, which pops that one stack in reverse. Every
other concern is an object the workflow holds, in a module named for it
(docs/architecture.md); handlers stay on the class as short delegates.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from datetime import datetime, timedelta

from temporalio import workflow

from workflows.attention import OperatorView
from workflows.changes import Changes
from workflows.gateway import GatewayPayment
from workflows.meetings import Meetings
from workflows.notices import Notices
from workflows.operator import OperatorActions
from workflows.parts import Parts
from workflows.pending import MustHappen
from workflows.policies import ActivityFailure, failure_reason, gateway_retry, is_business_failure
from workflows.refunds import Refunds
from workflows.saga import (
    ENDING_NOTICE,
    SagaState,
    Undo,
    UndoKind,
    hold_request,
    late_payment_window,
    provider_of,
)
from workflows.steps import Steps
from workflows.wallet import WalletPayment
from workflows.words import booking_words

with workflow.unsafe.imports_passed_through():
    from activities.meetings import MeetingActivities
    from activities.payments import PaymentActivities
    from activities.slots import SlotActivities
    from models.domain import (
        AttentionKind,
        BookingStatus,
        MeetingStatus,
        NotificationKind,
        PaymentMethod,
    )
    from models.payloads import (
        BookingInput,
        BookingResult,
        BookingState,
        CancelInput,
        CancelMeetingInput,
        CancelOrderInput,
        CancelResult,
        CreateResult,
        OpsRefundInput,
        OpsRefundResult,
        PaymentEvent,
        RefundInfo,
        ReleaseSlotInput,
        RescheduleInput,
        RescheduleResult,
        ResendNotificationInput,
        ResendNotificationResult,
        RetryMeetingInput,
        RetryMeetingResult,
        RetryPendingInput,
        RetryPendingResult,
    )


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
        self._s = s = SagaState()
        booking_id = request.booking_id
        self._steps = steps = Steps.for_policy(request.policy)
        self._view = view = OperatorView(booking_id, s, steps)
        self._must = must = MustHappen(booking_id, s, steps, view)
        self._notices = notices = Notices(request, s, steps, view)
        self._refunds = refunds = Refunds(request, s, steps, must, notices)
        self._meetings = meetings = Meetings(request, s, steps, view, must, notices)
        parts = Parts(request, s, steps, view, must, refunds, notices)
        self._wallet = WalletPayment(request, s, steps, view, finish=self.finish)
        self._gateway = GatewayPayment(parts, finish=self.finish)
        self._changes = changes = Changes(parts, meetings=meetings, finish=self.finish)
        self._ops = OperatorActions(parts, changes=changes)

    # ---- the saga ------------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: BookingInput) -> BookingResult:
        """The saga in a task of its own, so Temporal's cancel never stops it halfway.

        Temporal's cancel (the UI's button, the CLI) cancels this task only; the
        request becomes the booking's own cancel, or is recorded and ignored.
        """
        saga = asyncio.create_task(self._saga(request))
        while True:
            try:
                return await asyncio.shield(saga)
            except asyncio.CancelledError:
                await self._changes.on_temporal_cancel()

    async def _saga(self, request: BookingInput) -> BookingResult:
        """Hold, pay, confirm, meeting link, notify; then serve late events until closing."""
        s = self._s
        wallet = request.payment.method == PaymentMethod.WALLET
        if wallet and request.saga_version >= 2:
            paid = await self._wallet.decide()
        elif not await self._hold_slot():
            paid = False
        elif wallet:
            paid = await self._wallet.charge_after_hold()  # Saga version 1 (docs/determinism.md).
        else:
            paid = await self._gateway.take()
        if paid:
            if s.meeting != MeetingStatus.READY:
                await self._meetings.create()
            if s.confirmation is None:  # Not sent by the decision step.
                await self._notices.send(NotificationKind.BOOKING_CONFIRMED)
            s.reminders_since = workflow.now()
            # At its end the booking is COMPLETED (see _serve_until_close).
            self._close_no_later_than(self._s.current_hold().ends_at)
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

    async def _hold_slot(self) -> bool:
        s = self._s
        self._view.show("placing a hold on the slot")
        # Pushed first: a hold attempt that timed out may still have committed.
        s.undo.append(Undo(UndoKind.RELEASE_SLOT))
        try:
            s.hold = await self._steps.decide(
                SlotActivities.hold_slot, hold_request(self._request, workflow.info().workflow_id)
            )
        except ActivityFailure as err:
            if is_business_failure(err):
                s.undo.pop()  # A refusal changed nothing (the activity recorded the FAILED row).
            # Nobody was charged, so nobody is told; the caller hears the reason.
            await self.finish(BookingStatus.FAILED, failure_reason(err), notify=False)
            return False
        self._view.show(
            f"held: {booking_words(s.hold)}", status=BookingStatus.HELD, resource=s.hold
        )
        return True

    async def _serve_until_close(self) -> None:
        """Until ``close_at``: late payments, meeting links, a moved booking's mail, pending steps.

        A cancellation or a move changes ``close_at``; the wait starts again.
        The workflow does not close while a must-happen step is pending.
        """
        s = self._s
        while True:
            close_at = s.close_at
            assert close_at is not None
            if not self._has_work(close_at):
                timeout = self._sleep_for(close_at)
                if timeout is None or timeout > timedelta(0):
                    s.idle = True
                    with contextlib.suppress(TimeoutError):
                        await workflow.wait_condition(
                            functools.partial(self._has_work, close_at), timeout=timeout
                        )
                    s.idle = False
                    if s.close_at != close_at:
                        continue
            while s.events:
                await self._gateway.on_event(s.events.popleft())
            if s.moved_to is not None:
                await self._changes.after_move()
            if s.meeting_retry_requested:
                await self._meetings.retry()
            await self._notices.send_due_reminders()
            if s.pending and (s.retry_pending_requested or self._must.due()):
                await self._must.retry_round()
            elif s.retry_pending_requested:
                # Asked for after the steps went through by themselves: nothing to retry.
                # (Left set, the loop would never wait again.)
                s.retry_pending_requested = False
            if s.close_at is not None and s.close_at <= workflow.now() and self._done():
                if s.status != BookingStatus.CONFIRMED:
                    return
                await self._complete()

    async def _complete(self) -> None:
        """The booked time has passed: COMPLETED, the seat given back.

        A gateway booking then listens for late money for the late-payment
        window (a second capture is still refunded); a wallet booking closes.
        """
        await self._must.run(
            SlotActivities.release_slot,
            ReleaseSlotInput(booking_id=self._request.booking_id, status=BookingStatus.COMPLETED),
            what="recording the completion",
        )
        self._view.show("completed: the booked time has passed", status=BookingStatus.COMPLETED)
        self._s.close_at = workflow.now() + late_payment_window(self._request)

    def _has_work(self, close_at: datetime) -> bool:
        """Whether the main loop has something to do before ``close_at``."""
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

    def _sleep_for(self, close_at: datetime) -> timedelta | None:
        """How long to sleep: to the close, a pending round or a reminder (None: a signal)."""
        s, now = self._s, workflow.now()
        wakes = [close_at - now] if close_at > now else []
        round_at = self._must.next_round_at()
        if round_at is not None:
            wakes.append(max(round_at - now, timedelta(0)))
        reminder_at = self._notices.next_reminder_at()
        if reminder_at is not None:
            wakes.append(reminder_at - now)
        if wakes:
            return min(wakes)
        return None if s.pending else timedelta(0)

    # ---- the one way a booking ends: unwind the stack ------------------------------------------

    async def finish(
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
        self._view.show(f"{status.lower()}: {reason}" if reason else status.lower(), status=status)
        if s.decision is None:
            s.decision = CreateResult(
                booking_id=self._request.booking_id, status=status, reason=reason
            )
        if notify:
            s.calendar_sequence += 1
            await self._notices.send(ENDING_NOTICE[status], refund=refund)
        return refund

    async def _undo(self, undo: Undo, status: BookingStatus, reason: str) -> RefundInfo | None:
        request, s = self._request, self._s
        match undo.kind:
            case UndoKind.RELEASE_SLOT:
                await self._must.run(
                    SlotActivities.release_slot,
                    ReleaseSlotInput(booking_id=request.booking_id, status=status, reason=s.reason),
                    what="releasing the slot",
                )
            case UndoKind.CANCEL_ORDER if s.order_id is not None:
                await self._steps.best_effort(
                    PaymentActivities.cancel_order,
                    CancelOrderInput(
                        booking_id=request.booking_id,
                        provider=provider_of(self._request),
                        order_id=s.order_id,
                    ),
                    retry=gateway_retry(request.policy.gateway_max_attempts),
                    failed="order could not be cancelled; late payments get refunded",
                )
            case UndoKind.CANCEL_MEETING:
                await self._steps.best_effort(
                    MeetingActivities.cancel_meeting,
                    CancelMeetingInput(booking_id=request.booking_id),
                    retry=gateway_retry(request.policy.gateway_max_attempts),
                    failed="meeting could not be cancelled; the booking is cancelled anyway",
                )
            case UndoKind.REFUND_WALLET | UndoKind.REFUND_CAPTURE:
                return await self._refunds.on_ending(undo, status, reason)
        return None

    # ---- handlers: short delegates --------------------------------------------------------------

    @workflow.update
    async def create(self) -> CreateResult:
        """Answer the creating caller once the hold and payment step are decided."""
        await workflow.wait_condition(lambda: self._s.decision is not None)
        assert self._s.decision is not None
        return self._s.decision

    @workflow.update
    async def cancel(self, request: CancelInput) -> CancelResult:
        """Cancel (see :meth:`workflows.changes.Changes.cancel`)."""
        return await self._changes.cancel(request)

    @cancel.validator
    def _accept_cancel(self, request: CancelInput) -> None:
        self._changes.accept_cancel(request)

    @workflow.update
    async def reschedule(self, request: RescheduleInput) -> RescheduleResult:
        """Move to another slot (see :meth:`workflows.changes.Changes.reschedule`)."""
        return await self._changes.reschedule(request)

    @reschedule.validator
    def _accept_reschedule(self, request: RescheduleInput) -> None:
        self._changes.accept_reschedule(request)

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
        return await self._ops.retry_meeting(request)

    @request_meeting_retry.validator
    def _accept_meeting_retry(self, request: RetryMeetingInput) -> None:
        self._ops.accept_meeting_retry(request)

    @workflow.update
    async def refund(self, request: OpsRefundInput) -> OpsRefundResult:
        """An operator's refund of some or all of what is left (audited, keyed by the request)."""
        return await self._ops.refund(request)

    @refund.validator
    def _accept_refund(self, request: OpsRefundInput) -> None:
        self._ops.accept_refund(request)

    @workflow.update
    async def resend_notification(
        self, request: ResendNotificationInput
    ) -> ResendNotificationResult:
        """An operator sends one of the booking's notifications again (audited)."""
        return await self._ops.resend_notification(request)

    @workflow.signal
    def retry_pending_steps(self) -> None:
        """Operator asks to try the pending must-happen steps again now (from the Temporal UI)."""
        self._s.retry_pending_requested = True

    @workflow.update
    async def request_pending_retry(self, request: RetryPendingInput) -> RetryPendingResult:
        """The ops API's retry-pending-steps: audited, then the main loop tries them again."""
        return await self._ops.retry_pending(request)

    @request_pending_retry.validator
    def _accept_pending_retry(self, request: RetryPendingInput) -> None:
        self._ops.accept_pending_retry(request)

    @workflow.signal
    def alert_resolved(self, kind: AttentionKind) -> None:
        """An operator resolved the booking's ``kind`` alert: it leaves ``BookingAttention``.

        A step still pending under that kind keeps being retried, and opens
        the alert again if it fails again.
        """
        self._view.drop(kind)

    @workflow.query
    def state(self) -> BookingState:
        """The booking as this workflow sees it now."""
        s = self._s
        return BookingState(
            booking_id=self._request.booking_id,
            status=s.status,
            reason=s.reason,
            meeting_status=s.meeting,
            idle=s.idle and self._changes.in_flight == 0,
            attention=sorted(s.attention),
            pending_steps=[step.what for step in s.pending],
        )

    # ---- small helpers --------------------------------------------------------------------------

    def _close_no_later_than(self, when: datetime) -> None:
        self._s.close_at = min(when, self._s.close_at or when)

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
