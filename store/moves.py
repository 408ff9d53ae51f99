"""Where a reschedule takes a booking, and what a move already did (for its retry).

``SlotActivities.move_booking`` (``activities/slots.py``) writes the move in
one transaction; these work out its target inside it: a slot whose capacity
is taken now, or a range of the same resource checked against its rules and
priced by its rate.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.availability import RuleViolation, check_range
from models.db import Booking, BookingEvent, Resource, Slot
from models.errors import ErrorCode, business_failure
from models.payloads.slots import MoveBookingInput
from store import keys
from store.bookings import range_resource, slot_with_resource
from store.holds import placed, take_capacity


@dataclass(frozen=True)
class MoveTarget:
    """Where a move takes the booking: the resource, the columns that change, the timeline."""

    resource: Resource
    changes: dict[str, Any]
    described: dict[str, str]


async def to_slot(session: AsyncSession, booking: Booking, slot_id: uuid.UUID) -> MoveTarget:
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
    if await take_capacity(session, slot) is not None:
        raise business_failure(ErrorCode.SLOT_UNAVAILABLE)
    changes = {
        **placed(resource, slot.starts_at, slot.ends_at, slot.ends_at),
        "slot_id": slot.id,
        "exclusive": slot.capacity == 1,
        "amount": slot.price_amount,
    }
    described = {
        "from_slot": str(booking.slot_id),
        "to_slot": str(slot.id),
        **_moved_from(booking),
    }
    return MoveTarget(resource, changes, described)


async def to_range(
    session: AsyncSession, booking: Booking, request: MoveBookingInput
) -> MoveTarget:
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
        **placed(resource, span.starts_at, span.ends_at, span.ends_at + rules.buffer),
        "amount": price,
    }
    described = {
        "from": booking.starts_at.isoformat(),
        "to": span.starts_at.isoformat(),
        "ends_at": span.ends_at.isoformat(),
        **_moved_from(booking),
    }
    return MoveTarget(resource, changes, described)


async def moved_by(session: AsyncSession, request: MoveBookingInput) -> int | None:
    """What this move already did (its timeline row's difference); None: not done yet."""
    data = (
        await session.execute(
            select(BookingEvent.data).where(
                BookingEvent.key == keys.timeline(request.booking_id, keys.moved_step(request.move))
            )
        )
    ).scalar_one_or_none()
    return None if data is None else int(data.get("difference", 0))


def _moved_from(booking: Booking) -> dict[str, str]:
    """Where a move starts from, for its timeline row (and the mail that tells of it)."""
    return {
        "from_starts_at": booking.starts_at.isoformat(),
        "from_ends_at": booking.ends_at.isoformat(),
    }


async def moved_from(
    session: AsyncSession, booking_id: uuid.UUID, about: str
) -> tuple[datetime, datetime] | None:
    """The times a booking had before the move ``about`` (``move:<n>``), from its timeline row.

    None when ``about`` names no move or the row does not say (rows written before
    they carried the old times, for a range; a slot's are read from the slot).
    """
    kind, _, number = about.partition(":")
    if kind != "move" or not number.isdigit():
        return None
    data = (
        await session.execute(
            select(BookingEvent.data).where(
                BookingEvent.key == keys.timeline(booking_id, keys.moved_step(int(number)))
            )
        )
    ).scalar_one_or_none()
    if not data:
        return None
    if "from_starts_at" in data and "from_ends_at" in data:
        return (
            datetime.fromisoformat(data["from_starts_at"]),
            datetime.fromisoformat(data["from_ends_at"]),
        )
    if data.get("from_slot"):
        slot = await session.get(Slot, uuid.UUID(data["from_slot"]))
        if slot is not None:
            return slot.starts_at, slot.ends_at
    return None
