"""Bookings."""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, IdempotencyKey, ServicesDep, SessionDep
from api.errors import error_response
from api.metrics import BOOKING_DECISIONS, DECISION_SECONDS
from api.schemas.bookings import (
    BookingIn,
    BookingOut,
    BookingSummaryOut,
    CancelIn,
    CancellationOut,
    RescheduleIn,
    RescheduleOut,
)
from api.schemas.common import ErrorOut, Page
from api.services import booking_changes, booking_create, booking_reads
from api.services.idempotency import Refusal
from api.validation import Instant
from models.domain import AttentionKind, BookingStatus
from models.errors import ErrorCode

router = APIRouter(prefix="/v1/bookings", tags=["bookings"])


@router.post(
    "",
    status_code=201,
    response_model=None,
    responses={
        201: {"model": BookingOut, "description": "The booking, CONFIRMED or AWAITING_PAYMENT"},
        402: {"model": ErrorOut},
        409: {"model": ErrorOut},
        422: {"model": ErrorOut},
        429: {"model": ErrorOut, "description": "TOO_MANY_ACTIVE_HOLDS, with Retry-After"},
    },
)
async def create_booking(
    request: Request,
    body: BookingIn,
    user: CurrentUser,
    key: IdempotencyKey,
    services: ServicesDep,
) -> JSONResponse:
    """Hold the slot and take the payment; a refusal leaves the slot free.

    A wallet booking answers CONFIRMED, a gateway booking AWAITING_PAYMENT with
    its order and checkout URL.

    The same Idempotency-Key and body always get the same answer.
    """
    started = time.perf_counter()
    outcome = await booking_create.create_booking(services, user, key, body.to_command())
    answer = outcome.answer
    BOOKING_DECISIONS.labels(str(answer.status)).inc()
    if not outcome.replayed:
        DECISION_SECONDS.observe(time.perf_counter() - started)
    if isinstance(answer, Refusal):
        response = error_response(request, answer.code, answer.message)
        if answer.code == ErrorCode.TOO_MANY_ACTIVE_HOLDS:
            # The latest a hold can last: by then at least one has been paid or released.
            response.headers["Retry-After"] = str(services.settings.hold_ttl_seconds)
    else:
        response = JSONResponse(answer.body, status_code=answer.status)
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@router.get("/{booking_id}", response_model=BookingOut)
async def get_booking(booking_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> BookingOut:
    """One booking with payment, refunds, meeting and timeline (owner or operator)."""
    return await booking_reads.get_booking(session, user, booking_id)


@router.get("", response_model=Page[BookingSummaryOut])
async def list_bookings(
    user: CurrentUser,
    session: SessionDep,
    status: BookingStatus | None = None,
    needs_attention: bool | None = None,
    customer_id: uuid.UUID | None = None,
    resource_id: uuid.UUID | None = None,
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Instant | None = None,
    attention: AttentionKind | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[BookingSummaryOut]:
    """A customer's own bookings, or all of them for operators; newest first.

    ``needs_attention=true`` lists bookings with open alerts, ``attention`` those
    with an open alert of that kind; ``customer_id`` (operators), ``resource_id``
    and the start time (``from`` inclusive, ``to`` exclusive) narrow the list.
    Unknown parameters are 422.
    """
    return await booking_reads.list_bookings(
        session,
        user,
        status=status,
        needs_attention=needs_attention,
        customer_id=customer_id,
        resource_id=resource_id,
        starts_from=from_,
        starts_before=to,
        attention=attention,
        cursor=cursor,
        limit=limit,
    )


@router.post(
    "/{booking_id}/cancel",
    response_model=CancellationOut,
    responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
)
async def cancel_booking(
    booking_id: uuid.UUID,
    user: CurrentUser,
    services: ServicesDep,
    body: CancelIn | None = None,
) -> CancellationOut:
    """Cancel (owner or operator): meeting cancelled, refund per the resource's policy, slot freed.

    Cancelling again answers the same result; a FAILED or EXPIRED booking is 409.
    """
    reason = None if body is None else body.reason
    return await booking_changes.cancel_booking(services, user, booking_id, reason)


@router.post(
    "/{booking_id}/reschedule",
    response_model=RescheduleOut,
    responses={402: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
)
async def reschedule_booking(
    booking_id: uuid.UUID, body: RescheduleIn, user: CurrentUser, services: ServicesDep
) -> RescheduleOut:
    """Move a CONFIRMED booking to another slot (owner or operator), atomically.

    The new slot is held before the old one is freed. Cheaper: the difference is
    refunded. Dearer: taken from the wallet (402 when it does not cover it);
    gateway-paid bookings cannot move to a dearer slot. A taken slot: 409.
    """
    return await booking_changes.reschedule_booking(services, user, booking_id, body.to_command())
