"""Changes to a booking after its decision: cancellation and the refunds of a move."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.common import (
    COMPENSATION_RETRY,
    STEP_TIMEOUT,
    ActivityFailure,
    gateway_retry,
)

with workflow.unsafe.imports_passed_through():
    from activities.audit import AuditActivities
    from activities.meetings import MeetingActivities
    from activities.wallet import WalletActivities
    from models.flow import (
        AuditInput,
        BookingStatus,
        CancelInput,
        CancelMeetingInput,
        CancelResult,
        Hold,
        RefundInfo,
        RefundWalletInput,
    )
    from models.refund_policy import refund_amount


from workflows.gateway import GatewaySteps


class ChangeSteps(GatewaySteps):
    """Cancel a booking (compensations in reverse) and refund what a move saves."""

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
        return await self._give_back(
            hold, amount, "reschedule to a cheaper slot", step=f"reschedule:{hold.slot_id}:refund"
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
        return await self._give_back(hold, amount, "cancellation", step="refund")

    async def _give_back(self, hold: Hold, amount: int, reason: str, *, step: str) -> RefundInfo:
        """Refund ``amount`` the way the booking was paid; ``step`` keys it (one per step)."""
        if self._request.payment.method == "wallet":
            await workflow.execute_activity_method(
                WalletActivities.refund_wallet,
                RefundWalletInput(
                    booking_id=hold.booking_id, amount=amount, reason=reason, step=step
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=COMPENSATION_RETRY,
            )
            status = "PROCESSED"
            method = "wallet"
        else:
            method = self._request.payment.provider or "sandbox"
            assert self._captured_payment is not None
            outcome = await self._refund_gateway(
                provider=method,
                order_id=self._order_id,
                payment_id=self._captured_payment,
                amount=amount,
                currency=hold.currency,
                reason=reason,
                step=step,
            )
            status = outcome.status if outcome is not None else "OWED"
        return RefundInfo(amount=amount, currency=hold.currency, method=method, status=status)

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
