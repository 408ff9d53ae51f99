"""Operator queries."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.pagination import decode_cursor, encode_cursor
from api.schemas import Page, WebhookEventOut
from core.errors import BookingError, ErrorCode
from models.db import WebhookEvent


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
