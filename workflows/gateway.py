"""The gateway payment: the order, the wait for its webhook, and every payment event after.

The booking workflow takes a gateway payment through :class:`GatewayPayment`:
the order is created, the booking waits (AWAITING_PAYMENT) for the verified
webhooks the API signals until the payment window closes, and a matching
capture confirms it. A capture that does not match the order is held while
the booking waits, so that it cannot block the genuine one; money that never
matched, or that arrives for a booking no longer waiting for it, is refunded
exactly once (the ``payments`` set and the keyed refund), and never more than
the order. Passed through the sandbox
(docs/determinism.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

from models.domain import AttentionKind, BookingStatus, NotificationKind, Reason, RefundStatus
from models.errors import ErrorCode
from models.payloads import (
    ConfirmPaymentInput,
    CreateOrderInput,
    CreateResult,
    MarkRefundProcessedInput,
    PaymentEvent,
    RecordDeclineInput,
)
from workflows.changes import Finish
from workflows.parts import Parts
from workflows.policies import STEP_TIMEOUT, ActivityFailure, gateway_retry
from workflows.saga import Undo, UndoKind, provider_of
from workflows.words import waiting_words

with workflow.unsafe.imports_passed_through():
    from activities.payments import PaymentActivities

# A capture that does not match the order waits for the genuine one (before: it failed
# the booking at once, and a genuine event for the same payment was then ignored).
MISMATCH_WAITS_PATCH = "mismatch-waits-for-genuine"


class GatewayPayment:
    """A booking's payment through a gateway, from its order to the last late capture.

    Args:
        parts: What the workflow's objects share (input, state, runner, view, ...).
        finish: The workflow's unwind (expiry, a mismatched payment).
    """

    def __init__(self, parts: Parts, *, finish: Finish) -> None:
        self._request, self._s, self._steps = parts.request, parts.state, parts.steps
        self._view, self._must, self._notices = parts.view, parts.must, parts.notices
        self._refunds, self._finish = parts.refunds, finish

    async def take(self) -> bool:
        """Order, then wait for the payment webhook until the deadline; True once confirmed."""
        s, hold, policy = self._s, self._s.current_hold(), self._request.policy
        provider = provider_of(self._request)
        deadline = workflow.now() + timedelta(seconds=policy.hold_ttl_seconds)
        self._view.show(f"creating a {provider} order")
        order_request = CreateOrderInput(
            booking_id=hold.booking_id,
            provider=provider,
            amount=hold.amount,
            currency=hold.currency,
            expires_at=deadline,
            return_url=self._request.payment.return_url,
        )
        try:
            order = await self._steps.run(
                PaymentActivities.create_order,
                order_request,
                retry=gateway_retry(policy.gateway_max_attempts),
                attempt=STEP_TIMEOUT,
            )
        except ActivityFailure:
            await self._finish(BookingStatus.FAILED, ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE)
            return False
        s.order_id, s.deadline = order.order_id, deadline
        s.undo.append(Undo(UndoKind.CANCEL_ORDER))
        self.show_waiting(status=BookingStatus.AWAITING_PAYMENT)
        s.decision = CreateResult(booking_id=hold.booking_id, status=BookingStatus.AWAITING_PAYMENT)
        while s.status == BookingStatus.AWAITING_PAYMENT and not s.cancelling:
            event = await self._next_event(deadline)
            if s.cancelling:
                break
            if event is None and s.suspects:
                # Only captures that did not match came: refund them and say so.
                await self._finish(
                    BookingStatus.FAILED,
                    ErrorCode.PAYMENT_MISMATCH,
                    refund_reason="amount or currency differs from the order",
                )
                return False
            if event is None:
                await self._finish(BookingStatus.EXPIRED, Reason.PAYMENT_WINDOW_EXPIRED)
                return False
            await self.on_event(event)
        if s.cancelling:
            # The cancel update finishes the booking; queued events wait for the close.
            await workflow.wait_condition(lambda: s.status == BookingStatus.CANCELLED)
        return s.status == BookingStatus.CONFIRMED

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

    async def on_event(self, event: PaymentEvent) -> None:
        """Act on one verified gateway event: a capture, a decline, a processed refund."""
        s, booking_id = self._s, self._request.booking_id
        if event.type == "payment.captured" and event.payment_id:
            await self._on_capture(event)
        elif event.type == "payment.failed" and s.status == BookingStatus.AWAITING_PAYMENT:
            await self._must.run(
                PaymentActivities.record_decline,
                RecordDeclineInput(
                    booking_id=booking_id,
                    provider=event.provider,
                    event_id=event.event_id,
                    payment_id=event.payment_id,
                ),
                what="recording the declined payment",
            )
            self.show_waiting(note="; the last attempt was declined, the customer may try again")
            await self._notices.send(NotificationKind.PAYMENT_DECLINED, about=event.event_id)
        elif event.type == "refund.processed":
            await self._must.run(
                PaymentActivities.mark_refund_processed,
                MarkRefundProcessedInput(
                    booking_id=booking_id, provider=event.provider, payment_id=event.payment_id
                ),
                what="recording the processed refund",
            )

    async def _on_capture(self, event: PaymentEvent) -> None:
        s, hold = self._s, self._s.current_hold()
        capture = self._refunds.capture_of(event)
        waiting = s.status == BookingStatus.AWAITING_PAYMENT and not s.cancelling
        if capture.payment_id in s.payments or (capture.payment_id in s.suspects and not waiting):
            return
        # The event's own amount decides (the capture's is capped at the order's).
        matches = (event.amount or 0, capture.currency) == (hold.amount, hold.currency)
        if waiting and not matches and workflow.patched(MISMATCH_WAITS_PATCH):
            await self._hold_suspect(capture, event.amount or 0)
            return
        s.payments.add(capture.payment_id or "")
        if waiting:
            # The order is paid: nothing is left to cancel, the capture is what to undo.
            s.undo.remove(Undo(UndoKind.CANCEL_ORDER))
            s.undo.append(capture)
            if not matches:
                await self._refuse_mismatched(capture, event.amount or 0)
                return
            # The money is taken: the booking is confirmed even if this record waits.
            await self._must.run(
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
            self._view.show("confirmed", status=BookingStatus.CONFIRMED)
            await self._give_back_suspects(confirmed_by=capture.payment_id or "")
            return
        # Money for a booking that is no longer waiting for it: give it back.
        late = s.status != BookingStatus.CONFIRMED
        await self._give_back(
            capture,
            f"payment after the booking was {s.status}"
            if late
            else "second payment for a confirmed booking",
        )

    async def _give_back(self, capture: Undo, reason: str) -> None:
        refund = await self._refunds.refund_capture(capture, capture.amount, reason)
        await self._notices.send(
            NotificationKind.PAYMENT_REFUNDED, about=capture.payment_id, refund=refund
        )

    async def _hold_suspect(self, capture: Undo, said: int) -> None:
        """A capture that does not match the order neither confirms nor fails the booking.

        It is kept (and its refund stacked) while the booking waits: a genuine
        event for the same payment confirms it, a genuine other payment
        confirms and this one is refunded, and at the deadline the booking
        fails with PAYMENT_MISMATCH and the unwind refunds it. Either way the
        refund is at most the order (``capture_of``).
        """
        s, hold = self._s, self._s.current_hold()
        payment_id = capture.payment_id or ""
        if payment_id in s.suspects:
            return
        s.suspects[payment_id] = capture
        s.undo.append(capture)
        assert s.deadline is not None
        await self._view.attend(
            AttentionKind.PAYMENT_MISMATCH,
            f"payment {payment_id} of {said} {capture.currency} did not match the order "
            f"({hold.amount} {hold.currency}); the booking waits for the genuine capture "
            f"until {s.deadline:%Y-%m-%d %H:%M} UTC, else it fails and this is refunded",
        )
        self.show_waiting(note=f"; payment {payment_id} did not match the order")

    async def _give_back_suspects(self, *, confirmed_by: str) -> None:
        """Confirmed: a suspect of the same payment was its misreport, any other is refunded."""
        s = self._s
        for payment_id, suspect in list(s.suspects.items()):
            s.undo.remove(suspect)
            s.payments.add(payment_id)
            if payment_id != confirmed_by:
                await self._give_back(suspect, "payment that did not match the order")
        s.suspects.clear()

    async def _refuse_mismatched(self, capture: Undo, said: int) -> None:
        """Never confirm on a payment that does not match the order: refund it and fail.

        ``said`` is the amount the event claims; the refund is the capture's
        (never more than the order).
        """
        hold = self._s.current_hold()
        refund = await self._finish(
            BookingStatus.FAILED,
            ErrorCode.PAYMENT_MISMATCH,
            refund_reason="amount or currency differs from the order",
        )
        given = "it was refunded" if refund and refund.status != RefundStatus.OWED else "it is owed"
        await self._view.attend(
            AttentionKind.PAYMENT_MISMATCH,
            f"payment {capture.payment_id} of {said} {capture.currency} did not match "
            f"the order ({hold.amount} {hold.currency}); {given}",
        )

    def show_waiting(self, *, status: BookingStatus | None = None, note: str = "") -> None:
        """Say what the booking waits for: which payment, for which order, until when."""
        s = self._s
        assert s.deadline is not None
        words = waiting_words(
            provider_of(self._request), self._s.current_hold(), s.order_id, s.deadline, note
        )
        self._view.show(words, status=status)
