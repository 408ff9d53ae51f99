"""Resources and slots."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.pagination import decode_cursor, encode_cursor
from api.schemas import Page, ResourceCreate, ResourceOut, SlotOut, SlotsCreate
from api.views import resource_view, slot_view
from core.errors import BookingError, ErrorCode
from models.db import Resource, Slot


async def create_resource(session: AsyncSession, body: ResourceCreate) -> ResourceOut:
    """Create a bookable resource."""
    resource = Resource(
        id=uuid.uuid4(),
        name=body.name,
        timezone=body.timezone,
        meeting_provider=body.meeting_provider,
        refund_policy=body.refund_policy.model_dump(),
    )
    session.add(resource)
    await session.commit()
    await session.refresh(resource)
    return resource_view(resource)


async def create_slots(
    session: AsyncSession, resource_id: uuid.UUID, body: SlotsCreate
) -> list[SlotOut]:
    """Create slots in one transaction: all of them or none."""
    if await session.get(Resource, resource_id) is None:
        raise BookingError(ErrorCode.RESOURCE_NOT_FOUND)
    for index, spec in enumerate(body.slots):
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
        for spec in body.slots
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
    query = select(Slot).order_by(Slot.starts_at, Slot.id).limit(limit + 1)
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
        after_start, after_id = decode_cursor(cursor, 2)
        try:
            start, last_id = datetime.fromisoformat(after_start), uuid.UUID(after_id)
        except ValueError:
            raise BookingError(ErrorCode.VALIDATION_ERROR, "cursor: not a valid cursor") from None
        query = query.where(
            or_(Slot.starts_at > start, and_(Slot.starts_at == start, Slot.id > last_id))
        )
    rows = list((await session.execute(query)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].starts_at.isoformat(), rows[-1].id) if more else None
    return Page[SlotOut](items=[slot_view(s) for s in rows], next_cursor=next_cursor)
