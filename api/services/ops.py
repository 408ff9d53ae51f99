"""Operator queries."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.pagination import (
    after_time_and_id,
    before_id,
    encode_cursor,
    fetch_page,
    time_and_id_cursor,
)
from api.schemas import OutgoingEventOut, Page, WebhookEventOut
from models.db import OutgoingEvent, WebhookEvent


async def list_webhook_events(
    session: AsyncSession, *, status: str | None, cursor: str | None, limit: int
) -> Page[WebhookEventOut]:
    """Stored webhook events, newest first (raw bodies only of unparseable ones)."""
    query = select(WebhookEvent).order_by(WebhookEvent.id.desc())
    if status is not None:
        query = query.where(WebhookEvent.status == status)
    if cursor is not None:
        query = query.where(before_id(WebhookEvent.id, cursor))
    rows, next_cursor = await fetch_page(session, query, limit, lambda e: encode_cursor(e.id))
    return Page[WebhookEventOut](
        items=[WebhookEventOut.model_validate(e, from_attributes=True) for e in rows],
        next_cursor=next_cursor,
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
    query = select(OutgoingEvent).order_by(OutgoingEvent.created_at.desc(), OutgoingEvent.id.desc())
    if status is not None:
        query = query.where(OutgoingEvent.status == status)
    if booking_id is not None:
        query = query.where(OutgoingEvent.booking_id == booking_id)
    if cursor is not None:
        query = query.where(
            after_time_and_id(OutgoingEvent.created_at, OutgoingEvent.id, cursor, descending=True)
        )
    rows, next_cursor = await fetch_page(
        session, query, limit, lambda e: time_and_id_cursor(e.created_at, e.id)
    )
    return Page[OutgoingEventOut](
        items=[OutgoingEventOut.model_validate(e, from_attributes=True) for e in rows],
        next_cursor=next_cursor,
    )
