"""Resources and slots."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.pagination import after_time_and_id, fetch_page, newest_first, time_and_id_cursor
from api.schemas.catalog import AvailabilityOut, AvailableStartOut, ResourceOut, SlotOut
from api.schemas.common import Money, Page
from api.services.commands import NewResource, NewSlot
from api.views import resource_view, slot_view
from models.availability import RangeRules, free_starts, price_of
from models.db import Resource, Slot
from models.errors import BookingError, ErrorCode
from store.bookings import busy_spans


async def create_resource(session: AsyncSession, new: NewResource) -> ResourceOut:
    """Create a bookable resource, in slot or range mode."""
    resource = Resource(
        id=uuid.uuid4(),
        name=new.name,
        timezone=new.timezone,
        meeting_provider=new.meeting_provider,
        refund_policy=new.refund_policy,
        booking_mode=new.booking_mode,
        range_rules=new.range_rules,
    )
    session.add(resource)
    await session.commit()
    await session.refresh(resource)
    return resource_view(resource)


async def get_resource(session: AsyncSession, resource_id: uuid.UUID) -> ResourceOut:
    """One resource, or ``RESOURCE_NOT_FOUND``."""
    return resource_view(await _resource(session, resource_id))


async def update_resource(
    session: AsyncSession,
    resource_id: uuid.UUID,
    revise: Callable[[dict[str, Any]], NewResource],
) -> ResourceOut:
    """Change a resource; ``revise`` turns it (as the API shows it) into the resource wanted.

    The change is read and written under the row's lock, so two changes never
    merge into a resource neither asked for. Bookings already made keep their
    price and their buffer; the new rules apply to what is booked from now on.
    The mode stays: ``revise`` may not change it.
    """
    resource = await _resource(session, resource_id, for_update=True)
    current = resource_view(resource).model_dump(mode="json", exclude={"id", "created_at"})
    wanted = revise(current)
    resource.name = wanted.name
    resource.timezone = wanted.timezone
    resource.meeting_provider = wanted.meeting_provider
    resource.refund_policy = wanted.refund_policy
    resource.range_rules = wanted.range_rules
    await session.commit()
    return resource_view(resource)


async def _resource(
    session: AsyncSession, resource_id: uuid.UUID, *, for_update: bool = False
) -> Resource:
    resource = await session.get(Resource, resource_id, with_for_update=for_update)
    if resource is None:
        raise BookingError(ErrorCode.RESOURCE_NOT_FOUND)
    return resource


async def availability(
    session: AsyncSession,
    resource_id: uuid.UUID,
    *,
    starts_from: datetime,
    starts_to: datetime,
    duration: timedelta | None,
    step: timedelta,
) -> AvailabilityOut:
    """What is free: the free starts of a range resource, or the free slots of a slot one.

    Raises:
        BookingError: RESOURCE_NOT_FOUND; VALIDATION_ERROR when a range resource is
            asked without ``duration_minutes`` or the window is too wide.
    """
    resource = await _resource(session, resource_id)
    if starts_to <= starts_from:
        raise BookingError(ErrorCode.VALIDATION_ERROR, "to: must be after from")
    if starts_to - starts_from > MAX_WINDOW:
        raise BookingError(
            ErrorCode.VALIDATION_ERROR, f"to: at most {MAX_WINDOW.days} days after from"
        )
    now = datetime.now(UTC)
    if resource.booking_mode == "slots":
        items = await _free_slots(session, resource, starts_from, starts_to, now)
        return AvailabilityOut(resource_id=resource.id, booking_mode="slots", items=items)
    if duration is None:
        raise BookingError(
            ErrorCode.VALIDATION_ERROR, "duration_minutes: required for a range resource"
        )
    assert resource.range_rules is not None
    rules = RangeRules.parse(resource.timezone, resource.range_rules)
    busy = await busy_spans(
        session, resource, starts_from - rules.max_duration - rules.buffer, starts_to + duration
    )
    starts = free_starts(
        rules, busy, window=(starts_from, starts_to), duration=duration, step=step, now=now
    )
    price = Money(amount=price_of(rules, now, now + duration), currency=rules.currency)
    return AvailabilityOut(
        resource_id=resource.id,
        booking_mode="range",
        items=[AvailableStartOut(starts_at=s, ends_at=s + duration, price=price) for s in starts],
    )


# The widest window one availability call answers.
MAX_WINDOW = timedelta(days=93)


async def _free_slots(
    session: AsyncSession,
    resource: Resource,
    starts_from: datetime,
    starts_to: datetime,
    now: datetime,
) -> list[AvailableStartOut]:
    rows = (
        await session.scalars(
            select(Slot)
            .where(
                Slot.resource_id == resource.id,
                Slot.starts_at >= max(starts_from, now),
                Slot.starts_at < starts_to,
                Slot.active_count < Slot.capacity,
            )
            .order_by(Slot.starts_at, Slot.id)
            .limit(2000)
        )
    ).all()
    return [
        AvailableStartOut(
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            price=Money(amount=slot.price_amount, currency=slot.currency),
            slot_id=slot.id,
            remaining_capacity=slot.capacity - slot.active_count,
        )
        for slot in rows
    ]


async def create_slots(
    session: AsyncSession, resource_id: uuid.UUID, specs: list[NewSlot]
) -> list[SlotOut]:
    """Create slots in one transaction: all of them or none (slot-mode resources only)."""
    resource = await _resource(session, resource_id)
    if resource.booking_mode != "slots":
        raise BookingError(
            ErrorCode.VALIDATION_ERROR,
            "resource_id: a range resource is booked by starts_at and ends_at, not slots",
        )
    for index, spec in enumerate(specs):
        if spec.ends_at <= spec.starts_at:
            raise BookingError(
                ErrorCode.VALIDATION_ERROR, f"slots.{index}: ends_at must be after starts_at"
            )
    slots = [
        Slot(
            id=uuid.uuid4(),
            resource_id=resource_id,
            starts_at=spec.starts_at,
            ends_at=spec.ends_at,
            price_amount=spec.price.amount,
            currency=spec.price.currency,
            capacity=spec.capacity,
            active_count=0,
        )
        for spec in specs
    ]
    session.add_all(slots)
    await session.commit()
    return [slot_view(slot) for slot in slots]


async def get_slot(session: AsyncSession, slot_id: uuid.UUID) -> SlotOut:
    """One slot, or ``SLOT_NOT_FOUND``."""
    slot = await session.get(Slot, slot_id)
    if slot is None:
        raise BookingError(ErrorCode.SLOT_NOT_FOUND)
    return slot_view(slot)


async def list_slots(
    session: AsyncSession,
    *,
    resource_id: uuid.UUID | None,
    starts_from: datetime | None,
    starts_to: datetime | None,
    available: bool | None,
    cursor: str | None,
    limit: int,
) -> Page[SlotOut]:
    """Slots ordered by start time, filtered, one page at a time."""
    query = select(Slot).order_by(Slot.starts_at, Slot.id)
    if resource_id is not None:
        query = query.where(Slot.resource_id == resource_id)
    if starts_from is not None:
        query = query.where(Slot.starts_at >= starts_from)
    if starts_to is not None:
        query = query.where(Slot.starts_at < starts_to)
    if available is True:
        query = query.where(Slot.active_count < Slot.capacity)
    elif available is False:
        query = query.where(Slot.active_count >= Slot.capacity)
    if cursor is not None:
        query = query.where(after_time_and_id(Slot.starts_at, Slot.id, cursor, descending=False))
    rows, next_cursor = await fetch_page(
        session, query, limit, lambda s: time_and_id_cursor(s.starts_at, s.id)
    )
    return Page[SlotOut](items=[slot_view(s) for s in rows], next_cursor=next_cursor)


async def list_resources(
    session: AsyncSession, *, cursor: str | None, limit: int
) -> Page[ResourceOut]:
    """Every resource, newest first."""
    rows, next_cursor = await newest_first(
        session, select(Resource), Resource.created_at, Resource.id, cursor=cursor, limit=limit
    )
    return Page[ResourceOut](items=[resource_view(r) for r in rows], next_cursor=next_cursor)
