"""Operator actions on a booking: the rules both workflows share, and the workflow for closed ones.

While a booking's own workflow runs, an operator's refund or resent
notification is one of its updates (:class:`workflows.booking.BookingWorkflow`),
serialised with cancel and reschedule. Once it has closed (a cancelled wallet
booking, a booking whose time has passed) the same actions go to
:class:`BookingOpsWorkflow`, one per booking (``booking-{id}-ops``), started
with Update-with-Start and serialised by its own lock. Both ask PostgreSQL what
is left to refund inside their lock, so no two refunds can overlap.

A booking whose own workflow is gone while the booking is still active (an
operator terminated it in the Temporal UI) is found by reconciliation
(WORKFLOW_MISSING) and finished here by the ``recover`` action.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow

from workflows.metrics import count_refund
from workflows.ops_rules import find_refundable, refund_amount_for, refund_audit, resend_audit
from workflows.policies import (
    STEP_TIMEOUT,
    ActivityFailure,
    failure_message,
    gateway_retry,
)
from workflows.steps import Steps

with workflow.unsafe.imports_passed_through():
    from activities.alerts import AlertActivities
    from activities.audit import AuditActivities
    from activities.meetings import MeetingActivities
    from activities.payments import PaymentActivities
    from activities.recovery import RecoveryActivities
    from activities.slots import SlotActivities
    from activities.wallet import WalletActivities
    from models.domain import (
        ACTIVE_STATUSES,
        AttentionKind,
        BookingStatus,
        MeetingStatus,
        NotificationKind,
        NotificationStatus,
        PaymentMethod,
        Reason,
        RefundStatus,
    )
    from models.payloads import (
        BookingOpsInput,
        CancelMeetingInput,
        CancelOrderInput,
        OpenAlertInput,
        OpsRefundInput,
        OpsRefundResult,
        RecordAuditInput,
        RecoverInput,
        RecoverResult,
        RecoveryPlan,
        RecoveryPlanInput,
        Refundable,
        RefundInfo,
        RefundPaymentInput,
        RefundWalletInput,
        ReleaseSlotInput,
        ResendNotificationInput,
        ResendNotificationResult,
        SendNotificationInput,
        SettleAlertInput,
    )

_In = TypeVar("_In")
_Out = TypeVar("_Out")

# How long the ops workflow of a closed booking waits for another action before it closes.
LINGER = timedelta(minutes=1)


@workflow.defn
class BookingOpsWorkflow:
    """Operator actions on a booking whose own workflow has closed, one at a time.

    Each action is an update (refund, resend a notification), audited like
    its twin on the booking's workflow. The workflow closes once no action
    has come for :data:`LINGER`; the next action starts it again.
    """

    @workflow.init
    def __init__(self, request: BookingOpsInput) -> None:
        self._request = request
        self._lock = asyncio.Lock()
        self._steps = Steps.for_policy(request.policy)

    @workflow.run
    async def run(self, request: BookingOpsInput) -> None:
        """Serve actions until none has come for a while."""
        while True:
            await workflow.wait_condition(workflow.all_handlers_finished)
            try:
                await workflow.wait_condition(
                    lambda: not workflow.all_handlers_finished(), timeout=LINGER
                )
            except TimeoutError:
                if workflow.all_handlers_finished():
                    return

    @workflow.update
    async def refund(self, request: OpsRefundInput) -> OpsRefundResult:
        """Refund some or all of what is left of the booking's payment (audited, keyed)."""
        booking_id = self._request.booking_id
        async with self._lock:
            plan = await find_refundable(booking_id, self._steps.step_bound)
            amount = refund_amount_for(plan, request.amount)
            await self._steps.must(
                AuditActivities.record_audit, refund_audit(booking_id, request, amount)
            )
            info = await self._give_back(plan, amount, request)
        await self._notify(NotificationKind.PAYMENT_REFUNDED, f"ops:{request.request_id}", info)
        return OpsRefundResult(booking_id=booking_id, refund=info)

    @workflow.update
    async def resend_notification(
        self, request: ResendNotificationInput
    ) -> ResendNotificationResult:
        """Send one of the booking's notifications again (audited)."""
        booking_id = self._request.booking_id
        async with self._lock:
            await self._steps.must(AuditActivities.record_audit, resend_audit(booking_id, request))
        status = await self._notify(request.kind, f"resend:{request.request_id}")
        return ResendNotificationResult(booking_id=booking_id, kind=request.kind, status=status)

    @workflow.update
    async def recover(self, request: RecoverInput) -> RecoverResult:
        """Finish a booking whose own workflow is gone (terminated, lost), truthfully.

        Past its end a confirmed booking is COMPLETED; otherwise it is
        cancelled as by an operator: the order and the meeting cancelled,
        all that is left refunded, the slot released, the customer mailed.
        A booking that has ended is left as it is. WORKFLOW_MISSING settles.
        """
        async with self._lock:
            result = await self._recover(request)
        if result.status == BookingStatus.CANCELLED and not result.already:
            about = f"recover:{request.request_id}"
            await self._notify(NotificationKind.BOOKING_CANCELLED, about, result.refund)
        return result

    async def _recover(self, request: RecoverInput) -> RecoverResult:
        booking_id, steps = self._request.booking_id, self._steps
        plan = await steps.must(
            RecoveryActivities.recovery_plan, RecoveryPlanInput(booking_id=booking_id)
        )
        if plan.status not in ACTIVE_STATUSES:
            await self._settle_missing(f"nothing to finish: the booking is {plan.status}")
            return RecoverResult(booking_id=booking_id, status=plan.status, already=True)
        audit = RecordAuditInput(
            booking_id=booking_id,
            actor=request.actor,
            action=f"booking.recovered:{request.request_id}",
            reason=request.note,
        )
        await steps.must(AuditActivities.record_audit, audit)
        if plan.status == BookingStatus.CONFIRMED and plan.ends_at <= workflow.now():
            status, reason, refund = BookingStatus.COMPLETED, None, None
        else:
            status, reason = BookingStatus.CANCELLED, Reason.CANCELLED_BY_OPERATOR
            refund = await self._undo_for_recovery(plan, request)
        release = ReleaseSlotInput(booking_id=booking_id, status=status, reason=reason)
        await steps.must(SlotActivities.release_slot, release)
        await self._settle_missing(f"recovered by {request.actor}: {status}")
        return RecoverResult(booking_id=booking_id, status=status, refund=refund)

    async def _undo_for_recovery(
        self, plan: RecoveryPlan, request: RecoverInput
    ) -> RefundInfo | None:
        """The compensations a lost workflow did not run: order, meeting, every unit paid."""
        retry = gateway_retry(self._request.policy.gateway_max_attempts)
        booking_id = self._request.booking_id
        if plan.status == BookingStatus.AWAITING_PAYMENT and plan.order_id and plan.provider:
            order = CancelOrderInput(
                booking_id=booking_id, provider=plan.provider, order_id=plan.order_id
            )
            await self._steps.best_effort(
                PaymentActivities.cancel_order, order, retry=retry, failed="order not cancelled"
            )
        if plan.meeting_status == MeetingStatus.READY:
            meeting = CancelMeetingInput(booking_id=booking_id)
            await self._steps.best_effort(
                MeetingActivities.cancel_meeting, meeting, retry=retry, failed="meeting kept"
            )
        left = await find_refundable(booking_id, self._steps.step_bound)
        if left.remaining <= 0:
            return None
        refund = OpsRefundInput(
            request_id=request.request_id,
            actor=request.actor,
            reason=f"recovery: {request.note}",
            amount=left.remaining,
        )
        return await self._give_back(left, left.remaining, refund)

    async def _settle_missing(self, note: str) -> None:
        await self._steps.must(
            AlertActivities.settle_alert,
            SettleAlertInput(
                booking_id=self._request.booking_id, kind=AttentionKind.WORKFLOW_MISSING, note=note
            ),
        )

    async def _give_back(
        self, plan: Refundable, amount: int, request: OpsRefundInput
    ) -> RefundInfo:
        """The refund itself; past its bound it opens REFUND_FAILING and keeps trying for a day."""
        try:
            info = await self._refund_once(plan, amount, request, self._steps.step_bound)
            count_refund(info)
            return info
        except ActivityFailure as err:
            await self._steps.must(
                AlertActivities.open_alert,
                OpenAlertInput(
                    booking_id=self._request.booking_id,
                    kind=AttentionKind.REFUND_FAILING,
                    details=f"the operator's refund of {amount} {plan.currency} is failing "
                    f"({failure_message(err)}); retried for a day",
                ),
            )
        info = await self._refund_once(plan, amount, request, timedelta(days=1))
        count_refund(info)
        await self._steps.must(
            AlertActivities.settle_alert,
            SettleAlertInput(
                booking_id=self._request.booking_id,
                kind=AttentionKind.REFUND_FAILING,
                note="the operator's refund went through",
            ),
        )
        return info

    async def _refund_once(
        self, plan: Refundable, amount: int, request: OpsRefundInput, bound: timedelta
    ) -> RefundInfo:
        booking_id = self._request.booking_id
        info = RefundInfo(
            amount=amount, currency=plan.currency, method=plan.method, status=RefundStatus.PROCESSED
        )
        if plan.method == PaymentMethod.WALLET:
            given = await self._steps.run(
                WalletActivities.refund_wallet,
                RefundWalletInput(
                    booking_id=booking_id,
                    amount=amount,
                    reason=request.reason,
                    ops=request.request_id,
                ),
                bound=bound,
            )
            return info.model_copy(update={"amount": given})
        assert plan.payment_id is not None
        outcome = await self._steps.run(
            PaymentActivities.refund_payment,
            RefundPaymentInput(
                booking_id=booking_id,
                provider=plan.method,
                order_id=plan.order_id,
                payment_id=plan.payment_id,
                amount=amount,
                currency=plan.currency,
                reason=request.reason,
                ops=request.request_id,
            ),
            bound=bound,
            retry=gateway_retry(2 * self._request.policy.gateway_max_attempts),
            attempt=STEP_TIMEOUT,
        )
        return info.model_copy(update={"amount": outcome.amount, "status": outcome.status})

    async def _notify(
        self, kind: NotificationKind, about: str, refund: RefundInfo | None = None
    ) -> NotificationStatus:
        request = SendNotificationInput(
            booking_id=self._request.booking_id, kind=kind, about=about, refund=refund
        )
        try:
            return await self._steps.notify(request, local=False)
        except ActivityFailure:
            return NotificationStatus.FAILED
