"""Lookups of bookings and slots shared by the activities and the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import Table, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.formatting import local_time, money
from models.availability import RangeRules
from models.db import Booking, Resource, Slot
from models.domain import ACTIVE_STATUSES
from models.errors import ErrorCode, business_failure
from models.payloads.slots import SlotHold
from models.refund_policy import RefundPolicy

# The bookings table, for Core statements on the hot path (no ORM bookkeeping).
BOOKINGS = cast(Table, Booking.__table__)


def slot_hold_of(booking: Booking, resource: Resource) -> SlotHold:
    """The booking's current hold as the workflow carries it, with its words for operators."""
    return SlotHold(
        booking_id=booking.id,
        slot_id=booking.slot_id,
        resource_id=booking.resource_id,
        amount=booking.amount,
        currency=booking.currency,
        starts_at=booking.starts_at,
        ends_at=booking.ends_at,
        meeting_provider=booking.meeting_provider,
        refund_policy=RefundPolicy.model_validate(resource.refund_policy),
        resource_name=resource.name,
        price_text=money(booking.amount, booking.currency),
        starts_text=local_time(booking.starts_at, resource.timezone),
    )


async def slot_with_resource(session: AsyncSession, slot_id: uuid.UUID) -> tuple[Slot, Resource]:
    """The slot and its resource, or the SLOT_NOT_FOUND refusal."""
    row = (
        await session.execute(select(Slot, Resource).join(Resource).where(Slot.id == slot_id))
    ).one_or_none()
    if row is None:
        raise business_failure(ErrorCode.SLOT_NOT_FOUND)
    slot, resource = row
    return slot, resource


async def booking_with_resource(
    session: AsyncSession, booking_id: uuid.UUID
) -> tuple[Booking, Resource] | None:
    """The booking and its resource, in one statement; None when there is no such booking."""
    row = (
        await session.execute(
            select(Booking, Resource).join(Resource).where(Booking.id == booking_id)
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


async def range_resource(
    session: AsyncSession, resource_id: uuid.UUID
) -> tuple[Resource, RangeRules]:
    """A range resource and its parsed rules, or the refusal (unknown, or booked by slot)."""
    resource = await session.get(Resource, resource_id)
    if resource is None:
        raise business_failure(ErrorCode.RESOURCE_NOT_FOUND)
    if resource.range_rules is None:
        raise business_failure(
            ErrorCode.VALIDATION_ERROR, "resource_id: this resource is booked by slot_id"
        )
    return resource, RangeRules.parse(resource.timezone, resource.range_rules)


async def busy_spans(
    session: AsyncSession, resource: Resource, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The resource's active bookings near ``[start, end)``: ``(starts_at, blocked_until)``.

    Read through the overlap constraint's GiST index (resource, blocked range). That
    index is partial (``WHERE exclusive AND status IN ...``), so the conditions here
    spell its predicate the same way: ``exclusive IS true`` would not imply it, and
    PostgreSQL would scan the whole table instead (docs/performance-notes.md,
    "Availability: a plan, not a profile").
    """
    rows = await session.execute(
        select(Booking.starts_at, Booking.blocked_until).where(
            text("resource_span && int8range(:seq, :seq, '[]')"),
            text("blocked && tstzrange(:start, :end)"),
            Booking.exclusive,
            Booking.status.in_([s.value for s in ACTIVE_STATUSES]),
        ),
        {"seq": resource.seq, "start": start, "end": end},
    )
    return [(row.starts_at, row.blocked_until) for row in rows.all()]


async def booking_for_order(
    session: AsyncSession, provider: str, order_id: str | None
) -> Booking | None:
    """The booking whose order this is, if any."""
    if order_id is None:
        return None
    return (
        await session.execute(
            select(Booking).where(
                Booking.payment_provider == provider, Booking.payment_order_id == order_id
            )
        )
    ).scalar_one_or_none()
