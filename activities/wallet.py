"""Wallet money: each change is one append-only ledger row; a trigger moves the balance."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities.timeline import record_event
from core.db import CHECK_VIOLATION, SessionFactory, pg_error
from core.errors import ErrorCode, business_failure
from models.db import Booking, LedgerEntry, Wallet
from models.flow import BookingStatus, ChargeWalletInput, RefundWalletInput

log = structlog.get_logger(__name__)


async def append_ledger_entry(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID,
    currency: str,
    amount: int,
    kind: str,
    idempotency_key: str,
    booking_id: uuid.UUID | None = None,
    reason: str | None = None,
    actor: str | None = None,
) -> bool:
    """Append one ledger entry unless its idempotency key was already used.

    The wallet row is created on first use. The ``ledger_apply`` trigger moves
    the balance in the same transaction, and ``CHECK (balance >= 0)`` refuses
    an overdraft with a check violation.

    Returns:
        True when the entry was written, False when the key already existed.
    """
    await session.execute(
        insert(Wallet)
        .values(customer_id=customer_id, currency=currency, balance=0)
        .on_conflict_do_nothing(index_elements=["customer_id", "currency"])
    )
    written = await session.execute(
        insert(LedgerEntry)
        .values(
            customer_id=customer_id,
            currency=currency,
            amount=amount,
            kind=kind,
            idempotency_key=idempotency_key,
            booking_id=booking_id,
            reason=reason,
            actor=actor,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(LedgerEntry.id)
    )
    return written.first() is not None


def is_overdraft(exc: IntegrityError) -> bool:
    """Whether a failed write was refused by the non-negative balance check."""
    err = pg_error(exc)
    return err.sqlstate == CHECK_VIOLATION and err.constraint in (
        None,
        "wallets_balance_not_negative",
    )


class WalletActivities:
    """Charge wallets for bookings."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn(name="charge_wallet")
    async def charge_wallet(self, request: ChargeWalletInput) -> None:
        """Debit the wallet and confirm the booking in one transaction.

        The debit's ledger key is ``{booking_id}:debit``, so a retry after the
        commit writes nothing. Money and status never disagree: both commit or
        neither does.
        """
        async with self._sessions() as session:
            booking = await session.get(Booking, request.booking_id, with_for_update=True)
            if booking is None:
                raise business_failure(ErrorCode.BOOKING_NOT_FOUND)
            if booking.payment_status == "CAPTURED":
                return
            if booking.status != BookingStatus.HELD.value:
                raise business_failure(
                    ErrorCode.INVALID_STATE, f"booking is {booking.status}, not HELD"
                )
            try:
                if request.amount > 0:
                    await append_ledger_entry(
                        session,
                        customer_id=request.customer_id,
                        currency=request.currency,
                        amount=-request.amount,
                        kind="debit",
                        idempotency_key=f"{request.booking_id}:debit",
                        booking_id=request.booking_id,
                        reason="booking",
                    )
                booking.status = BookingStatus.CONFIRMED.value
                booking.payment_status = "CAPTURED"
                booking.captured_amount = request.amount
                booking.updated_at = datetime.now(UTC)
                await record_event(
                    session,
                    booking.id,
                    "payment.captured",
                    {"method": "wallet", "amount": request.amount, "currency": request.currency},
                )
                await record_event(session, booking.id, "booking.confirmed")
                await session.commit()
            except IntegrityError as exc:
                # The balance trigger fires on insert, so an overdraft surfaces here.
                if not is_overdraft(exc):
                    raise
                raise business_failure(ErrorCode.INSUFFICIENT_FUNDS) from None
        log.info("wallet.charged", booking_id=str(request.booking_id), amount=request.amount)

    @activity.defn(name="refund_wallet")
    async def refund_wallet(self, request: RefundWalletInput) -> int:
        """Credit back a booking's wallet debit, once (key ``{booking_id}:refund``).

        The whole debit by default, or the amount a refund policy grants. A
        retry after the commit writes nothing; the refunded-not-above-captured
        check on the booking backs the amount up.

        Returns:
            The amount of this refund; 0 when nothing was debited.
        """
        async with self._sessions() as session:
            booking = await session.get(Booking, request.booking_id, with_for_update=True)
            if booking is None:
                return 0
            debit = (
                await session.execute(
                    select(LedgerEntry).where(
                        LedgerEntry.idempotency_key == f"{request.booking_id}:debit"
                    )
                )
            ).scalar_one_or_none()
            if debit is None:
                return 0
            amount = -debit.amount if request.amount is None else request.amount
            if amount <= 0:
                return 0
            written = await append_ledger_entry(
                session,
                customer_id=debit.customer_id,
                currency=debit.currency,
                amount=amount,
                kind="refund",
                idempotency_key=f"{request.booking_id}:{request.step}",
                booking_id=request.booking_id,
                reason=request.reason,
            )
            if written:
                booking.refunded_amount += amount
            booking.payment_status = "REFUNDED"
            booking.updated_at = datetime.now(UTC)
            await record_event(
                session,
                booking.id,
                "payment.refunded",
                {"method": "wallet", "amount": amount, "currency": debit.currency},
            )
            await session.commit()
        if written:
            log.info("wallet.refunded", booking_id=str(request.booking_id), amount=amount)
        return amount
