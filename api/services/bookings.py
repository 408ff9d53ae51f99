"""Bookings: start the workflow with Update-with-Start, read state from PostgreSQL."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import Services
from api.pagination import after_time_and_id, fetch_page, time_and_id_cursor
from api.schemas import (
    BookingCreate,
    BookingOut,
    BookingSummary,
    CancelIn,
    CancelOut,
    CancelRefundOut,
    Money,
    Page,
    RescheduleIn,
    RescheduleOut,
    SignedMoney,
)
from api.services import idempotency
from api.views import booking_view, summary_view
from core.auth import Principal
from core.errors import HTTP_STATUS, BookingError, ErrorCode
from models.db import Booking, GatewayTransaction, LedgerEntry, Slot
from models.flow import (
    BookingInput,
    BookingPolicy,
    BookingStatus,
    CancelInput,
    Contact,
    CreateResult,
    PaymentSpec,
    RefundInfo,
    RescheduleInput,
)
from workflows.booking import BookingWorkflow
from workflows.common import BOOKING_ID, BOOKING_STATUS, CUSTOMER_ID, PAYMENT_PROVIDER, RESOURCE_ID

log = structlog.get_logger(__name__)

CREATE_SCOPE = "booking.create"
CREATE_UPDATE_ID = "create"


def workflow_id_for(booking_id: uuid.UUID) -> str:
    """Each booking is one workflow, whose id is derived from the booking id."""
    return f"booking-{booking_id}"


@dataclass(frozen=True)
class CreateOutcome:
    """What ``POST /v1/bookings`` answers: a status and a body (a booking or an error)."""

    status: int
    body: dict[str, Any]
    replayed: bool


def _error_body(code: ErrorCode) -> dict[str, Any]:
    return {"error": {"code": code.value, "message": BookingError(code).message}}


async def create_booking(
    services: Services, user: Principal, key: str, body: BookingCreate
) -> CreateOutcome:
    """Create a booking, idempotently per (customer, key).

    The key's record gives every concurrent request the same booking id; the
    workflow id derives from it and the update id is fixed, so Temporal runs
    one workflow and one ``create`` update however many requests race. The
    first answer is stored and replayed for the key's lifetime.

    A slot that is already full is refused here, without a workflow, and a
    burst on one slot waits at the per-slot gate (:mod:`api.admission`) rather
    than queue in the worker; the hold activity and the database still decide.
    """
    if body.payment.method == "gateway":
        enabled = services.settings.enabled_gateways()
        if body.payment.provider not in enabled:
            raise BookingError(
                ErrorCode.VALIDATION_ERROR,
                f"payment.provider: must be one of {sorted(enabled) or 'none configured'}",
            )
    elif body.payment.provider is not None:
        raise BookingError(
            ErrorCode.VALIDATION_ERROR, "payment.provider: only for gateway payments"
        )
    async with services.sessions() as session:
        slot = await session.get(Slot, body.slot_id)
    if slot is None:
        raise BookingError(ErrorCode.SLOT_NOT_FOUND)
    principal = str(user.sub)
    reservation = await idempotency.reserve(
        services.sessions,
        principal=principal,
        scope=CREATE_SCOPE,
        key=key,
        body_hash=idempotency.request_hash(body.model_dump(mode="json")),
        ttl_days=services.settings.idempotency_ttl_days,
    )
    if reservation.response_status is not None and reservation.response_body is not None:
        return CreateOutcome(reservation.response_status, reservation.response_body, True)

    booking_id = reservation.target_id
    structlog.contextvars.bind_contextvars(
        booking_id=str(booking_id), workflow_id=workflow_id_for(booking_id)
    )
    async with services.admission.admit(
        slot.id, functools.partial(_free_seats, services, slot.id), known_free=_free(slot)
    ) as admitted:
        if not admitted:
            # Full already: answer without a workflow, unless a duplicate of this
            # key has started one, whose outcome is then the answer.
            refused = await idempotency.refuse(
                services.sessions,
                principal=principal,
                scope=CREATE_SCOPE,
                key=key,
                status=HTTP_STATUS[ErrorCode.SLOT_UNAVAILABLE],
                body=_error_body(ErrorCode.SLOT_UNAVAILABLE),
            )
            if refused is not None:
                log.info("booking.create_refused_early", status=refused[0])
                return CreateOutcome(*refused, False)
        stored = await idempotency.mark_started(
            services.sessions, principal=principal, scope=CREATE_SCOPE, key=key
        )
        if stored is not None:
            return CreateOutcome(*stored, True)
        return await _decide(services, user, key, reservation, body, slot)


def _free(slot: Slot) -> int:
    """Seats a create could still take: none once the slot has started (the hold's rule too)."""
    if slot.starts_at <= datetime.now(UTC):
        return 0
    return slot.capacity - slot.active_count


async def _free_seats(services: Services, slot_id: uuid.UUID) -> int:
    async with services.sessions() as session:
        slot = await session.get(Slot, slot_id, populate_existing=True)
    return 0 if slot is None else _free(slot)


async def _decide(
    services: Services,
    user: Principal,
    key: str,
    reservation: idempotency.Reservation,
    body: BookingCreate,
    slot: Slot,
) -> CreateOutcome:
    """Run the create update and store its answer under the key."""
    booking_id = reservation.target_id
    try:
        result = await _run_create_update(services, user, booking_id, body, slot.resource_id)
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        # The workflow keeps going; the same key later gets its answer.
        log.warning("booking.create_timed_out", first_request=reservation.first)
        if reservation.first:
            raise BookingError(
                ErrorCode.DEPENDENCY_UNAVAILABLE,
                "The booking is taking longer than expected; retry with the same key.",
            ) from None
        raise BookingError(
            ErrorCode.IDEMPOTENCY_KEY_IN_USE,
            "A request with this Idempotency-Key is still in progress; retry later.",
        ) from None
    if result.status == BookingStatus.FAILED:
        code = ErrorCode(result.reason or ErrorCode.INTERNAL)
        status, payload = HTTP_STATUS[code], _error_body(code)
    else:
        async with services.sessions() as session:
            view = await booking_view(session, booking_id)
        assert view is not None
        status, payload = 201, view.model_dump(mode="json")
    status, payload = await idempotency.settle(
        services.sessions,
        principal=str(user.sub),
        scope=CREATE_SCOPE,
        key=key,
        status=status,
        body=payload,
    )
    log.info("booking.create_answered", status=status)
    return CreateOutcome(status, payload, False)


async def _run_create_update(
    services: Services,
    user: Principal,
    booking_id: uuid.UUID,
    body: BookingCreate,
    resource_id: uuid.UUID,
) -> CreateResult:
    settings = services.settings
    workflow_id = workflow_id_for(booking_id)
    contact = Contact(**body.contact.model_dump()) if body.contact else None
    start = WithStartWorkflowOperation(
        BookingWorkflow.run,
        BookingInput(
            booking_id=booking_id,
            customer_id=user.sub,
            slot_id=body.slot_id,
            payment=PaymentSpec(method=body.payment.method, provider=body.payment.provider),
            contact=contact,
            policy=BookingPolicy(
                hold_ttl_seconds=settings.hold_ttl_seconds,
                meeting_alert_after_seconds=settings.meeting_alert_after_seconds,
                gateway_max_attempts=settings.gateway_max_attempts,
                late_payment_window_seconds=settings.late_payment_window_seconds,
            ),
        ),
        id=workflow_id,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        # A finished booking is never started again under the same id.
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(BOOKING_ID, str(booking_id)),
                SearchAttributePair(CUSTOMER_ID, str(user.sub)),
                SearchAttributePair(RESOURCE_ID, str(resource_id)),
                SearchAttributePair(PAYMENT_PROVIDER, body.payment.provider or body.payment.method),
                SearchAttributePair(BOOKING_STATUS, BookingStatus.HELD.value),
            ]
        ),
        static_summary=(
            f"Booking {booking_id} of slot {body.slot_id}, paid by {body.payment.method}"
        ),
    )
    temporal = await services.temporal.client()
    try:
        return await temporal.execute_update_with_start_workflow(
            BookingWorkflow.create,
            start_workflow_operation=start,
            id=CREATE_UPDATE_ID,
            rpc_timeout=timedelta(seconds=settings.create_timeout_seconds),
        )
    except WorkflowAlreadyStartedError:
        # The workflow already finished (a failed booking closes at once) before
        # this request attached: its result carries the same decision.
        handle = temporal.get_workflow_handle_for(BookingWorkflow.run, workflow_id)
        return (await handle.result()).create
    except WorkflowUpdateFailedError:
        log.exception("booking.create_update_failed")
        raise BookingError(ErrorCode.INTERNAL) from None


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
) -> Page[BookingSummary]:
    """Newest first: a customer's own bookings, or every booking for operators."""
    query = select(Booking).order_by(Booking.created_at.desc(), Booking.id.desc())
    if not user.is_operator:
        query = query.where(Booking.customer_id == user.sub)
    if status is not None:
        query = query.where(Booking.status == status.value)
    if needs_attention is not None:
        query = query.where(Booking.needs_attention.is_(needs_attention))
    if cursor is not None:
        query = query.where(
            after_time_and_id(Booking.created_at, Booking.id, cursor, descending=True)
        )
    rows, next_cursor = await fetch_page(
        session, query, limit, lambda b: time_and_id_cursor(b.created_at, b.id)
    )
    return Page[BookingSummary](items=[summary_view(b) for b in rows], next_cursor=next_cursor)


async def cancel_booking(
    services: Services, user: Principal, booking_id: uuid.UUID, body: CancelIn
) -> CancelOut:
    """Cancel through the booking's workflow (its ``cancel`` update runs the compensations)."""
    booking = await _owned_booking(services, user, booking_id)
    client = await services.temporal.client()
    handle = client.get_workflow_handle_for(BookingWorkflow.run, booking.workflow_id)
    try:
        result = await handle.execute_update(
            BookingWorkflow.cancel,
            CancelInput(
                actor=f"{user.role}:{user.sub}", by_operator=user.is_operator, reason=body.reason
            ),
        )
    except WorkflowUpdateFailedError as exc:
        if _update_error(exc).code is not ErrorCode.BOOKING_NOT_CANCELLABLE:
            raise _update_error(exc) from None
        return await _already_cancelled(services, booking_id)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        # The workflow has finished: the booking is terminal.
        return await _already_cancelled(services, booking_id)
    refund = result.refund
    return CancelOut(
        id=result.booking_id,
        status=result.status,
        refund=_refund_out(refund),
    )


async def _already_cancelled(services: Services, booking_id: uuid.UUID) -> CancelOut:
    """A repeated cancel of a CANCELLED booking gets its answer again; others are 409."""
    async with services.sessions() as session:
        booking = await session.get(Booking, booking_id)
        assert booking is not None
        if booking.status != BookingStatus.CANCELLED.value:
            raise BookingError(
                ErrorCode.BOOKING_NOT_CANCELLABLE, f"The booking is {booking.status}."
            )
        wallet = (
            await session.execute(
                select(LedgerEntry).where(
                    LedgerEntry.booking_id == booking_id,
                    LedgerEntry.kind == "refund",
                    LedgerEntry.reason == "cancellation",
                )
            )
        ).scalar_one_or_none()
        gateway = (
            await session.execute(
                select(GatewayTransaction).where(
                    GatewayTransaction.booking_id == booking_id,
                    GatewayTransaction.kind == "refund",
                    GatewayTransaction.reason == "cancellation",
                )
            )
        ).scalar_one_or_none()
    refund = None
    if wallet is not None:
        refund = RefundInfo(
            amount=wallet.amount, currency=wallet.currency, method="wallet", status="PROCESSED"
        )
    elif gateway is not None:
        refund = RefundInfo(
            amount=gateway.amount,
            currency=gateway.currency,
            method=gateway.provider,
            status=gateway.status,
        )
    return CancelOut(id=booking_id, status=BookingStatus.CANCELLED, refund=_refund_out(refund))


def _refund_out(refund: RefundInfo | None) -> CancelRefundOut | None:
    if refund is None:
        return None
    return CancelRefundOut(
        amount=Money(amount=refund.amount, currency=refund.currency),
        method=refund.method,
        status=refund.status,
    )


def _update_error(exc: WorkflowUpdateFailedError) -> BookingError:
    """The documented error a workflow update refused with (INTERNAL for anything else)."""
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.type in ErrorCode.__members__:
        return BookingError(ErrorCode(cause.type or ""), cause.message or None)
    log.error("booking.update_failed", error=type(cause).__name__)
    return BookingError(ErrorCode.INTERNAL)


async def _owned_booking(services: Services, user: Principal, booking_id: uuid.UUID) -> Booking:
    async with services.sessions() as session:
        booking = await session.get(Booking, booking_id)
    if booking is None or (not user.is_operator and booking.customer_id != user.sub):
        raise BookingError(ErrorCode.BOOKING_NOT_FOUND)
    structlog.contextvars.bind_contextvars(
        booking_id=str(booking_id), workflow_id=booking.workflow_id
    )
    return booking


async def reschedule_booking(
    services: Services, user: Principal, booking_id: uuid.UUID, body: RescheduleIn
) -> RescheduleOut:
    """Move a booking through its workflow's ``reschedule`` update; refused moves change nothing."""
    booking = await _owned_booking(services, user, booking_id)
    if booking.slot_id == body.slot_id:
        raise BookingError(ErrorCode.VALIDATION_ERROR, "slot_id: the booking is already there")
    client = await services.temporal.client()
    handle = client.get_workflow_handle_for(BookingWorkflow.run, booking.workflow_id)
    try:
        result = await handle.execute_update(
            BookingWorkflow.reschedule,
            RescheduleInput(slot_id=body.slot_id, actor=f"{user.role}:{user.sub}"),
        )
    except WorkflowUpdateFailedError as exc:
        raise _update_error(exc) from None
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        raise BookingError(ErrorCode.INVALID_STATE, f"The booking is {booking.status}.") from None
    async with services.sessions() as session:
        view = await booking_view(session, booking_id)
    assert view is not None
    refund = result.refund
    return RescheduleOut(
        booking=view,
        difference=SignedMoney(amount=result.difference, currency=view.amount.currency),
        refund=_refund_out(refund),
    )
