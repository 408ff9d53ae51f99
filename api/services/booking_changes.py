"""Changing a booking: cancel and reschedule, each an update of the booking's workflow.

The workflow serialises changes and runs the compensations; this module finds
the booking, sends the update, and turns a refusal into the documented error.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from sqlalchemy import select
from temporalio.client import (
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import Services
from api.metrics import CHANGES_BUSY
from api.schemas.bookings import CancellationOut, RescheduleOut
from api.schemas.common import Money, RefundMadeOut, SignedMoney
from api.schemas.ops import RetryMeetingOut, RetryPendingOut
from api.services.booking_reads import owned_booking
from api.services.commands import MoveBooking
from api.views import booking_view
from core.auth import Principal
from models.db import Booking, GatewayTransaction, LedgerEntry
from models.domain import BookingStatus, GatewayTransactionKind, RefundStatus
from models.errors import BookingError, ErrorCode
from models.payloads import (
    BookingRange,
    CancelInput,
    RefundInfo,
    RescheduleInput,
    RetryMeetingInput,
    RetryPendingInput,
)
from workflows.booking import BookingWorkflow

_T = TypeVar("_T")

log = structlog.get_logger(__name__)


# Temporal admits a few updates per workflow at a time and answers the rest
# RESOURCE_EXHAUSTED (after the SDK's own retries); the first pause before
# sending again, doubled each time up to the last.
_BUSY_PAUSES = (0.05, 1.0)


async def bounded(services: Services, what: str, send: Callable[[], Awaitable[_T]]) -> _T:
    """Send a change and wait for its update at most ``BOOKING_CHANGE_TIMEOUT_SECONDS``.

    ``send`` gives its update a fixed id, so sending it again is safe: an
    update Temporal already has is attached to, not run twice. The SDK polls
    for an update's outcome without an overall deadline; a worker that is
    down would hold the caller for as long. A workflow busy with other updates
    refuses more (RESOURCE_EXHAUSTED) and is sent again after a jittered
    pause; a wait the server cut short is resumed. Past the bound the caller
    hears 503 and a change that was admitted goes on in the workflow.
    """
    pause, longest = _BUSY_PAUSES
    try:
        async with asyncio.timeout(services.settings.change_timeout_seconds) as deadline:
            while True:
                try:
                    return await send()
                except WorkflowUpdateRPCTimeoutOrCancelledError:
                    # Also how the SDK reports our own deadline cancelling it.
                    if deadline.expired():
                        raise
                    log.info("booking.change_wait_resumed", change=what)
                    continue
                except RPCError as exc:
                    if exc.status != RPCStatusCode.RESOURCE_EXHAUSTED:
                        raise
                log.info("booking.change_busy", change=what)
                CHANGES_BUSY.labels(change=what).inc()
                await asyncio.sleep(pause * random.uniform(0.5, 1.5))  # noqa: S311 - jitter
                pause = min(pause * 2, longest)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        log.warning("booking.change_timed_out", change=what)
        raise BookingError(
            ErrorCode.DEPENDENCY_UNAVAILABLE,
            f"The {what} is taking longer than expected; it goes on: read the booking for "
            "its result.",
        ) from None


def update_id(what: str) -> str:
    """A fresh id for one change's update (kept across its resends)."""
    return f"{what.replace(' ', '-')}-{uuid.uuid4()}"


async def cancel_booking(
    services: Services, user: Principal, booking_id: uuid.UUID, reason: str | None
) -> CancellationOut:
    """Cancel through the booking's workflow (its ``cancel`` update runs the compensations).

    A booking already CANCELLED is answered from the database without a
    workflow call, so a client retrying its cancel adds nothing to the
    booking's history. Concurrent cancels by the same caller in this process
    share one update: the workflow would give each the first one's answer.
    """
    booking = await owned_booking_bound(services, user, booking_id)
    if booking.status == BookingStatus.CANCELLED.value:
        return await _already_cancelled(services, booking_id)
    actor = f"{user.role}:{user.sub}"
    key = (booking_id, actor)
    flight = _cancels_in_flight.get(key)
    if flight is None:
        flight = asyncio.ensure_future(_send_cancel(services, booking, user, actor, reason))
        _cancels_in_flight[key] = flight
        flight.add_done_callback(lambda done: _landed(key, done))
    # Shielded: one caller going away does not cancel the others' update.
    return await asyncio.shield(flight)


# Cancels being sent from this process, by booking and caller.
_cancels_in_flight: dict[tuple[uuid.UUID, str], asyncio.Future[CancellationOut]] = {}


def _landed(key: tuple[uuid.UUID, str], flight: asyncio.Future[CancellationOut]) -> None:
    _cancels_in_flight.pop(key, None)
    if not flight.cancelled():
        flight.exception()  # retrieved here too, in case every caller has gone


async def _send_cancel(
    services: Services, booking: Booking, user: Principal, actor: str, reason: str | None
) -> CancellationOut:
    client = await services.temporal.client()
    handle = client.get_workflow_handle_for(BookingWorkflow.run, booking.workflow_id)
    request = CancelInput(actor=actor, by_operator=user.is_operator, reason=reason)
    change = update_id("cancellation")
    try:
        result = await bounded(
            services,
            "cancellation",
            lambda: handle.execute_update(BookingWorkflow.cancel, request, id=change),
        )
    except WorkflowUpdateFailedError as exc:
        if update_error(exc).code is not ErrorCode.BOOKING_NOT_CANCELLABLE:
            raise update_error(exc) from None
        return await _already_cancelled(services, booking.id)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        # The workflow has finished: the booking is terminal.
        return await _already_cancelled(services, booking.id)
    return CancellationOut(
        id=result.booking_id, status=result.status, refund=refund_made(result.refund)
    )


async def _already_cancelled(services: Services, booking_id: uuid.UUID) -> CancellationOut:
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
                    GatewayTransaction.kind == GatewayTransactionKind.REFUND,
                    GatewayTransaction.reason == "cancellation",
                )
            )
        ).scalar_one_or_none()
    refund = None
    if wallet is not None:
        refund = RefundInfo(
            amount=wallet.amount,
            currency=wallet.currency,
            method="wallet",
            status=RefundStatus.PROCESSED,
        )
    elif gateway is not None:
        refund = RefundInfo(
            amount=gateway.amount,
            currency=gateway.currency,
            method=gateway.provider,
            status=RefundStatus(gateway.status),
        )
    return CancellationOut(
        id=booking_id, status=BookingStatus.CANCELLED, refund=refund_made(refund)
    )


def refund_made(refund: RefundInfo | None) -> RefundMadeOut | None:
    """A workflow's account of a refund, as the API answers it (None: no refund was made)."""
    if refund is None:
        return None
    return RefundMadeOut(
        amount=Money(amount=refund.amount, currency=refund.currency),
        method=refund.method,
        status=refund.status,
    )


def update_error(exc: WorkflowUpdateFailedError) -> BookingError:
    """The documented error a workflow update refused with (INTERNAL for anything else)."""
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.type in ErrorCode.__members__:
        return BookingError(ErrorCode(cause.type or ""), cause.message or None)
    log.error("booking.update_failed", error=type(cause).__name__)
    return BookingError(ErrorCode.INTERNAL)


async def owned_booking_bound(
    services: Services, user: Principal, booking_id: uuid.UUID
) -> Booking:
    """The caller's booking (any, for operators), with its ids bound to the log context."""
    async with services.sessions() as session:
        booking = await owned_booking(session, user, booking_id)
    structlog.contextvars.bind_contextvars(
        booking_id=str(booking_id), workflow_id=booking.workflow_id
    )
    return booking


async def send_change(
    services: Services,
    booking: Booking,
    what: str,
    send: Callable[[WorkflowHandle[BookingWorkflow, Any], str], Awaitable[_T]],
) -> _T:
    """Send a change to the booking's workflow: bounded, refusals as their documented errors.

    A workflow that has finished means the booking is over: 409 INVALID_STATE.
    """
    client = await services.temporal.client()
    handle = client.get_workflow_handle_for(BookingWorkflow.run, booking.workflow_id)
    try:
        change = update_id(what)
        return await bounded(services, what, lambda: send(handle, change))
    except WorkflowUpdateFailedError as exc:
        raise update_error(exc) from None
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        raise BookingError(ErrorCode.INVALID_STATE, f"The booking is {booking.status}.") from None


async def reschedule_booking(
    services: Services, user: Principal, booking_id: uuid.UUID, move: MoveBooking
) -> RescheduleOut:
    """Move a booking through its workflow's ``reschedule`` update; refused moves change nothing."""
    booking = await owned_booking_bound(services, user, booking_id)
    if move.slot_id is not None and booking.slot_id == move.slot_id:
        raise BookingError(ErrorCode.VALIDATION_ERROR, "slot_id: the booking is already there")
    if move.slot_id is None and booking.slot_id is not None:
        raise BookingError(
            ErrorCode.VALIDATION_ERROR, "slot_id: a slot booking moves to another slot"
        )
    if move.slot_id is not None and booking.slot_id is None:
        raise BookingError(
            ErrorCode.VALIDATION_ERROR, "starts_at: a range booking moves to another range"
        )
    span = None
    if move.starts_at is not None and move.ends_at is not None:
        span = BookingRange(
            resource_id=booking.resource_id, starts_at=move.starts_at, ends_at=move.ends_at
        )
    result = await send_change(
        services,
        booking,
        "move",
        lambda handle, change: handle.execute_update(
            BookingWorkflow.reschedule,
            RescheduleInput(slot_id=move.slot_id, range=span, actor=f"{user.role}:{user.sub}"),
            id=change,
        ),
    )
    async with services.sessions() as session:
        view = await booking_view(session, booking_id)
    assert view is not None
    refund = result.refund
    return RescheduleOut(
        booking=view,
        difference=SignedMoney(amount=result.difference, currency=view.amount.currency),
        refund=refund_made(refund),
    )


async def retry_meeting(
    services: Services, user: Principal, booking_id: uuid.UUID, note: str | None
) -> RetryMeetingOut:
    """Ask the booking's workflow to create its missing meeting link again (an audited update).

    Refused with 409 INVALID_STATE unless the booking is CONFIRMED without a link.
    """
    booking = await owned_booking_bound(services, user, booking_id)
    result = await send_change(
        services,
        booking,
        "meeting retry",
        lambda handle, change: handle.execute_update(
            BookingWorkflow.request_meeting_retry,
            RetryMeetingInput(actor=f"{user.role}:{user.sub}", note=note),
            id=change,
        ),
    )
    return RetryMeetingOut(booking_id=result.booking_id, meeting_status=result.meeting_status)


async def retry_pending_steps(
    services: Services, user: Principal, booking_id: uuid.UUID, note: str | None
) -> RetryPendingOut:
    """Ask the booking's workflow to try its pending must-happen steps now (an audited update).

    Refused with 409 INVALID_STATE when nothing is pending.
    """
    booking = await owned_booking_bound(services, user, booking_id)
    result = await send_change(
        services,
        booking,
        "pending-steps retry",
        lambda handle, change: handle.execute_update(
            BookingWorkflow.request_pending_retry,
            RetryPendingInput(actor=f"{user.role}:{user.sub}", note=note),
            id=change,
        ),
    )
    return RetryPendingOut(booking_id=result.booking_id, pending_steps=result.pending_steps)
