"""Slot holds: the capacity counter and the overlap constraint decide, never a prior read.

The activities own the transactions; what they write and check inside them
(the capacity statements, the hold cap, a constraint's refusal, a move's
target) is in ``store/holds.py`` and ``store/moves.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from core.crashpoints import CrashPoint, crash_point
from core.db import EXCLUSION_VIOLATION, SessionFactory, pg_error
from models.db import Booking, Resource
from models.domain import ACTIVE_STATUSES, BookingStatus, MeetingStatus, PaymentStatus
from models.errors import OVERLAP_MESSAGE, ErrorCode, business_failure
from models.payloads.slots import (
    HoldSlotInput,
    MoveBookingInput,
    MoveBookingResult,
    ReleaseSlotInput,
    SlotHold,
)
from store import keys, moves
from store.bookings import BOOKINGS, slot_hold_of
from store.holds import earlier_hold, give_back, hold_refusal, set_hold_cap, what_to_hold
from store.ledger import append_ledger_entry, is_overdraft
from store.timeline import Step, record_event, record_events

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Payment:
    """A new hold paid in the transaction that writes it (``SlotActivities.hold``'s ``pay``).

    ``confirmed``: the booking's columns as written (its status CONFIRMED);
    ``write``: what must follow the booking's row (the ledger's debit refers to
    it); ``steps``: the timeline after ``booking.held``.
    """

    confirmed: Mapping[str, object]
    steps: Sequence[Step]
    write: Callable[[AsyncSession], Awaitable[None]]


# Called with the new hold (not yet written) in its transaction: its payment, or None.
PayOnHold = Callable[[AsyncSession, SlotHold], Awaitable[Payment | None]]


@dataclass(frozen=True)
class Held:
    """A hold, and whether it was paid in its own commit (False for one found on a retry)."""

    hold: SlotHold
    paid: bool = False


class SlotActivities:
    """Hold and release slot capacity for bookings."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn(name="hold_slot")
    async def hold_slot(self, request: HoldSlotInput) -> SlotHold:
        """Take one unit of the slot's capacity and write the booking as HELD.

        Idempotent: a retry after the commit finds the booking and returns the
        same hold (or the same failure). Losing the race records the booking as
        FAILED with ``SLOT_UNAVAILABLE`` so the attempt stays visible.
        """
        return (await self.hold(request)).hold

    async def hold(self, request: HoldSlotInput, pay: PayOnHold | None = None) -> Held:
        """``hold_slot``'s work; with ``pay``, a new hold is paid in its own transaction.

        ``pay`` runs only when this call writes the booking (not on a retry that
        finds it, nor on a refusal found before writing). When it returns a
        payment, the booking is written with its paid columns (CONFIRMED) and
        the payment's writes and timeline steps share the hold's commit; the
        unpaid-holds cap refuses it as it refuses a hold.
        """
        async with self._sessions() as session:
            # Written first, read back only when it did not go through: a retry after
            # the commit fails on the booking's own row and is answered from it below.
            values, resource, reason = await what_to_hold(session, request)
            if reason is None:
                try:
                    await set_hold_cap(session, request.customer_id, request.max_active_holds)
                    # What is written, without reading it back (a retry reads it: below).
                    hold = slot_hold_of(Booking(**values), resource)
                    payment = await pay(session, hold) if pay is not None else None
                    # The exclusion constraint is not deferred: the INSERT itself raises,
                    # and so does the unpaid-holds cap (its trigger counts the new HELD,
                    # or refuses a paid booking at the cap). The row is never updated
                    # in this transaction: see WalletActivities.pay_on_hold.
                    status = {"status": BookingStatus.HELD.value}
                    await session.execute(
                        insert(BOOKINGS), {**values, **(payment.confirmed if payment else status)}
                    )
                    if payment is not None:
                        await payment.write(session)
                    steps = payment.steps if payment is not None else ()
                    await record_events(session, request.booking_id, Step("booking.held"), *steps)
                    await session.commit()
                    crash_point(CrashPoint.HOLD_COMMITTED)
                except IntegrityError as exc:
                    await session.rollback()
                    reason = hold_refusal(exc)
                    if reason is None:
                        # Not a refusal: the booking's own row from an earlier attempt, or a defect.
                        earlier = await earlier_hold(session, request.booking_id)
                        if earlier is None:
                            raise
                        return Held(earlier)
                else:
                    log.info("slot.held", booking_id=str(request.booking_id))
                    return Held(hold, paid=payment is not None)

            # Refused, unless the refusal is this booking's own earlier hold (a retry).
            earlier = await earlier_hold(session, request.booking_id)
            if earlier is not None:
                return Held(earlier)
            await session.execute(
                insert(Booking)
                .values(
                    **values,
                    status=BookingStatus.FAILED.value,
                    reason=reason.value,
                    payment_status=PaymentStatus.NOT_TAKEN.value,
                )
                .on_conflict_do_nothing(index_elements=["id"])
            )
            await record_event(session, request.booking_id, "booking.failed", {"reason": reason})
            await session.commit()
            log.info("slot.hold_refused", booking_id=str(request.booking_id), reason=reason)
            raise business_failure(reason)

    @activity.defn(name="release_slot")
    async def release_slot(self, request: ReleaseSlotInput) -> None:
        """Give the booking's capacity back and record how it ended.

        ``COMPLETED`` when its time has passed; otherwise it ended early
        (FAILED, EXPIRED, CANCELLED): a payment never attempted is NOT_TAKEN, one
        declined is FAILED, and there is no meeting (CANCELLED). Idempotent: a
        booking already out of the active statuses is left as is.
        """
        async with self._sessions() as session:
            booking = await session.get(Booking, request.booking_id, with_for_update=True)
            if booking is None or booking.status not in ACTIVE_STATUSES:
                return
            booking.status = request.status.value
            booking.reason = request.reason
            booking.updated_at = datetime.now(UTC)
            if request.status != BookingStatus.COMPLETED:
                booking.meeting_status = MeetingStatus.CANCELLED.value
                if booking.payment_status == PaymentStatus.PENDING:
                    booking.payment_status = PaymentStatus.NOT_TAKEN.value
                elif booking.payment_status == PaymentStatus.DECLINED:
                    booking.payment_status = PaymentStatus.FAILED.value
            await give_back(session, booking.slot_id)
            await record_event(
                session,
                booking.id,
                f"booking.{request.status.value.lower()}",
                {"reason": request.reason} if request.reason else None,
            )
            await session.commit()
            log.info(
                "slot.released",
                booking_id=str(booking.id),
                status=request.status.value,
                reason=request.reason,
            )

    @activity.defn(name="move_booking")
    async def move_booking(self, request: MoveBookingInput) -> MoveBookingResult:
        """Move a booking to another slot or range in one transaction, or change nothing.

        A slot's capacity is taken and the old slot's given back in the same
        commit, so the customer never holds neither; the overlap constraint and
        the capacity check decide, as for a hold. A range is checked against the
        resource's rules and priced by its rate. A dearer target takes the
        difference from the wallet (key ``{booking_id}:move:{n}:debit``) or is
        refused. A retry after the commit answers what the move did.
        """
        async with self._sessions() as session:
            booking = await session.get(Booking, request.booking_id, with_for_update=True)
            if booking is None:
                raise business_failure(ErrorCode.BOOKING_NOT_FOUND)
            done = await moves.moved_by(session, request)
            if done is not None:
                owner = await session.get(Resource, booking.resource_id)
                assert owner is not None
                return MoveBookingResult(hold=slot_hold_of(booking, owner), difference=done)
            if booking.status != BookingStatus.CONFIRMED.value:
                raise business_failure(ErrorCode.INVALID_STATE, f"booking is {booking.status}")
            if request.slot_id is not None:
                target = await moves.to_slot(session, booking, request.slot_id)
            else:
                target = await moves.to_range(session, booking, request)
            difference = target.changes["amount"] - booking.amount
            if difference > 0 and not request.allow_wallet_topup:
                raise business_failure(
                    ErrorCode.INVALID_STATE,
                    "a dearer time can only be paid from the wallet; make a new booking",
                )
            old_slot = booking.slot_id
            try:
                if difference > 0:
                    await append_ledger_entry(
                        session,
                        customer_id=request.customer_id,
                        currency=booking.currency,
                        amount=-difference,
                        kind="debit",
                        idempotency_key=keys.move_debit(booking.id, request.move),
                        booking_id=booking.id,
                        reason="reschedule to a dearer time",
                    )
                    booking.captured_amount += difference
                for name, value in target.changes.items():
                    setattr(booking, name, value)
                booking.updated_at = datetime.now(UTC)
                await session.flush()
                if old_slot is not None and old_slot != booking.slot_id:
                    await give_back(session, old_slot)
                await record_event(
                    session,
                    booking.id,
                    "booking.rescheduled",
                    {**target.described, "difference": difference},
                    step=keys.moved_step(request.move),
                )
                await session.commit()
                crash_point(CrashPoint.MOVE_COMMITTED)
            except IntegrityError as exc:
                if is_overdraft(exc):
                    raise business_failure(ErrorCode.INSUFFICIENT_FUNDS) from None
                if pg_error(exc).sqlstate == EXCLUSION_VIOLATION:
                    overlap = OVERLAP_MESSAGE if request.slot_id is None else None
                    raise business_failure(ErrorCode.SLOT_UNAVAILABLE, overlap) from None
                raise
            log.info("booking.moved", booking_id=str(booking.id), difference=difference)
            return MoveBookingResult(
                hold=slot_hold_of(booking, target.resource), difference=difference
            )
