"""The gateway payment steps: order, payment window, captures, refunds, expiry."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

from workflows.common import (
    BOOKING_STATUS,
    COMPENSATION_RETRY,
    PAYMENT_DEADLINE,
    STEP_TIMEOUT,
    ActivityFailure,
    failure_reason,
    gateway_retry,
)

with workflow.unsafe.imports_passed_through():
    from activities.payments import PaymentActivities
    from core.errors import ErrorCode
    from models.flow import (
        BookingStatus,
        CancelOrderInput,
        ConfirmPaymentInput,
        CreateOrderInput,
        CreateResult,
        Hold,
        PaymentEvent,
        RefundOutcome,
        RefundPaymentInput,
        RefundProcessedInput,
    )


from workflows.steps import BookingSteps


class GatewaySteps(BookingSteps):
    """Take a payment through a gateway and give back money that is not kept."""

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
