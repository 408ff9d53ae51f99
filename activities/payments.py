"""Gateway payments: orders, captures, refunds. Money rows and booking state commit together."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.crashpoints import CrashPoint, crash_point
from core.db import SessionFactory
from core.metrics import gateway_timer
from integrations.gateways.base import GatewayError, PaymentGateway
from models.db import Booking, GatewayTransaction
from models.domain import (
    OPEN_REFUND_STATUSES,
    BookingStatus,
    GatewayTransactionKind,
    PaymentMethod,
    PaymentStatus,
    RefundStatus,
    status_after_refund,
)
from models.errors import ErrorCode, business_failure
from models.payloads.common import CreateOrderResult, RefundPaymentResult
from models.payloads.payments import (
    CancelOrderInput,
    ConfirmPaymentInput,
    CreateOrderInput,
    FindRefundableInput,
    MarkRefundProcessedInput,
    RecordDeclineInput,
    Refundable,
    RefundPaymentInput,
)
from models.return_urls import with_query
from store import keys
from store.payments import most_refundable, record_capture, refundable
from store.timeline import record_event

log = structlog.get_logger(__name__)


def gateway_failure(exc: GatewayError, provider: str, step: str, subject_id: object) -> Exception:
    """Log the failed call, then: retryable errors stay retryable, refusals end it for good."""
    log.warning(
        f"payment.{step}_failed",
        subject_id=str(subject_id),
        provider=provider,
        retryable=exc.retryable,
        attempt=activity.info().attempt,
    )
    if exc.retryable:
        return ApplicationError(f"{provider}: {exc}", type="GATEWAY_UNAVAILABLE")
    return business_failure(ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE, f"{provider}: {exc}")


class PaymentActivities:
    """Talk to payment gateways and keep the gateway ledger and bookings in step."""

    def __init__(self, sessions: SessionFactory, gateways: Mapping[str, PaymentGateway]) -> None:
        self._sessions = sessions
        self._gateways = gateways

    def _gateway(self, provider: str) -> PaymentGateway:
        gateway = self._gateways.get(provider)
        if gateway is None:
            raise business_failure(
                ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE, f"provider {provider!r} is not configured"
            )
        return gateway

    @activity.defn(name="create_order")
    async def create_order(self, request: CreateOrderInput) -> CreateOrderResult:
        """Create the order (idempotent per booking) and set the booking AWAITING_PAYMENT."""
        gateway = self._gateway(request.provider)
        try:
            with gateway_timer(request.provider, "create_order"):
                order = await gateway.create_order(
                    booking_id=request.booking_id,
                    amount=request.amount,
                    currency=request.currency,
                    idempotency_key=keys.gateway_order(request.booking_id),
                    expires_at=request.expires_at,
                    return_url=request.return_url
                    and with_query(request.return_url, booking_id=str(request.booking_id)),
                )
        except GatewayError as exc:
            raise gateway_failure(exc, request.provider, "order", request.booking_id) from None
        async with self._sessions() as session:
            booking = await session.get(Booking, request.booking_id, with_for_update=True)
            if booking is None:
                raise business_failure(ErrorCode.BOOKING_NOT_FOUND)
            if booking.status == BookingStatus.HELD:
                booking.status = BookingStatus.AWAITING_PAYMENT
            booking.payment_order_id = order.order_id
            booking.checkout_url = order.checkout_url
            booking.hold_expires_at = request.expires_at
            booking.updated_at = datetime.now(UTC)
            await record_event(
                session,
                booking.id,
                "payment.order_created",
                {"provider": request.provider, "order_id": order.order_id},
            )
            await session.commit()
        return CreateOrderResult(order_id=order.order_id, checkout_url=order.checkout_url)

    @activity.defn(name="confirm_payment")
    async def confirm_payment(self, request: ConfirmPaymentInput) -> None:
        """Record the capture and confirm the booking in one transaction (idempotent)."""
        async with self._sessions() as session:
            booking = await session.get(Booking, request.booking_id, with_for_update=True)
            if booking is None:
                raise business_failure(ErrorCode.BOOKING_NOT_FOUND)
            if booking.status == BookingStatus.CONFIRMED:
                return
            if booking.status != BookingStatus.AWAITING_PAYMENT:
                raise business_failure(ErrorCode.INVALID_STATE, f"booking is {booking.status}")
            await record_capture(
                session,
                booking,
                request.provider,
                request.order_id,
                request.payment_id,
                request.amount,
                request.currency,
            )
            booking.status = BookingStatus.CONFIRMED
            booking.payment_status = PaymentStatus.CAPTURED
            booking.updated_at = datetime.now(UTC)
            await record_event(
                session,
                booking.id,
                "payment.captured",
                {
                    "provider": request.provider,
                    "amount": request.amount,
                    "currency": request.currency,
                    "payment_id": request.payment_id,
                },
            )
            await record_event(session, booking.id, "booking.confirmed")
            await session.commit()
        crash_point(CrashPoint.CAPTURE_RECORDED)
        log.info("payment.confirmed", booking_id=str(request.booking_id))

    @activity.defn(name="refund_payment")
    async def refund_payment(self, request: RefundPaymentInput) -> RefundPaymentResult:
        """Refund one captured payment, exactly once.

        Keyed ``{booking_id}:refund:{payment_id}``, or
        ``{booking_id}:move:{n}:refund:{payment_id}`` for what a move saved.

        The capture and the refund request are written first, in one
        transaction, under the refund-never-exceeds-capture constraint; then
        the gateway is asked with the same key, so a retry after a crash
        neither refunds twice at the gateway nor counts twice here.
        """
        key = keys.gateway_refund(request.booking_id, request.payment_id, request.move, request.ops)
        async with self._sessions() as session:
            booking = await session.get(Booking, request.booking_id, with_for_update=True)
            if booking is None:
                raise business_failure(ErrorCode.BOOKING_NOT_FOUND)
            await record_capture(
                session,
                booking,
                request.provider,
                request.order_id,
                request.payment_id,
                request.amount,
                request.currency,
            )
            made = (
                await session.execute(
                    select(GatewayTransaction.amount, GatewayTransaction.reason).where(
                        GatewayTransaction.idempotency_key == key
                    )
                )
            ).one_or_none()
            # Asked before for another reason: an earlier run of the booking's workflow
            # (a Reset replays its events); the same key gives back nothing new.
            earlier = made is not None and made.reason != request.reason
            asked = made.amount if made is not None else None
            if asked is None:
                # Never more than is left of the payment: an operator may have refunded some.
                asked = min(request.amount, await refundable(session, booking, request.payment_id))
                if asked <= 0:
                    await session.commit()
                    return RefundPaymentResult(
                        refund_id=None, status=RefundStatus.PROCESSED, amount=0
                    )
                await self._request_refund(session, booking, request, key, asked)
            await session.commit()

        gateway = self._gateway(request.provider)
        try:
            with gateway_timer(request.provider, "refund"):
                refund = await gateway.refund(
                    order_id=request.order_id or "",
                    payment_id=request.payment_id,
                    amount=asked,
                    currency=request.currency,
                    idempotency_key=key,
                )
        except GatewayError as exc:
            raise gateway_failure(exc, request.provider, "refund", request.booking_id) from None
        crash_point(CrashPoint.GATEWAY_REFUND_SENT)
        status = (
            RefundStatus.PROCESSED
            if refund.status in ("processed", "succeeded")
            else RefundStatus.PENDING
        )
        async with self._sessions() as session:
            await session.execute(
                update(GatewayTransaction)
                .where(
                    GatewayTransaction.idempotency_key == key,
                    GatewayTransaction.status.in_(OPEN_REFUND_STATUSES),
                )
                .values(external_id=refund.refund_id, status=status, updated_at=datetime.now(UTC))
            )
            await record_event(
                session,
                request.booking_id,
                "payment.refunded",
                {
                    "provider": request.provider,
                    "amount": asked,
                    "payment_id": request.payment_id,
                    "status": status,
                },
                step=keys.refund_step(
                    "payment.refunded", request.payment_id, request.move, request.ops
                ),
            )
            await session.commit()
        log.info("payment.refunded", booking_id=str(request.booking_id), status=status)
        return RefundPaymentResult(
            refund_id=refund.refund_id, status=status, amount=asked, earlier=earlier
        )

    @staticmethod
    async def _request_refund(
        session: AsyncSession,
        booking: Booking,
        request: RefundPaymentInput,
        key: str,
        amount: int,
    ) -> None:
        """Write the refund request (REQUESTED) and count it on the booking, before the gateway."""
        session.add(
            GatewayTransaction(
                booking_id=booking.id,
                provider=request.provider,
                kind=GatewayTransactionKind.REFUND,
                amount=amount,
                currency=request.currency,
                order_id=request.order_id,
                payment_id=request.payment_id,
                status=RefundStatus.REQUESTED,
                reason=request.reason,
                idempotency_key=key,
            )
        )
        booking.refunded_amount += amount
        booking.payment_status = status_after_refund(
            booking.captured_amount, booking.refunded_amount
        )
        booking.updated_at = datetime.now(UTC)
        await record_event(
            session,
            booking.id,
            "payment.refund_requested",
            {
                "provider": request.provider,
                "amount": amount,
                "payment_id": request.payment_id,
                "reason": request.reason,
            },
            step=keys.refund_step(
                "payment.refund_requested", request.payment_id, request.move, request.ops
            ),
        )

    @activity.defn(name="record_decline")
    async def record_decline(self, request: RecordDeclineInput) -> None:
        """A payment attempt failed: the payment is DECLINED until another attempt succeeds."""
        async with self._sessions() as session:
            booking = await session.get(Booking, request.booking_id, with_for_update=True)
            if booking is None:
                raise business_failure(ErrorCode.BOOKING_NOT_FOUND)
            if booking.payment_status == PaymentStatus.PENDING:
                booking.payment_status = PaymentStatus.DECLINED.value
                booking.updated_at = datetime.now(UTC)
            await record_event(
                session,
                booking.id,
                "payment.declined",
                {"provider": request.provider, "payment_id": request.payment_id},
                step=f"payment.declined:{request.event_id}",
            )
            await session.commit()

    @activity.defn(name="find_refundable")
    async def find_refundable(self, request: FindRefundableInput) -> Refundable:
        """What is left to refund of the booking's payment (wallet, or its best gateway capture)."""
        async with self._sessions() as session:
            booking = await session.get(Booking, request.booking_id)
            if booking is None:
                raise business_failure(ErrorCode.BOOKING_NOT_FOUND)
            if booking.payment_method == PaymentMethod.WALLET:
                return Refundable(
                    method=PaymentMethod.WALLET.value,
                    currency=booking.currency,
                    remaining=booking.captured_amount - booking.refunded_amount,
                )
            payment_id, order_id, left = await most_refundable(session, booking)
        return Refundable(
            method=booking.payment_provider or "",
            currency=booking.currency,
            remaining=left,
            payment_id=payment_id or None,
            order_id=order_id,
        )

    @activity.defn(name="mark_refund_processed")
    async def mark_refund_processed(self, request: MarkRefundProcessedInput) -> None:
        """A refund.processed webhook: the pending refund is now settled."""
        async with self._sessions() as session:
            query = update(GatewayTransaction).where(
                GatewayTransaction.booking_id == request.booking_id,
                GatewayTransaction.kind == GatewayTransactionKind.REFUND,
                GatewayTransaction.status.in_(OPEN_REFUND_STATUSES),
            )
            if request.payment_id is not None:
                query = query.where(GatewayTransaction.payment_id == request.payment_id)
            await session.execute(
                query.values(status=RefundStatus.PROCESSED, updated_at=datetime.now(UTC))
            )
            await session.commit()

    @activity.defn(name="cancel_order")
    async def cancel_order(self, request: CancelOrderInput) -> bool:
        """Stop an unpaid order where the gateway allows it; False where it cannot."""
        gateway = self._gateway(request.provider)
        try:
            with gateway_timer(request.provider, "cancel_order"):
                cancelled = await gateway.cancel_order(request.order_id)
        except GatewayError as exc:
            raise gateway_failure(exc, request.provider, "cancel", request.booking_id) from None
        async with self._sessions() as session:
            await record_event(
                session,
                request.booking_id,
                "payment.order_cancelled" if cancelled else "payment.order_left_open",
                {"provider": request.provider, "order_id": request.order_id},
            )
            await session.commit()
        return cancelled
