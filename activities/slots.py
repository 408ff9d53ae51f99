"""Slot holds: the capacity counter and the overlap constraint decide, never a prior read."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import structlog
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from core.crashpoints import CrashPoint, crash_point
from core.db import CHECK_VIOLATION, EXCLUSION_VIOLATION, SessionFactory, pg_error
from models.availability import RuleViolation, check_range
from models.db import Booking, BookingEvent, CustomerHolds, Resource, Slot
from models.domain import (
    ACTIVE_STATUSES,
    BookingStatus,
    MeetingStatus,
    PaymentStatus,
    has_started,
)
from models.errors import ErrorCode, business_failure
from models.payloads.slots import (
    HoldSlotInput,
    MoveBookingInput,
    MoveBookingResult,
    ReleaseSlotInput,
    SlotHold,
)
from store import keys
from store.bookings import (
    BOOKINGS,
    booking_with_resource,
    range_resource,
    slot_hold_of,
    slot_with_resource,
)
from store.ledger import append_ledger_entry, is_overdraft
from store.timeline import Step, record_event, record_events

log = structlog.get_logger(__name__)

# The hold's writes as Core statements on the tables: no ORM bookkeeping on the
# hot path, and those of a fixed shape are built once, each call binding its values.
_SLOTS = cast(Table, Slot.__table__)
_HOLDS = cast(Table, CustomerHolds.__table__)
# One unit of the slot's capacity, taken only while some is left.
_TAKE_ONE = (
    update(_SLOTS)
    .where(_SLOTS.c.id == bindparam("slot_id"), _SLOTS.c.active_count < _SLOTS.c.capacity)
    .values(active_count=_SLOTS.c.active_count + 1)
    .returning(_SLOTS.c.id)
)
# The cap in force is the setting, but never below what the customer holds now:
# lowering it refuses new holds without breaking the counter's CHECK. Written only
# when the setting changed: the hot path rewrites no row.
_cap = insert(_HOLDS).values(
    customer_id=bindparam("customer_id"), unpaid=0, max_unpaid=bindparam("max_unpaid")
)
_SET_HOLD_CAP = _cap.on_conflict_do_update(
    index_elements=["customer_id"],
    set_={"max_unpaid": func.greatest(_cap.excluded.max_unpaid, _HOLDS.c.unpaid)},
    where=_HOLDS.c.max_unpaid != _cap.excluded.max_unpaid,
)


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
            values, resource, reason = await self._what_to_hold(session, request)
            if reason is None:
                try:
                    await self._set_hold_cap(session, request)
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
                    reason = _hold_refusal(exc)
                    if reason is None:
                        # Not a refusal: the booking's own row from an earlier attempt, or a defect.
                        earlier = await _earlier_hold(session, request.booking_id)
                        if earlier is None:
                            raise
                        return Held(earlier)
                else:
                    log.info("slot.held", booking_id=str(request.booking_id))
                    return Held(hold, paid=payment is not None)

            # Refused, unless the refusal is this booking's own earlier hold (a retry).
            earlier = await _earlier_hold(session, request.booking_id)
            if earlier is not None:
                return Held(earlier)
            await session.execute(
                insert(Booking)
                .values(**values, status=BookingStatus.FAILED.value, reason=reason.value)
                .on_conflict_do_nothing(index_elements=["id"])
            )
            await record_event(session, request.booking_id, "booking.failed", {"reason": reason})
            await session.commit()
            log.info("slot.hold_refused", booking_id=str(request.booking_id), reason=reason)
            raise business_failure(reason)

    async def _what_to_hold(
        self, session: AsyncSession, request: HoldSlotInput
    ) -> tuple[dict[str, object], Resource, ErrorCode | None]:
        """The booking row to write, its resource, and a refusal found before writing it.

        A slot: its price and times, one unit of its capacity taken now. A range:
        the price from the resource's rate, checked against its rules; the
        overlap constraint decides when the row is written.
        """
        common = {
            "id": request.booking_id,
            "customer_id": request.customer_id,
            "payment_method": request.payment.method,
            "payment_provider": request.payment.provider,
            "contact": request.contact.model_dump() if request.contact else None,
            "workflow_id": request.workflow_id,
        }
        if request.slot_id is not None:
            slot, resource = await slot_with_resource(session, request.slot_id)
            values = {
                **common,
                **_placed(resource, slot.starts_at, slot.ends_at, slot.ends_at),
                "slot_id": slot.id,
                "amount": slot.price_amount,
                "currency": slot.currency,
                "exclusive": slot.capacity == 1,
            }
            return values, resource, await self._take_capacity(session, slot)
        assert request.range is not None
        span = request.range
        resource, rules = await range_resource(session, span.resource_id)
        values = {
            **common,
            **_placed(resource, span.starts_at, span.ends_at, span.ends_at + rules.buffer),
            "slot_id": None,
            "amount": 0,
            "currency": rules.currency,
            "exclusive": True,
        }
        try:
            values["amount"] = check_range(rules, span.starts_at, span.ends_at, datetime.now(UTC))
        except RuleViolation:
            # The API checked the rules; they changed since. Nothing is held.
            return values, resource, ErrorCode.VALIDATION_ERROR
        return values, resource, None

    @staticmethod
    async def _set_hold_cap(session: AsyncSession, request: HoldSlotInput) -> None:
        await session.execute(
            _SET_HOLD_CAP,
            {"customer_id": request.customer_id, "max_unpaid": request.max_active_holds},
        )

    @staticmethod
    async def _take_capacity(session: AsyncSession, slot: Slot) -> ErrorCode | None:
        # The conditional UPDATE is the decision: the row lock serialises racers
        # and the CHECK on active_count backs it up.
        if has_started(slot.starts_at, datetime.now(UTC)):
            return ErrorCode.SLOT_UNAVAILABLE
        taken = await session.execute(_TAKE_ONE, {"slot_id": slot.id})
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
            done = await self._moved_by(session, request)
            if done is not None:
                owner = await session.get(Resource, booking.resource_id)
                assert owner is not None
                return MoveBookingResult(hold=slot_hold_of(booking, owner), difference=done)
            if booking.status != BookingStatus.CONFIRMED.value:
                raise business_failure(ErrorCode.INVALID_STATE, f"booking is {booking.status}")
            if request.slot_id is not None:
                target = await self._to_slot(session, booking, request.slot_id)
            else:
                target = await self._to_range(session, booking, request)
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
                    await session.execute(
                        update(Slot)
                        .where(Slot.id == old_slot)
                        .values(active_count=Slot.active_count - 1)
                    )
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
                    raise business_failure(ErrorCode.SLOT_UNAVAILABLE) from None
                raise
            log.info("booking.moved", booking_id=str(booking.id), difference=difference)
            return MoveBookingResult(
                hold=slot_hold_of(booking, target.resource), difference=difference
            )

    async def _to_slot(
        self, session: AsyncSession, booking: Booking, slot_id: uuid.UUID
    ) -> _MoveTarget:
        """The booking moved to ``slot_id``, whose capacity is taken now."""
        if slot_id == booking.slot_id:
            raise business_failure(ErrorCode.VALIDATION_ERROR, "slot_id: the booking is there")
        slot, resource = await slot_with_resource(session, slot_id)
        if slot.currency != booking.currency:
            raise business_failure(
                ErrorCode.VALIDATION_ERROR,
                f"slot_id: the new slot is priced in {slot.currency}, "
                f"the booking in {booking.currency}",
            )
        if await self._take_capacity(session, slot) is not None:
            raise business_failure(ErrorCode.SLOT_UNAVAILABLE)
        changes = {
            **_placed(resource, slot.starts_at, slot.ends_at, slot.ends_at),
            "slot_id": slot.id,
            "exclusive": slot.capacity == 1,
            "amount": slot.price_amount,
        }
        described = {"from_slot": str(booking.slot_id), "to_slot": str(slot.id)}
        return _MoveTarget(resource, changes, described)

    @staticmethod
    async def _to_range(
        session: AsyncSession, booking: Booking, request: MoveBookingInput
    ) -> _MoveTarget:
        """The booking moved to another range of its resource, priced by its rate."""
        assert request.range is not None
        span = request.range
        if booking.slot_id is not None or span.resource_id != booking.resource_id:
            raise business_failure(
                ErrorCode.VALIDATION_ERROR,
                "starts_at: only a range booking moves to a range, within its resource",
            )
        resource, rules = await range_resource(session, booking.resource_id)
        try:
            price = check_range(rules, span.starts_at, span.ends_at, datetime.now(UTC))
        except RuleViolation as violation:
            raise business_failure(ErrorCode.VALIDATION_ERROR, str(violation)) from None
        changes = {
            **_placed(resource, span.starts_at, span.ends_at, span.ends_at + rules.buffer),
            "amount": price,
        }
        described = {
            "from": booking.starts_at.isoformat(),
            "to": span.starts_at.isoformat(),
            "ends_at": span.ends_at.isoformat(),
        }
        return _MoveTarget(resource, changes, described)

    @staticmethod
    async def _moved_by(session: AsyncSession, request: MoveBookingInput) -> int | None:
        """What this move already did (its timeline row's difference); None: not done yet."""
        data = (
            await session.execute(
                select(BookingEvent.data).where(
                    BookingEvent.key
                    == keys.timeline(request.booking_id, keys.moved_step(request.move))
                )
            )
        ).scalar_one_or_none()
        return None if data is None else int(data.get("difference", 0))


@dataclass(frozen=True)
class _MoveTarget:
    """Where a move takes the booking: the resource, the columns that change, the timeline."""

    resource: Resource
    changes: dict[str, Any]
    described: dict[str, str]


def _placed(
    resource: Resource, starts_at: datetime, ends_at: datetime, blocked_until: datetime
) -> dict[str, object]:
    """Where and when a booking is: its resource, its times, and what it keeps free."""
    return {
        "resource_id": resource.id,
        "resource_seq": resource.seq,
        "meeting_provider": resource.meeting_provider,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "blocked_until": blocked_until,
    }


async def _earlier_hold(session: AsyncSession, booking_id: uuid.UUID) -> SlotHold | None:
    """An earlier attempt's hold, or its refusal raised; None when it wrote nothing."""
    found = await booking_with_resource(session, booking_id)
    if found is None:
        return None
    booking, resource = found
    if booking.status not in ACTIVE_STATUSES:
        raise business_failure(ErrorCode(booking.reason or ErrorCode.SLOT_UNAVAILABLE))
    return slot_hold_of(booking, resource)


def _hold_refusal(exc: IntegrityError) -> ErrorCode | None:
    """The refusal a constraint gave the hold, or None when it is no refusal of ours."""
    err = pg_error(exc)
    if err.sqlstate == EXCLUSION_VIOLATION:
        return ErrorCode.SLOT_UNAVAILABLE
    if err.sqlstate == CHECK_VIOLATION and err.constraint == "customer_holds_within_cap":
        return ErrorCode.TOO_MANY_ACTIVE_HOLDS
    return None
