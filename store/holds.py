"""A slot hold's writes and checks: the capacity counter and the constraints decide, never a read.

``SlotActivities`` (``activities/slots.py``) runs these inside its own
transactions: the booking row a hold writes (:func:`what_to_hold`), one unit
of a slot's capacity taken or given back, the customer's unpaid-holds cap, and
the refusal a constraint raised read back as an error code.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import CHECK_VIOLATION, EXCLUSION_VIOLATION, pg_error
from models.availability import RuleViolation, check_range
from models.db import CustomerHolds, Resource, Slot
from models.domain import ACTIVE_STATUSES, BookingStatus, has_started
from models.errors import ErrorCode, business_failure
from models.payloads.slots import HoldSlotInput, SlotHold
from store.bookings import booking_with_resource, range_resource, slot_hold_of, slot_with_resource

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


async def what_to_hold(
    session: AsyncSession, request: HoldSlotInput
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
            **placed(resource, slot.starts_at, slot.ends_at, slot.ends_at),
            "slot_id": slot.id,
            "amount": slot.price_amount,
            "currency": slot.currency,
            "exclusive": slot.capacity == 1,
        }
        return values, resource, await take_capacity(session, slot)
    assert request.range is not None
    span = request.range
    resource, rules = await range_resource(session, span.resource_id)
    values = {
        **common,
        **placed(resource, span.starts_at, span.ends_at, span.ends_at + rules.buffer),
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


def placed(
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


async def set_hold_cap(session: AsyncSession, customer_id: uuid.UUID, max_unpaid: int) -> None:
    """Put the customer's unpaid-holds cap at the setting (the trigger enforces it)."""
    await session.execute(_SET_HOLD_CAP, {"customer_id": customer_id, "max_unpaid": max_unpaid})


async def take_capacity(session: AsyncSession, slot: Slot) -> ErrorCode | None:
    """Take one unit of ``slot``'s capacity now; the refusal when it has started or is full."""
    # The conditional UPDATE is the decision: the row lock serialises racers
    # and the CHECK on active_count backs it up.
    if has_started(slot.starts_at, datetime.now(UTC)):
        return ErrorCode.SLOT_UNAVAILABLE
    taken = await session.execute(_TAKE_ONE, {"slot_id": slot.id})
    return None if taken.first() is not None else ErrorCode.SLOT_UNAVAILABLE


async def give_back(session: AsyncSession, slot_id: uuid.UUID | None) -> None:
    """Give one unit of the slot's capacity back (a range booking's None matches no slot)."""
    await session.execute(
        update(Slot).where(Slot.id == slot_id).values(active_count=Slot.active_count - 1)
    )


async def earlier_hold(session: AsyncSession, booking_id: uuid.UUID) -> SlotHold | None:
    """An earlier attempt's hold, or its refusal raised; None when it wrote nothing."""
    found = await booking_with_resource(session, booking_id)
    if found is None:
        return None
    booking, resource = found
    if booking.status == BookingStatus.FAILED:
        # The earlier attempt's refusal, heard again (a FAILED row's reason is its code).
        refused = ErrorCode.__members__.get(booking.reason or "", ErrorCode.SLOT_UNAVAILABLE)
        raise business_failure(refused)
    if booking.status not in ACTIVE_STATUSES:
        # Ended since (cancelled, expired, completed): a run replayed from before its
        # end (Temporal's Reset) learns it and takes nothing; the row keeps the truth.
        raise business_failure(
            ErrorCode.INVALID_STATE, f"The booking has already ended ({booking.status})."
        )
    return slot_hold_of(booking, resource)


def hold_refusal(exc: IntegrityError) -> ErrorCode | None:
    """The refusal a constraint gave the hold, or None when it is no refusal of ours."""
    err = pg_error(exc)
    if err.sqlstate == EXCLUSION_VIOLATION:
        return ErrorCode.SLOT_UNAVAILABLE
    if err.sqlstate == CHECK_VIOLATION and err.constraint == "customer_holds_within_cap":
        return ErrorCode.TOO_MANY_ACTIVE_HOLDS
    return None
