"""Operator views: alerts, unmatched webhooks, undelivered booking events."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import IdempotencyKey, Operator, ServicesDep, SessionDep
from api.schemas.common import Page
from api.schemas.ops import (
    AlertOut,
    OperatorRefundIn,
    OperatorRefundOut,
    OutgoingEventOut,
    RecoverIn,
    RecoverOut,
    ResendNotificationIn,
    ResendNotificationOut,
    ResolveAlertIn,
    RetryMeetingIn,
    RetryMeetingOut,
    RetryPendingIn,
    RetryPendingOut,
    TopupRefundIn,
    TopupRefundOut,
    WebhookEventOut,
)
from api.schemas.wallets import LedgerEntryOut, WalletOut
from api.services import booking_changes, booking_ops, ops, recovery, topups, wallets
from models.domain import AttentionKind

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


@router.post("/outgoing-events/{event_id}/redeliver", response_model=OutgoingEventOut)
async def redeliver_event(
    event_id: uuid.UUID, user: Operator, services: ServicesDep
) -> OutgoingEventOut:
    """Send a FAILED (or DELIVERED) booking event again, with fresh attempts (audited)."""
    return await ops.redeliver_event(services, user, event_id)


@router.get("/alerts", response_model=Page[AlertOut])
async def list_alerts(
    _: Operator,
    session: SessionDep,
    status: Literal["open", "resolved"] | None = None,
    kind: AttentionKind | None = None,
    booking_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[AlertOut]:
    """What needs a person, newest first: open ones until an operator resolves them."""
    return await ops.list_alerts(
        session, status=status, kind=kind, booking_id=booking_id, cursor=cursor, limit=limit
    )


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut)
async def resolve_alert(
    alert_id: uuid.UUID, body: ResolveAlertIn, user: Operator, services: ServicesDep
) -> AlertOut:
    """Resolve an open alert with a note (audited); 409 if it is already resolved."""
    return await ops.resolve_alert(services, user, alert_id, body.note)


@router.post(
    "/bookings/{booking_id}/retry-meeting", response_model=RetryMeetingOut, status_code=202
)
async def retry_meeting(
    booking_id: uuid.UUID, user: Operator, services: ServicesDep, body: RetryMeetingIn | None = None
) -> RetryMeetingOut:
    """Create a confirmed booking's missing meeting link again (audited; 409 if it has one)."""
    note = None if body is None else body.note
    return await booking_changes.retry_meeting(services, user, booking_id, note)


@router.post(
    "/bookings/{booking_id}/retry-pending-steps", response_model=RetryPendingOut, status_code=202
)
async def retry_pending_steps(
    booking_id: uuid.UUID, user: Operator, services: ServicesDep, body: RetryPendingIn | None = None
) -> RetryPendingOut:
    """Try a booking's pending must-happen steps now (audited; 409 if none is pending).

    A refund or release that kept failing past its bound is pending: retried
    on a backoff from seconds to 15 minutes for about a day, or at once with
    this once its cause is fixed.
    The engine resolves the alert when the step goes through.
    """
    note = None if body is None else body.note
    return await booking_changes.retry_pending_steps(services, user, booking_id, note)


@router.post("/bookings/{booking_id}/recover", response_model=RecoverOut)
async def recover_booking(
    booking_id: uuid.UUID, body: RecoverIn, user: Operator, services: ServicesDep
) -> RecoverOut:
    """Finish a booking whose workflow was terminated (the WORKFLOW_MISSING alert), audited.

    An upcoming or unpaid booking is cancelled as by an operator (order and
    meeting cancelled, all that was paid refunded, the slot released, the
    customer mailed); a confirmed booking whose time has passed is
    COMPLETED; one that has ended is left as it is. 409 while the booking's
    own workflow runs (cancel the booking instead).
    """
    return await recovery.recover(services, user, booking_id, body.note)


@router.post("/bookings/{booking_id}/refund", response_model=OperatorRefundOut, status_code=201)
async def refund_booking(
    booking_id: uuid.UUID,
    body: OperatorRefundIn,
    user: Operator,
    key: IdempotencyKey,
    services: ServicesDep,
) -> JSONResponse:
    """Refund some or all of what is left of a booking's payment (audited, once per key).

    Never above what was captured less what was refunded; a later cancel
    refunds at most the rest. The customer is mailed.
    """
    out, replayed = await booking_ops.refund(services, user, booking_id, key, body.to_command())
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(out.model_dump(mode="json"), status_code=201, headers=headers)


@router.post("/bookings/{booking_id}/resend-notification", response_model=ResendNotificationOut)
async def resend_notification(
    booking_id: uuid.UUID, body: ResendNotificationIn, user: Operator, services: ServicesDep
) -> ResendNotificationOut:
    """Send one of the booking's notifications again (audited); 409 if it was never sent."""
    return await booking_ops.resend_notification(services, user, booking_id, body.to_command())


@router.post("/topups/{topup_id}/refund", response_model=TopupRefundOut)
async def refund_topup(
    topup_id: uuid.UUID,
    body: TopupRefundIn,
    user: Operator,
    key: IdempotencyKey,
    services: ServicesDep,
) -> TopupRefundOut:
    """Refund a credited top-up: only while the wallet still holds it (402 otherwise; audited).

    Once per Idempotency-Key: a retry with the same key is the same refund.
    """
    return await topups.refund_topup(services, user, topup_id, body.reason, key)


@router.get("/wallets/{customer_id}", response_model=WalletOut)
async def customer_wallet(customer_id: uuid.UUID, _: Operator, session: SessionDep) -> WalletOut:
    """A customer's balances per currency, as the customer sees them."""
    return await wallets.get_wallet(session, customer_id)


@router.get("/wallets/{customer_id}/ledger", response_model=Page[LedgerEntryOut])
async def customer_ledger(
    customer_id: uuid.UUID,
    _: Operator,
    session: SessionDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[LedgerEntryOut]:
    """A customer's ledger entries, newest first."""
    return await wallets.list_ledger(session, customer_id, cursor=cursor, limit=limit)
