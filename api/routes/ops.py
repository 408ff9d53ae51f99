"""Operator views: what needs a human (unmatched webhooks, undelivered booking events)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import Operator, SessionDep
from api.schemas import OutgoingEventOut, Page, WebhookEventOut
from api.services import ops

router = APIRouter(prefix="/v1/ops", tags=["operators"])


@router.get("/webhook-events", response_model=Page[WebhookEventOut])
async def webhook_events(
    _: Operator,
    session: SessionDep,
    status: Literal["RECEIVED", "SIGNALLED", "UNMATCHED", "UNPARSEABLE", "WORKFLOW_CLOSED"]
    | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[WebhookEventOut]:
    """Stored gateway events, newest first.

    ``UNMATCHED`` ones name no known order; ``UNPARSEABLE`` ones were signed but
    could not be mapped (their raw body is kept).
    """
    return await ops.list_webhook_events(session, status=status, cursor=cursor, limit=limit)


@router.get("/outgoing-events", response_model=Page[OutgoingEventOut])
async def outgoing_events(
    _: Operator,
    session: SessionDep,
    status: Literal["PENDING", "DELIVERED", "FAILED"] | None = None,
    booking_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[OutgoingEventOut]:
    """Booking events for the host application; ``FAILED`` ones exhausted their retries."""
    return await ops.list_outgoing_events(
        session, status=status, booking_id=booking_id, cursor=cursor, limit=limit
    )
