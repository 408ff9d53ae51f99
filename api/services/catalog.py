"""Resources and slots."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.pagination import after_time_and_id, fetch_page, newest_first, time_and_id_cursor
from api.schemas import Page, ResourceIn, ResourceOut, SlotOut, SlotsIn
from api.views import resource_view, slot_view
from models.db import Resource, Slot
from models.errors import BookingError, ErrorCode


async def create_resource(session: AsyncSession, body: ResourceIn) -> ResourceOut:
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
    session: AsyncSession, resource_id: uuid.UUID, body: SlotsIn
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
