"""The gateway ledger: captures and refunds as ``gateway_transactions`` rows, once per key."""

from __future__ import annotations

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
