"""Resources and slots.

The reads are public: without a token they answer what a booking page shows
(``PublicResourceOut``, ``PublicSlotOut``), counted against the caller's
address; with a token, the full view. Every write needs an operator.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import MaybeUser, Operator, SessionDep
from api.schemas.catalog import (
    AvailabilityOut,
    CreatedSlotsOut,
    PublicResourceOut,
    PublicSlotOut,
    ResourceIn,
    ResourceOut,
    ResourcePatchIn,
    SlotOut,
    SlotsIn,
)
from api.schemas.common import Page
from api.services import catalog
from api.validation import Instant

router = APIRouter(prefix="/v1", tags=["catalog"])

AnyResource = ResourceOut | PublicResourceOut
AnySlot = SlotOut | PublicSlotOut


def _resource(out: ResourceOut, user: object) -> AnyResource:
    return out if user is not None else PublicResourceOut.model_validate(out.model_dump())


def _slot(out: SlotOut, user: object) -> AnySlot:
    return out if user is not None else PublicSlotOut.model_validate(out.model_dump())


@router.post("/resources", status_code=201, response_model=ResourceOut)
async def create_resource(body: ResourceIn, _: Operator, session: SessionDep) -> ResourceOut:
    """Create a bookable resource (operators)."""
    return await catalog.create_resource(session, body.to_command())


@router.get("/resources", response_model=Page[ResourceOut] | Page[PublicResourceOut])
async def list_resources(
    user: MaybeUser,
    session: SessionDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ResourceOut] | Page[PublicResourceOut]:
    """Every bookable resource, newest first (public: without a token, the public view)."""
    page = await catalog.list_resources(session, cursor=cursor, limit=limit)
    if user is not None:
        return page
    return Page[PublicResourceOut](
        items=[PublicResourceOut.model_validate(r.model_dump()) for r in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/resources/{resource_id}", response_model=AnyResource)
async def get_resource(resource_id: uuid.UUID, user: MaybeUser, session: SessionDep) -> AnyResource:
    """One resource, with its rules when it is booked by range (public)."""
    return _resource(await catalog.get_resource(session, resource_id), user)


@router.patch("/resources/{resource_id}", response_model=ResourceOut)
async def update_resource(
    resource_id: uuid.UUID, body: ResourcePatchIn, _: Operator, session: SessionDep
) -> ResourceOut:
    """Change a resource (operators): validated as a whole, as on create; the mode stays.

    Bookings already made keep their price and buffer.
    """
    return await catalog.update_resource(session, resource_id, body.applied_to)


@router.get("/resources/{resource_id}/availability", response_model=AvailabilityOut)
async def availability(
    resource_id: uuid.UUID,
    _: MaybeUser,
    session: SessionDep,
    from_: Annotated[
        Instant | None, Query(alias="from", description="Earliest start (default: now)")
    ] = None,
    to: Annotated[
        Instant | None, Query(description="Latest start, exclusive (default: from + 7 days)")
    ] = None,
    duration_minutes: Annotated[
        int | None,
        Query(ge=1, le=366 * 1440, description="Range mode (required): how long the booking lasts"),
    ] = None,
    step_minutes: Annotated[
        int, Query(ge=5, le=1440, description="Range mode: spacing of the offered starts")
    ] = 30,
) -> AvailabilityOut:
    """The free start times of a range resource, or the free slots of a slot resource (public).

    Range mode honours the weekly hours and exceptions (in the resource's
    timezone), the notice, the horizon, the buffers and the active bookings.
    At most 93 days per call.
    """
    starts_from = from_ or datetime.now(UTC)
    return await catalog.availability(
        session,
        resource_id,
        starts_from=starts_from,
        starts_to=to or starts_from + timedelta(days=7),
        duration=timedelta(minutes=duration_minutes) if duration_minutes else None,
        step=timedelta(minutes=step_minutes),
    )


@router.post("/resources/{resource_id}/slots", status_code=201, response_model=CreatedSlotsOut)
async def create_slots(
    resource_id: uuid.UUID, body: SlotsIn, _: Operator, session: SessionDep
) -> CreatedSlotsOut:
    """Create up to 500 slots at once, all or none (operators)."""
    return CreatedSlotsOut(
        items=await catalog.create_slots(session, resource_id, body.to_command())
    )


@router.get("/slots", response_model=Page[SlotOut] | Page[PublicSlotOut])
async def list_slots(
    user: MaybeUser,
    session: SessionDep,
    resource_id: uuid.UUID | None = None,
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Instant | None = None,
    available: bool | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[SlotOut] | Page[PublicSlotOut]:
    """Slots by start time, with their remaining capacity (public)."""
    page = await catalog.list_slots(
        session,
        resource_id=resource_id,
        starts_from=from_,
        starts_to=to,
        available=available,
        cursor=cursor,
        limit=limit,
    )
    if user is not None:
        return page
    return Page[PublicSlotOut](
        items=[PublicSlotOut.model_validate(s.model_dump()) for s in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/slots/{slot_id}", response_model=AnySlot)
async def get_slot(slot_id: uuid.UUID, user: MaybeUser, session: SessionDep) -> AnySlot:
    """One slot, with its remaining capacity (public)."""
    return _slot(await catalog.get_slot(session, slot_id), user)
