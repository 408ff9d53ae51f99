"""Wallet money for bookings: debits and refunds, each one append-only ledger row."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities.slots import Payment
from core.crashpoints import CrashPoint, crash_point
from core.db import SessionFactory
from models.db import Booking, LedgerEntry
from models.domain import BookingStatus, MeetingStatus, PaymentStatus, status_after_refund
from models.errors import ErrorCode, business_failure
from models.payloads.meetings import MeetingLink
from models.payloads.slots import SlotHold
from models.payloads.wallet import ChargeWalletInput, RefundWalletInput
from store import keys
from store.bookings import BOOKINGS
from store.ledger import append_ledger_entry, is_overdraft, locked_balance
from store.timeline import Step, record_event, record_events

log = structlog.get_logger(__name__)


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
        await self.charge(request)

    async def charge(self, request: ChargeWalletInput, meeting: MeetingLink | None = None) -> None:
        """``charge_wallet``'s work; with ``meeting``, the link is READY in the same commit."""
        async with self._sessions() as session:
            booking = await session.get(Booking, request.booking_id, with_for_update=True)
            if booking is None:
                raise business_failure(ErrorCode.BOOKING_NOT_FOUND)
            if booking.payment_status == PaymentStatus.CAPTURED:
                return
            if (
                booking.status != BookingStatus.HELD
                or booking.payment_status != PaymentStatus.PENDING
            ):
                # Voided by its compensation (see refund_wallet): it must never debit now.
                raise business_failure(
                    ErrorCode.INVALID_STATE,
                    f"booking is {booking.status} with payment {booking.payment_status}",
                )
            try:
                await _debit(
                    session,
                    request.booking_id,
                    request.customer_id,
                    request.amount,
                    request.currency,
                )
                confirmed, steps = paid_from_wallet(
                    request.amount, request.currency, meeting, booking.meeting_provider
                )
                # A Core statement: the row is locked and read above, no ORM flush needed.
                await session.execute(
                    update(BOOKINGS)
                    .where(BOOKINGS.c.id == booking.id)
                    .values({**confirmed, "updated_at": datetime.now(UTC)})
                )
                await record_events(session, booking.id, *steps)
                await session.commit()
                crash_point(CrashPoint.DEBIT_COMMITTED)
            except IntegrityError as exc:
                # The balance trigger fires on insert, so an overdraft surfaces here.
                if not is_overdraft(exc):
                    raise
                raise business_failure(ErrorCode.INSUFFICIENT_FUNDS) from None
        log.info("wallet.charged", booking_id=str(request.booking_id), amount=request.amount)

    @staticmethod
    async def pay_on_hold(
        session: AsyncSession,
        hold: SlotHold,
        customer_id: uuid.UUID,
        meeting: MeetingLink | None = None,
    ) -> Payment | None:
        """``charge``'s work in the transaction that writes a new hold, when the wallet covers it.

        The wallet row is read and locked here, before the booking is written,
        so the booking can be written CONFIRMED in the first place: its row is
        never updated in the transaction that inserts it (a second tuple in the
        overlap constraint's index would wait on concurrent overlapping
        inserters while they wait on the first one). None when the balance
        does not cover the price: nothing is written or locked then but the
        wallet row, and ``charge`` after the hold's commit refuses as for any
        hold.
        """
        if hold.amount > 0:
            balance = await locked_balance(session, customer_id, hold.currency)
            if balance is None or balance < hold.amount:
                return None
        confirmed, steps = paid_from_wallet(
            hold.amount, hold.currency, meeting, hold.meeting_provider
        )

        async def debit(session: AsyncSession) -> None:
            await _debit(
                session,
                hold.booking_id,
                customer_id,
                hold.amount,
                hold.currency,
                wallet_locked=True,
            )
            log.info("wallet.charged", booking_id=str(hold.booking_id), amount=hold.amount)

        return Payment(confirmed, steps, debit)

    @activity.defn(name="refund_wallet")
    async def refund_wallet(self, request: RefundWalletInput) -> int:
        """Credit back a booking's wallet debit, once (key ``{booking_id}:refund``).

        The whole debit by default, or the amount a refund policy grants; a
        move's refund is keyed by its move number, an operator's by their
        request. Never more than is left of what was taken (an operator may
        have refunded some already); the refunded-not-above-captured check on
        the booking backs that up. A retry after the commit writes nothing and
        answers the amount written then.

        As the compensation of a charge whose outcome is unknown, it also
        voids a charge that has not happened: under the booking's row lock,
        either the debit committed (and is refunded) or the booking's payment
        is marked FAILED with nothing taken, and ``charge_wallet`` refuses
        from then on. So a charge attempt still running when its timeout fired
        can never debit after its refund.

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
                        LedgerEntry.idempotency_key == keys.wallet_debit(request.booking_id)
                    )
                )
            ).scalar_one_or_none()
            if debit is None:
                if booking.payment_status == PaymentStatus.PENDING:
                    booking.payment_status = PaymentStatus.FAILED
                    booking.updated_at = datetime.now(UTC)
                    await session.commit()
                return 0
            key = keys.wallet_refund(request.booking_id, request.move, request.ops)
            earlier = (
                await session.execute(
                    select(LedgerEntry.amount).where(LedgerEntry.idempotency_key == key)
                )
            ).scalar_one_or_none()
            if earlier is not None:  # A retry after the commit: the same answer, nothing written.
                await session.commit()
                return earlier
            wanted = -debit.amount if request.amount is None else request.amount
            # Never more than is left: an operator's refund may already have given some back.
            amount = min(wanted, booking.captured_amount - booking.refunded_amount)
            if amount <= 0:
                await session.commit()
                return 0
            await append_ledger_entry(
                session,
                customer_id=debit.customer_id,
                currency=debit.currency,
                amount=amount,
                kind="refund",
                idempotency_key=key,
                booking_id=request.booking_id,
                reason=request.reason,
            )
            booking.refunded_amount += amount
            booking.payment_status = status_after_refund(
                booking.captured_amount, booking.refunded_amount
            )
            booking.updated_at = datetime.now(UTC)
            await record_event(
                session,
                booking.id,
                "payment.refunded",
                {"method": "wallet", "amount": amount, "currency": debit.currency},
                step=keys.refund_step("payment.refunded", "wallet", request.move, request.ops),
            )
            await session.commit()
            crash_point(CrashPoint.WALLET_REFUND_COMMITTED)
        log.info("wallet.refunded", booking_id=str(request.booking_id), amount=amount)
        return amount


async def _debit(
    session: AsyncSession,
    booking_id: uuid.UUID,
    customer_id: uuid.UUID,
    amount: int,
    currency: str,
    *,
    wallet_locked: bool = False,
) -> None:
    """The booking's wallet debit, keyed ``{booking_id}:debit``; none for a free booking."""
    if amount > 0:
        await append_ledger_entry(
            session,
            customer_id=customer_id,
            currency=currency,
            amount=-amount,
            kind="debit",
            idempotency_key=keys.wallet_debit(booking_id),
            booking_id=booking_id,
            reason="booking",
            wallet_locked=wallet_locked,
        )


def paid_from_wallet(
    amount: int, currency: str, meeting: MeetingLink | None, provider: str
) -> tuple[dict[str, object], list[Step]]:
    """A booking's columns once its wallet payment is taken (and its link READY), and its steps."""
    confirmed: dict[str, object] = {
        "status": BookingStatus.CONFIRMED.value,
        "payment_status": PaymentStatus.CAPTURED.value,
        "captured_amount": amount,
    }
    captured = {"method": "wallet", "amount": amount, "currency": currency}
    steps = [Step("payment.captured", captured), Step("booking.confirmed")]
    if meeting is not None:
        confirmed |= {
            "meeting_status": MeetingStatus.READY.value,
            "meeting_url": meeting.url,
            "meeting_external_id": meeting.external_id,
        }
        steps.append(Step("meeting.ready", {"provider": provider}))
    return confirmed, steps
