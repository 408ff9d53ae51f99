"""Reading bookings: from PostgreSQL, which the activities keep current."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.pagination import newest_first
from api.schemas.bookings import BookingOut, BookingSummaryOut
from api.schemas.common import Page
from api.views import booking_view, summary_view
from core.auth import Principal
from models.db import Alert, Booking
from models.domain import AttentionKind, BookingStatus
from models.errors import BookingError, ErrorCode


async def get_booking(session: AsyncSession, user: Principal, booking_id: uuid.UUID) -> BookingOut:
    """One booking; another customer's booking is reported as not found."""
    view = await booking_view(session, booking_id)
    if view is None or (not user.is_operator and view.customer_id != user.sub):
        raise BookingError(ErrorCode.BOOKING_NOT_FOUND)
    return view


async def list_bookings(
    session: AsyncSession,
    user: Principal,
    *,
    status: BookingStatus | None,
    cursor: str | None,
    limit: int,
    needs_attention: bool | None = None,
    customer_id: uuid.UUID | None = None,
    resource_id: uuid.UUID | None = None,
    starts_from: datetime | None = None,
    starts_before: datetime | None = None,
    attention: AttentionKind | None = None,
) -> Page[BookingSummaryOut]:
    """Newest first: a customer's own bookings, or every booking for operators.

    Raises:
        BookingError: FORBIDDEN when a customer asks for another customer's bookings.
    """
    query = select(Booking)
    if not user.is_operator:
        if customer_id is not None and customer_id != user.sub:
            raise BookingError(ErrorCode.FORBIDDEN, "customer_id: only operators list others")
        customer_id = user.sub
    if customer_id is not None:
        query = query.where(Booking.customer_id == customer_id)
    if resource_id is not None:
        query = query.where(Booking.resource_id == resource_id)
    if starts_from is not None:
        query = query.where(Booking.starts_at >= starts_from)
    if starts_before is not None:
        query = query.where(Booking.starts_at < starts_before)
    if attention is not None:
        # Implied (a booking with an open alert needs attention), and it lets PostgreSQL
        # join the few such bookings (an index-only scan) instead of fetching each one.
        query = query.where(Booking.needs_attention).where(
            select(Alert.id)
            .where(
                Alert.booking_id == Booking.id,
                Alert.kind == attention.value,
                Alert.resolved_at.is_(None),
            )
            .exists()
        )
    if status is not None:
        query = query.where(Booking.status == status.value)
    if needs_attention is not None:
        # Spelled as the partial index's predicate (``WHERE needs_attention``): PostgreSQL
        # does not prove ``needs_attention IS true`` implies it, and would walk every booking.
        query = query.where(
            Booking.needs_attention if needs_attention else ~Booking.needs_attention
        )
    rows, next_cursor = await newest_first(
        session, query, Booking.created_at, Booking.id, cursor=cursor, limit=limit
    )
    return Page[BookingSummaryOut](items=[summary_view(b) for b in rows], next_cursor=next_cursor)


async def owned_booking(session: AsyncSession, user: Principal, booking_id: uuid.UUID) -> Booking:
    """The booking row if the caller may see it; another customer's is not found."""
    booking = await session.get(Booking, booking_id)
    if booking is None or (not user.is_operator and booking.customer_id != user.sub):
        raise BookingError(ErrorCode.BOOKING_NOT_FOUND)
    return booking
