"""Bookings."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, IdempotencyKey, ServicesDep, SessionDep
from api.errors import error_response
from api.metrics import BOOKING_DECISIONS
from api.schemas import (
    BookingCreate,
    BookingOut,
    BookingSummary,
    CancelIn,
    CancelOut,
    ErrorOut,
    Page,
    RescheduleIn,
    RescheduleOut,
)
from api.services import bookings
from core.errors import ErrorCode
from models.flow import BookingStatus

router = APIRouter(prefix="/v1/bookings", tags=["bookings"])


@router.post(
    "",
    status_code=201,
    response_model=BookingOut,
    responses={402: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
async def create_booking(
    request: Request,
    body: BookingCreate,
    user: CurrentUser,
    key: IdempotencyKey,
    services: ServicesDep,
) -> JSONResponse:
    """Hold the slot and pay from the wallet; answers CONFIRMED or an error with the slot free.

    The same Idempotency-Key and body always get the same answer.
    """
    outcome = await bookings.create_booking(services, user, key, body)
    BOOKING_DECISIONS.labels(str(outcome.status)).inc()
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    if outcome.status >= 400:
        err = outcome.body["error"]
        response = error_response(request, ErrorCode(err["code"]), err["message"], outcome.status)
        response.headers.update(headers)
        return response
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)


@router.get("/{booking_id}", response_model=BookingOut)
async def get_booking(booking_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> BookingOut:
    """One booking with payment, refunds, meeting and timeline (owner or operator)."""
    return await bookings.get_booking(session, user, booking_id)


@router.get("", response_model=Page[BookingSummary])
async def list_bookings(
    user: CurrentUser,
    session: SessionDep,
    status: BookingStatus | None = None,
    needs_attention: bool | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[BookingSummary]:
    """A customer's own bookings, or all of them for operators; newest first.

    ``needs_attention=true`` lists bookings flagged for operators (money owed,
    mismatched payments).
    """
    return await bookings.list_bookings(
        session, user, status=status, needs_attention=needs_attention, cursor=cursor, limit=limit
    )


@router.post(
    "/{booking_id}/cancel",
    response_model=CancelOut,
    responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
)
async def cancel_booking(
    booking_id: uuid.UUID,
    user: CurrentUser,
    services: ServicesDep,
    body: CancelIn | None = None,
) -> CancelOut:
    """Cancel (owner or operator): meeting cancelled, refund per the resource's policy, slot freed.

    Cancelling again answers the same result; a FAILED or EXPIRED booking is 409.
    """
    return await bookings.cancel_booking(services, user, booking_id, body or CancelIn())


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
    return await bookings.reschedule_booking(services, user, booking_id, body)
