"""Operator views: what needs a human (unmatched webhooks, flagged bookings)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import Operator, SessionDep
from api.schemas import Page, WebhookEventOut
from api.services import ops

router = APIRouter(prefix="/v1/ops", tags=["operators"])


@router.get("/webhook-events", response_model=Page[WebhookEventOut])
async def webhook_events(
    _: Operator,
    session: SessionDep,
    status: Literal["RECEIVED", "SIGNALLED", "UNMATCHED", "WORKFLOW_CLOSED"] | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[WebhookEventOut]:
    """Stored gateway events, newest first; ``UNMATCHED`` ones name no known order."""
    return await ops.list_webhook_events(session, status=status, cursor=cursor, limit=limit)
