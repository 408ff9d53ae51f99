"""Operator queries."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.pagination import decode_cursor, encode_cursor
from api.schemas import OutgoingEventOut, Page, WebhookEventOut
from core.errors import BookingError, ErrorCode
from models.db import OutgoingEvent, WebhookEvent


async def list_webhook_events(
    session: AsyncSession, *, status: str | None, cursor: str | None, limit: int
) -> Page[WebhookEventOut]:
    """Stored webhook events (without their raw bodies), newest first."""
    query = select(WebhookEvent).order_by(WebhookEvent.id.desc()).limit(limit + 1)
    if status is not None:
        query = query.where(WebhookEvent.status == status)
    if cursor is not None:
        (last,) = decode_cursor(cursor, 1)
        if not last.isdigit():
            raise BookingError(ErrorCode.VALIDATION_ERROR, "cursor: not a valid cursor")
        query = query.where(WebhookEvent.id < int(last))
    rows = list((await session.execute(query)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[WebhookEventOut](
        items=[
            WebhookEventOut(
                provider=e.provider,
                event_id=e.event_id,
                type=e.type,
                raw_type=e.raw_type,
                order_id=e.order_id,
                payment_id=e.payment_id,
                amount=e.amount,
                currency=e.currency,
                booking_id=e.booking_id,
                status=e.status,
                received_at=e.received_at,
            )
            for e in rows
        ],
        next_cursor=encode_cursor(rows[-1].id) if more else None,
    )


async def list_outgoing_events(
    session: AsyncSession,
    *,
    status: str | None,
    booking_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> Page[OutgoingEventOut]:
    """Booking events for the host application with their delivery status, newest first."""
    query = (
        select(OutgoingEvent)
        .order_by(OutgoingEvent.created_at.desc(), OutgoingEvent.id.desc())
        .limit(limit + 1)
    )
    if status is not None:
        query = query.where(OutgoingEvent.status == status)
    if booking_id is not None:
        query = query.where(OutgoingEvent.booking_id == booking_id)
    if cursor is not None:
        created, last = decode_cursor(cursor, 2)
        try:
            created_at, last_id = datetime.fromisoformat(created), uuid.UUID(last)
        except ValueError:
            raise BookingError(ErrorCode.VALIDATION_ERROR, "cursor: not a valid cursor") from None
        query = query.where(
            or_(
                OutgoingEvent.created_at < created_at,
                and_(OutgoingEvent.created_at == created_at, OutgoingEvent.id < last_id),
            )
        )
    rows = list((await session.execute(query)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[OutgoingEventOut](
        items=[
            OutgoingEventOut(
                id=e.id,
                booking_id=e.booking_id,
                type=e.type,
                status=e.status,
                attempts=e.attempts,
                last_error=e.last_error,
                next_attempt_at=e.next_attempt_at,
                created_at=e.created_at,
                delivered_at=e.delivered_at,
            )
            for e in rows
        ],
        next_cursor=encode_cursor(rows[-1].created_at.isoformat(), rows[-1].id) if more else None,
    )
