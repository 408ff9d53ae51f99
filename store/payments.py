"""The gateway ledger: captures and refunds as ``gateway_transactions`` rows, once per key."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.db import Booking, GatewayTransaction, Topup
from models.domain import GatewayTransactionKind, PaymentStatus
from store import keys


async def record_capture(
    session: AsyncSession,
    owner: Booking | Topup,
    provider: str,
    order_id: str | None,
    payment_id: str,
    amount: int,
    currency: str,
) -> bool:
    """Record a capture of a booking's or a top-up's order once.

    A booking's captured amount grows with it.
    """
    booking = owner if isinstance(owner, Booking) else None
    written = await session.execute(
        insert(GatewayTransaction)
        .values(
            booking_id=booking.id if booking else None,
            topup_id=None if booking else owner.id,
            provider=provider,
            kind=GatewayTransactionKind.CAPTURE,
            amount=amount,
            currency=currency,
            order_id=order_id,
            payment_id=payment_id,
            status=PaymentStatus.CAPTURED,
            idempotency_key=keys.gateway_capture(owner.id, payment_id),
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(GatewayTransaction.id)
    )
    if written.first() is None:
        return False
    if booking is not None:
        booking.captured_amount += amount
    return True


async def topup_for_order(
    session: AsyncSession, provider: str, order_id: str | None, reference: str | None
) -> Topup | None:
    """The top-up whose order this is, by order id or by the reference it was created with."""
    if order_id is not None:
        found = (
            await session.execute(
                select(Topup).where(Topup.provider == provider, Topup.order_id == order_id)
            )
        ).scalar_one_or_none()
        if found is not None:
            return found
    if reference is None:
        return None
    try:
        candidate = await session.get(Topup, uuid.UUID(reference))
    except ValueError:
        return None
    return candidate if candidate is not None and candidate.provider == provider else None


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
