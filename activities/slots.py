"""Slot holds: the capacity counter and the overlap constraint decide, never a prior read."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from core.crashpoints import CrashPoint, crash_point
from core.db import CHECK_VIOLATION, EXCLUSION_VIOLATION, SessionFactory, pg_error
from models.db import Booking, BookingEvent, CustomerHolds, Resource, Slot
from models.domain import (
    ACTIVE_STATUSES,
    BookingStatus,
    MeetingStatus,
    PaymentStatus,
    has_started,
)
from models.errors import ErrorCode, business_failure
from models.payloads import (
    HoldSlotInput,
    MoveBookingInput,
    MoveBookingResult,
    ReleaseSlotInput,
    SlotHold,
)
from store import keys
from store.bookings import slot_hold_of, slot_with_resource
from store.ledger import append_ledger_entry, is_overdraft
from store.timeline import record_event

log = structlog.get_logger(__name__)


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
        async with self._sessions() as session:
            existing = await session.get(Booking, request.booking_id)
            if existing is not None:
                if existing.status in ACTIVE_STATUSES:
                    owner = await session.get(Resource, existing.resource_id)
                    assert owner is not None
                    return slot_hold_of(existing, owner)
                raise business_failure(ErrorCode(existing.reason or ErrorCode.SLOT_UNAVAILABLE))

            slot, resource = await slot_with_resource(session, request.slot_id)
            values = {
                "id": request.booking_id,
                "customer_id": request.customer_id,
                "slot_id": slot.id,
                "resource_id": resource.id,
                "resource_seq": resource.seq,
                "amount": slot.price_amount,
                "currency": slot.currency,
                "payment_method": request.payment.method,
                "payment_provider": request.payment.provider,
                "meeting_provider": resource.meeting_provider,
                "contact": request.contact.model_dump() if request.contact else None,
                "workflow_id": request.workflow_id,
                "exclusive": slot.capacity == 1,
                "starts_at": slot.starts_at,
                "ends_at": slot.ends_at,
            }

            reason = await self._take_capacity(session, slot)
            if reason is None:
                try:
                    await self._set_hold_cap(session, request)
                    # The exclusion constraint is not deferred: the INSERT itself raises,
                    # and so does the unpaid-holds cap (its trigger counts the new HELD).
                    await session.execute(
                        insert(Booking).values(**values, status=BookingStatus.HELD.value)
                    )
                    await record_event(session, request.booking_id, "booking.held")
                    await session.commit()
                    crash_point(CrashPoint.HOLD_COMMITTED)
                except IntegrityError as exc:
                    reason = _hold_refusal(exc)
                    if reason is None:
                        raise
                    await session.rollback()
                else:
                    log.info("slot.held", booking_id=str(request.booking_id))
                    booking = await session.get(Booking, request.booking_id)
                    assert booking is not None
                    return slot_hold_of(booking, resource)

            await session.execute(
                insert(Booking)
                .values(**values, status=BookingStatus.FAILED.value, reason=reason.value)
                .on_conflict_do_nothing(index_elements=["id"])
            )
            await record_event(session, request.booking_id, "booking.failed", {"reason": reason})
            await session.commit()
            log.info("slot.hold_refused", booking_id=str(request.booking_id), reason=reason)
            raise business_failure(reason)

    @staticmethod
    async def _set_hold_cap(session: AsyncSession, request: HoldSlotInput) -> None:
        # The cap in force is the setting, but never below what the customer holds
        # now: lowering it refuses new holds without breaking the counter's CHECK.
        cap = insert(CustomerHolds).values(
            customer_id=request.customer_id, unpaid=0, max_unpaid=request.max_active_holds
        )
        await session.execute(
            cap.on_conflict_do_update(
                index_elements=["customer_id"],
                set_={"max_unpaid": func.greatest(cap.excluded.max_unpaid, CustomerHolds.unpaid)},
                # Written only when the setting changed: the hot path rewrites no row.
                where=CustomerHolds.max_unpaid != cap.excluded.max_unpaid,
            )
        )

    @staticmethod
    async def _take_capacity(session: AsyncSession, slot: Slot) -> ErrorCode | None:
        # The conditional UPDATE is the decision: the row lock serialises racers
        # and the CHECK on active_count backs it up.
        if has_started(slot.starts_at, datetime.now(UTC)):
            return ErrorCode.SLOT_UNAVAILABLE
        taken = await session.execute(
            update(Slot)
            .where(Slot.id == slot.id, Slot.active_count < Slot.capacity)
            .values(active_count=Slot.active_count + 1)
            .returning(Slot.id)
        )
        return None if taken.first() is not None else ErrorCode.SLOT_UNAVAILABLE

    @activity.defn(name="release_slot")
    async def release_slot(self, request: ReleaseSlotInput) -> None:
        """Give the booking's capacity back and record how it ended.

        ``COMPLETED`` when its time has passed; otherwise it ended early
        (FAILED, EXPIRED, CANCELLED): a payment never taken is FAILED and there
        is no meeting (CANCELLED). Idempotent: a booking already out of the
        active statuses is left as is.
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
                if booking.payment_status in (PaymentStatus.PENDING, PaymentStatus.DECLINED):
                    booking.payment_status = PaymentStatus.FAILED.value
            await session.execute(
                update(Slot)
                .where(Slot.id == booking.slot_id)
                .values(active_count=Slot.active_count - 1)
            )
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
        """Move a booking to another slot in one transaction, or change nothing.

        The new slot's capacity is taken and the old slot's given back in the
        same commit, so the customer never holds neither; the overlap
        constraint and the capacity check decide, as for a hold. A dearer slot
        takes the difference from the wallet (key ``{booking_id}:move:{n}:debit``)
        or is refused. A retry after the commit answers what the move did.
        """
        async with self._sessions() as session:
            booking = await session.get(Booking, request.booking_id, with_for_update=True)
            if booking is None:
                raise business_failure(ErrorCode.BOOKING_NOT_FOUND)
            if booking.slot_id == request.slot_id:
                owner = await session.get(Resource, booking.resource_id)
                assert owner is not None
                return MoveBookingResult(
                    hold=slot_hold_of(booking, owner),
                    difference=await self._moved_by(session, request),
                )
            if booking.status != BookingStatus.CONFIRMED.value:
                raise business_failure(ErrorCode.INVALID_STATE, f"booking is {booking.status}")
            slot, resource = await slot_with_resource(session, request.slot_id)
            if slot.currency != booking.currency:
                raise business_failure(
                    ErrorCode.VALIDATION_ERROR,
                    f"slot_id: the new slot is priced in {slot.currency}, "
                    f"the booking in {booking.currency}",
                )
            difference = slot.price_amount - booking.amount
            if difference > 0 and not request.allow_wallet_topup:
                raise business_failure(
                    ErrorCode.INVALID_STATE,
                    "a dearer slot can only be paid from the wallet; make a new booking",
                )
            if await self._take_capacity(session, slot) is not None:
                raise business_failure(ErrorCode.SLOT_UNAVAILABLE)
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
                        reason="reschedule to a dearer slot",
                    )
                    booking.captured_amount += difference
                booking.slot_id = slot.id
                booking.resource_id = resource.id
                booking.resource_seq = resource.seq
                booking.starts_at = slot.starts_at
                booking.ends_at = slot.ends_at
                booking.exclusive = slot.capacity == 1
                booking.amount = slot.price_amount
                booking.meeting_provider = resource.meeting_provider
                booking.updated_at = datetime.now(UTC)
                await session.flush()
                await session.execute(
                    update(Slot)
                    .where(Slot.id == old_slot)
                    .values(active_count=Slot.active_count - 1)
                )
                await record_event(
                    session,
                    booking.id,
                    "booking.rescheduled",
                    {"from_slot": str(old_slot), "to_slot": str(slot.id), "difference": difference},
                    step=keys.moved_step(request.move),
                )
                await session.commit()
                crash_point(CrashPoint.MOVE_COMMITTED)
            except IntegrityError as exc:
                if is_overdraft(exc):
                    raise business_failure(ErrorCode.INSUFFICIENT_FUNDS) from None
                if pg_error(exc).sqlstate == EXCLUSION_VIOLATION:
                    raise business_failure(ErrorCode.SLOT_UNAVAILABLE) from None
                raise
            log.info("booking.moved", booking_id=str(booking.id), difference=difference)
            return MoveBookingResult(hold=slot_hold_of(booking, resource), difference=difference)

    @staticmethod
    async def _moved_by(session: AsyncSession, request: MoveBookingInput) -> int:
        """What this move already did (its timeline row), for a retry after its commit."""
        data = (
            await session.execute(
                select(BookingEvent.data).where(
                    BookingEvent.key
                    == keys.timeline(request.booking_id, keys.moved_step(request.move))
                )
            )
        ).scalar_one_or_none()
        return int((data or {}).get("difference", 0))


def _hold_refusal(exc: IntegrityError) -> ErrorCode | None:
    """The refusal a constraint gave the hold, or None when it is no refusal of ours."""
    err = pg_error(exc)
    if err.sqlstate == EXCLUSION_VIOLATION:
        return ErrorCode.SLOT_UNAVAILABLE
    if err.sqlstate == CHECK_VIOLATION and err.constraint == "customer_holds_within_cap":
        return ErrorCode.TOO_MANY_ACTIVE_HOLDS
    return None
