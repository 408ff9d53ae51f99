"""Operator queries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.service import RPCError, RPCStatusCode

from api.deps import Services
from api.pagination import before_id, encode_cursor, fetch_page, newest_first
from api.schemas.common import Page
from api.schemas.ops import AlertOut, OutgoingEventOut, WebhookEventOut
from core.auth import Principal
from models.db import Alert, AuditRecord, Booking, OutgoingEvent, WebhookEvent
from models.domain import AttentionKind
from models.errors import BookingError, ErrorCode
from store import alerts
from workflows.booking import BookingWorkflow

log = structlog.get_logger(__name__)


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
    query = select(OutgoingEvent)
    if status is not None:
        query = query.where(OutgoingEvent.status == status)
    if booking_id is not None:
        query = query.where(OutgoingEvent.booking_id == booking_id)
    rows, next_cursor = await newest_first(
        session, query, OutgoingEvent.created_at, OutgoingEvent.id, cursor=cursor, limit=limit
    )
    return Page[OutgoingEventOut](
        items=[OutgoingEventOut.model_validate(e, from_attributes=True) for e in rows],
        next_cursor=next_cursor,
    )


async def list_alerts(
    session: AsyncSession,
    *,
    status: str | None,
    kind: AttentionKind | None,
    booking_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> Page[AlertOut]:
    """Alerts, newest first; ``status`` is ``open`` or ``resolved``."""
    query = select(Alert)
    if status == "open":
        query = query.where(Alert.resolved_at.is_(None))
    elif status == "resolved":
        query = query.where(Alert.resolved_at.is_not(None))
    if kind is not None:
        query = query.where(Alert.kind == kind.value)
    if booking_id is not None:
        query = query.where(Alert.booking_id == booking_id)
    rows, next_cursor = await newest_first(
        session, query, Alert.opened_at, Alert.id, cursor=cursor, limit=limit
    )
    return Page[AlertOut](
        items=[AlertOut.model_validate(a, from_attributes=True) for a in rows],
        next_cursor=next_cursor,
    )


async def resolve_alert(
    services: Services, user: Principal, alert_id: uuid.UUID, note: str
) -> AlertOut:
    """Resolve an open alert with the operator's note on what was done (audited).

    A booking's alert also leaves its workflow's ``BookingAttention`` (the
    ``alert_resolved`` signal); a workflow that has finished has nothing to drop.
    """
    actor = f"{user.role}:{user.sub}"
    async with services.sessions() as session:
        alert = await session.get(Alert, alert_id, with_for_update=True)
        if alert is None:
            raise BookingError(ErrorCode.NOT_FOUND, "No such alert.")
        if alert.resolved_at is not None:
            raise BookingError(
                ErrorCode.INVALID_STATE,
                f"The alert was resolved at {alert.resolved_at.isoformat()} "
                f"by {alert.resolved_by}.",
            )
        still_open = await alerts.resolve_alert(session, alert, actor=actor, note=note)
        booking = await session.get(Booking, alert.booking_id) if alert.booking_id else None
        await session.commit()
        out = AlertOut.model_validate(alert, from_attributes=True)
    if booking is not None and out.kind not in still_open:
        client = await services.temporal.client()
        handle = client.get_workflow_handle_for(BookingWorkflow.run, booking.workflow_id)
        try:
            await handle.signal(BookingWorkflow.alert_resolved, out.kind)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
    log.info("alert.resolved", alert_id=str(alert_id), kind=out.kind, actor=actor)
    return out


async def redeliver_event(
    services: Services, user: Principal, event_id: uuid.UUID
) -> OutgoingEventOut:
    """Queue a FAILED (or DELIVERED) outgoing event for delivery again, with fresh attempts.

    Audited. An event still PENDING is already queued: 409 INVALID_STATE.
    """
    actor = f"{user.role}:{user.sub}"
    async with services.sessions() as session:
        event = await session.get(OutgoingEvent, event_id, with_for_update=True)
        if event is None:
            raise BookingError(ErrorCode.NOT_FOUND, "No such outgoing event.")
        if event.status == "PENDING":
            raise BookingError(ErrorCode.INVALID_STATE, "The event is already queued.")
        previous = event.status
        event.status, event.attempts = "PENDING", 0
        event.next_attempt_at = datetime.now(UTC)
        session.add(
            AuditRecord(
                actor=actor,
                action="event.redelivery_requested",
                booking_id=event.booking_id,
                reason=f"{event.type} ({event.id}) was {previous}",
                key=f"event:{event.id}:redeliver:{uuid.uuid4()}",
            )
        )
        await session.commit()
        out = OutgoingEventOut.model_validate(event, from_attributes=True)
    log.info("events.redelivery_requested", event_id=str(event_id), actor=actor)
    return out
