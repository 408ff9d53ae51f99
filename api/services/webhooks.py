"""Gateway webhooks: verify over the raw body, store once, then signal the booking's workflow."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Mapping

import structlog
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import Services
from api.schemas.webhooks import WebhookReceiptOut
from core import bounded_json
from core.db import DATA_EXCEPTION_CLASS, outage_cause, pg_error
from integrations.gateways._common import WEBHOOK_MAX_DEPTH, form_fields
from integrations.gateways.base import GatewayEvent, InvalidSignature, WebhookVerifier
from models.db import Booking, Topup, WebhookEvent
from models.domain import AttentionKind
from models.errors import BookingError, ErrorCode
from models.payloads import PaymentEvent
from store import alerts
from store.bookings import booking_for_order
from store.payments import topup_for_order
from store.timeline import record_event
from workflows.booking import BookingWorkflow
from workflows.topup import TopupWorkflow

log = structlog.get_logger(__name__)

# A verified event the engine cannot map: stored with its raw body for operators.
UNPARSEABLE = "UNPARSEABLE"
_CURRENCY = re.compile(r"[A-Z]{3}")


async def _store_event(
    services: Services,
    provider: str,
    event: GatewayEvent,
    payload: dict[str, object],
    body: bytes,
) -> tuple[WebhookEvent, Booking | Topup | None, bool]:
    async with services.sessions() as session:
        booking = await booking_for_order(session, provider, event.order_id)
        if booking is None and event.reference:
            # The webhook may beat the order id into our database: fall back to
            # the booking reference the order was created with.
            try:
                candidate = await session.get(Booking, uuid.UUID(event.reference))
            except ValueError:
                candidate = None
            if candidate is not None and candidate.payment_provider == provider:
                booking = candidate
        topup = (
            None
            if booking is not None
            else await topup_for_order(session, provider, event.order_id, event.reference)
        )
        owner: Booking | Topup | None = booking or topup
        inserted = await session.execute(
            insert(WebhookEvent)
            .values(
                provider=provider,
                event_id=event.event_id,
                type=event.type,
                raw_type=event.raw_type,
                order_id=event.order_id,
                payment_id=event.payment_id,
                amount=event.amount,
                currency=event.currency,
                booking_id=booking.id if booking else None,
                topup_id=topup.id if topup else None,
                status="RECEIVED" if owner else "UNMATCHED",
                body=payload,
                raw_body=body,
            )
            .on_conflict_do_nothing(constraint="webhook_events_once")
            .returning(WebhookEvent.id)
        )
        first = inserted.first() is not None
        if first and owner is None:
            await alerts.open_alert(
                session,
                AttentionKind.WEBHOOK_UNMATCHED,
                f"{provider}:{event.event_id}",
                f"a signed {provider} {event.raw_type or event.type} event for order "
                f"{event.order_id} matches no booking or top-up",
            )
        if first and booking is not None:
            await record_event(
                session,
                booking.id,
                f"webhook.{event.type}",
                {"provider": provider, "event_id": event.event_id, "amount": event.amount},
                step=f"webhook:{provider}:{event.event_id}",
            )
        stored = (
            await session.execute(
                select(WebhookEvent).where(
                    WebhookEvent.provider == provider, WebhookEvent.event_id == event.event_id
                )
            )
        ).scalar_one()
        await session.commit()
    return stored, owner, first


async def _store_unparseable(services: Services, provider: str, body: bytes) -> WebhookReceiptOut:
    """Store a verified event that maps to nothing, once per exact body, with its raw bytes."""
    event_id = f"sha256:{hashlib.sha256(body).hexdigest()}"
    async with services.sessions() as session:
        inserted = await session.execute(
            insert(WebhookEvent)
            .values(
                provider=provider,
                event_id=event_id,
                type="other",
                raw_type="",
                status=UNPARSEABLE,
                body={},
                raw_body=body,
            )
            .on_conflict_do_nothing(constraint="webhook_events_once")
            .returning(WebhookEvent.id)
        )
        if inserted.first() is not None:
            await alerts.open_alert(
                session,
                AttentionKind.WEBHOOK_UNPARSEABLE,
                f"{provider}:{event_id}",
                f"a signed {provider} event could not be read ({len(body)} bytes kept)",
            )
        await session.commit()
    log.error("webhook.unparseable", provider=provider, event_id=event_id, size=len(body))
    return WebhookReceiptOut(event_id=event_id, status=UNPARSEABLE)


def _stored_form(body: bytes) -> dict[str, object]:
    """The verified body as stored: a JSON object, or a form's fields (Paytm, PayHere).

    Raises:
        ValueError: Neither, or JSON outside :func:`core.bounded_json.loads`'s bounds.
    """
    try:
        decoded = bounded_json.loads(body, max_depth=WEBHOOK_MAX_DEPTH)
    except bounded_json.JSONBoundsError:
        if body.lstrip()[:1] in (b"{", b"["):
            raise
        return dict(form_fields(body))  # a form with brackets in it
    except ValueError:
        return dict(form_fields(body))
    if not isinstance(decoded, dict):
        raise ValueError("the body is not a JSON object")
    return decoded


def _readable(event: GatewayEvent, payload: dict[str, object]) -> None:
    """Check that the event's fields and the decoded body fit their columns.

    Raises:
        ValueError: A NUL or an unpaired surrogate in a string (PostgreSQL's
            text and jsonb cannot hold either), a currency that is not three
            letters, or an amount outside a BIGINT.
    """
    texts = [event.event_id, event.raw_type, event.order_id, event.payment_id, event.currency]
    why = bounded_json.unstorable(payload) or bounded_json.unstorable(texts)
    if why is not None:
        raise ValueError(why)
    if event.currency is not None and not _CURRENCY.fullmatch(event.currency):
        raise ValueError("the currency is not three letters")
    if event.amount is not None and abs(event.amount) > bounded_json.INT64_MAX:
        raise ValueError("the amount is outside a BIGINT")


def _unstorable_value(exc: DBAPIError) -> bool:
    """Whether PostgreSQL refused a value of the event (SQLSTATE class 22), not an outage."""
    sqlstate = pg_error(exc).sqlstate or ""
    return outage_cause(exc) is None and sqlstate.startswith(DATA_EXCEPTION_CLASS)


async def _mark(services: Services, stored_id: int, status: str) -> None:
    async with services.sessions() as session:
        await session.execute(
            update(WebhookEvent).where(WebhookEvent.id == stored_id).values(status=status)
        )
        await session.commit()


async def receive_webhook(
    services: Services,
    verifiers: Mapping[str, WebhookVerifier],
    provider: str,
    body: bytes,
    headers: Mapping[str, str],
) -> WebhookReceiptOut:
    """Verify, store (once per provider event id), and signal the booking's workflow.

    Every verified body is stored byte for byte (``raw_body``) and answered 2xx:
    one that cannot be read (not an event, nested too deep, a number or a
    string no column holds) is stored as UNPARSEABLE with an alert, by the
    SHA-256 of its bytes. A replayed event changes nothing. An event stored but not yet signalled
    (a crash, Temporal down) is signalled again on the gateway's retry, and
    the workflow ignores event ids it has seen.

    Raises:
        BookingError: INVALID_SIGNATURE (nothing stored), or DEPENDENCY_UNAVAILABLE
            so the gateway retries. A verified event that cannot be mapped is no
            error: it is stored as UNPARSEABLE and answered 2xx.
    """
    verifier = verifiers.get(provider)
    if verifier is None:
        log.warning("webhook.rejected", provider=provider, why="no verifier configured")
        raise BookingError(ErrorCode.INVALID_SIGNATURE, "Unknown or unconfigured provider.")
    try:
        verifier.verify(body, headers, now=time.time())
    except (InvalidSignature, ValueError) as exc:
        # A ValueError is a header or body no verifier could read: malformed, so not valid.
        why = str(exc) if isinstance(exc, InvalidSignature) else type(exc).__name__
        log.warning("webhook.invalid_signature", provider=provider, why=why)
        raise BookingError(ErrorCode.INVALID_SIGNATURE, "The signature is not valid.") from None
    try:
        event = verifier.parse(body, headers)
        payload = _stored_form(body)
        _readable(event, payload)
    except (ValueError, KeyError, TypeError, InvalidSignature) as exc:
        # Signed by the gateway but not an event we can map: keep it, answer 2xx.
        log.warning("webhook.unreadable", provider=provider, why=type(exc).__name__)
        return await _store_unparseable(services, provider, body)
    try:
        stored, owner, first = await _store_event(services, provider, event, payload, body)
    except DBAPIError as exc:
        # A second line: a value the checks above let through and PostgreSQL refuses
        # is still the gateway's signed event. An outage stays an error (5xx, retried).
        if not _unstorable_value(exc):
            raise
        log.warning("webhook.unstorable_value", provider=provider, sqlstate=pg_error(exc).sqlstate)
        return await _store_unparseable(services, provider, body)
    log.info(
        "webhook.stored",
        provider=provider,
        event_id=event.event_id,
        type=event.type,
        first=first,
        owner_id=str(owner.id) if owner else None,
    )
    if owner is None or stored.status in ("SIGNALLED", "WORKFLOW_CLOSED"):
        return WebhookReceiptOut(event_id=event.event_id, status=stored.status)

    signalled = PaymentEvent(
        provider=provider,
        event_id=event.event_id,
        type=event.type,
        order_id=event.order_id,
        payment_id=event.payment_id,
        amount=event.amount,
        currency=event.currency,
    )
    client = await services.temporal.client()
    try:
        if isinstance(owner, Booking):
            booking = client.get_workflow_handle_for(BookingWorkflow.run, owner.workflow_id)
            await booking.signal(BookingWorkflow.payment_event, signalled)
        else:
            topup = client.get_workflow_handle_for(TopupWorkflow.run, owner.workflow_id)
            await topup.signal(TopupWorkflow.payment_event, signalled)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        # The workflow has finished (past its late-payment window): keep the
        # event for operators instead of losing it.
        log.error("webhook.workflow_closed", provider=provider, owner_id=str(owner.id))
        await _mark(services, stored.id, "WORKFLOW_CLOSED")
        return WebhookReceiptOut(event_id=event.event_id, status="WORKFLOW_CLOSED")
    await _mark(services, stored.id, "SIGNALLED")
    return WebhookReceiptOut(event_id=event.event_id, status="SIGNALLED")
