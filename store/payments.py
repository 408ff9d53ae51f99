"""The gateway ledger: captures and refunds as ``gateway_transactions`` rows, once per key."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.db import Booking, GatewayTransaction
from models.domain import GatewayTransactionKind, PaymentStatus
from store import keys


async def record_capture(
    session: AsyncSession,
    booking: Booking,
    provider: str,
    order_id: str | None,
    payment_id: str,
    amount: int,
    currency: str,
) -> bool:
    """Record a capture once; the booking's captured amount grows with it."""
    written = await session.execute(
        insert(GatewayTransaction)
        .values(
            booking_id=booking.id,
            provider=provider,
            kind=GatewayTransactionKind.CAPTURE,
            amount=amount,
            currency=currency,
            order_id=order_id,
            payment_id=payment_id,
            status=PaymentStatus.CAPTURED,
            idempotency_key=keys.gateway_capture(booking.id, payment_id),
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(GatewayTransaction.id)
    )
    if written.first() is None:
        return False
    booking.captured_amount += amount
    return True


async def refundable(session: AsyncSession, booking: Booking, payment_id: str) -> int:
    """What is left to refund of ``payment_id``: its capture less every refund asked of it."""
    rows = await session.execute(
        select(GatewayTransaction.kind, func.sum(GatewayTransaction.amount))
        .where(
            GatewayTransaction.booking_id == booking.id,
            GatewayTransaction.payment_id == payment_id,
            # A refund the gateway refused gave nothing back.
            GatewayTransaction.status != "FAILED",
        )
        .group_by(GatewayTransaction.kind)
    )
    totals = {kind: int(total) for kind, total in rows.all()}
    return totals.get(GatewayTransactionKind.CAPTURE, 0) - totals.get(
        GatewayTransactionKind.REFUND, 0
    )


async def most_refundable(session: AsyncSession, booking: Booking) -> tuple[str, str | None, int]:
    """The booking's gateway payment with the most left to refund: (payment id, order id, left).

    A booking without a capture answers ``("", None, 0)``.
    """
    captures = (
        await session.execute(
            select(GatewayTransaction.payment_id, GatewayTransaction.order_id).where(
                GatewayTransaction.booking_id == booking.id,
                GatewayTransaction.kind == GatewayTransactionKind.CAPTURE.value,
            )
        )
    ).all()
    best: tuple[str, str | None, int] = ("", None, 0)
    for payment_id, order_id in captures:
        left = await refundable(session, booking, payment_id)
        if left > best[2]:
            best = (payment_id, order_id, left)
    return best
