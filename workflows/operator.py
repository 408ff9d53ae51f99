"""An operator's actions on a running booking: refund, resend, retry the link or pending steps.

Each action is audited under its own key before it acts. The refund is
serialised with cancel and reschedule (the change lock); what is left to
refund is read inside the lock, so a later cancel refunds at most the rest.
The retries only raise a flag: the workflow's main loop does the work.
Passed through the sandbox (docs/determinism.md).
"""

from __future__ import annotations

from temporalio import workflow

from models.domain import BookingStatus, MeetingStatus, NotificationKind, PaymentMethod
from models.errors import ErrorCode
from models.payloads import (
    OpsRefundInput,
    OpsRefundResult,
    ResendNotificationInput,
    ResendNotificationResult,
    RetryMeetingInput,
    RetryMeetingResult,
    RetryPendingInput,
    RetryPendingResult,
)
from workflows.changes import Changes
from workflows.ops_rules import find_refundable, refund_amount_for, refund_audit, resend_audit
from workflows.parts import Parts
from workflows.policies import refusal
from workflows.saga import Undo, UndoKind

with workflow.unsafe.imports_passed_through():
    from activities.audit import AuditActivities


class OperatorActions:
    """What an operator can do to a booking whose workflow is running.

    Args:
        parts: What the workflow's objects share (input, state, runner, view, ...).
        changes: The change lock a refund takes.
    """

    def __init__(self, parts: Parts, *, changes: Changes) -> None:
        self._request, self._s, self._steps = parts.request, parts.state, parts.steps
        self._must, self._refunds, self._notices = parts.must, parts.refunds, parts.notices
        self._changes = changes

    async def refund(self, request: OpsRefundInput) -> OpsRefundResult:
        """Refund some or all of what is left (audited, keyed by the request)."""
        booking_id = self._request.booking_id
        with self._changes.counted():
            async with self._changes.lock:
                plan = await find_refundable(booking_id, self._steps.decision_bound)
                amount = refund_amount_for(plan, request.amount)
                await self._must.run(
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
                info = await self._refunds.give_back(
                    amount, request.reason, paid_by=paid_by, ops=request.request_id
                )
        await self._notices.send(
            NotificationKind.PAYMENT_REFUNDED, about=f"ops:{request.request_id}", refund=info
        )
        return OpsRefundResult(booking_id=booking_id, refund=info)

    def accept_refund(self, request: OpsRefundInput) -> None:
        """Refuse a refund of a booking that has not been paid."""
        if self._s.status in (None, BookingStatus.HELD, BookingStatus.AWAITING_PAYMENT):
            raise refusal(ErrorCode.INVALID_STATE, "nothing has been paid for this booking yet")

    async def resend_notification(
        self, request: ResendNotificationInput
    ) -> ResendNotificationResult:
        """Send one of the booking's notifications again (audited)."""
        booking_id = self._request.booking_id
        await self._must.run(
            AuditActivities.record_audit,
            resend_audit(booking_id, request),
            what="the resend's audit row",
        )
        status = await self._notices.send(request.kind, about=f"resend:{request.request_id}")
        return ResendNotificationResult(booking_id=booking_id, kind=request.kind, status=status)

    async def retry_meeting(self, request: RetryMeetingInput) -> RetryMeetingResult:
        """Audit the request, then let the main loop try the link again."""
        s = self._s
        # Numbered before the audit is awaited: two retries at once get two audit rows.
        s.meeting_retries += 1
        action = f"meeting.retry_requested:{s.meeting_retries}"
        await self._must.audit(request.actor, action, request.note, "the meeting retry")
        s.meeting_retry_requested = True
        return RetryMeetingResult(booking_id=self._request.booking_id, meeting_status=s.meeting)

    def accept_meeting_retry(self, request: RetryMeetingInput) -> None:
        """Refuse a retry when there is no meeting to make, or it is made."""
        s = self._s
        if s.status != BookingStatus.CONFIRMED:
            raise refusal(
                ErrorCode.INVALID_STATE, f"only a CONFIRMED booking has a meeting; it is {s.status}"
            )
        if s.meeting == MeetingStatus.READY:
            raise refusal(ErrorCode.INVALID_STATE, "the meeting link is already there")

    async def retry_pending(self, request: RetryPendingInput) -> RetryPendingResult:
        """Audit the request, then let the main loop try the pending steps again now."""
        s = self._s
        pending = [step.what for step in s.pending]
        s.pending_retries += 1
        action = f"pending_steps.retry_requested:{s.pending_retries}"
        await self._must.audit(request.actor, action, request.note, "the pending-steps retry")
        s.retry_pending_requested = True
        return RetryPendingResult(booking_id=self._request.booking_id, pending_steps=pending)

    def accept_pending_retry(self, request: RetryPendingInput) -> None:
        """Refuse when nothing is pending."""
        if not self._s.pending:
            raise refusal(ErrorCode.INVALID_STATE, "the booking has no pending steps")
