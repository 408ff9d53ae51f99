"""Resources and slots."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentUser, Operator, SessionDep
from api.schemas import Page, ResourceIn, ResourceOut, SlotOut, SlotsIn, SlotsOut
from api.services import catalog
from api.validation import Instant

router = APIRouter(prefix="/v1", tags=["catalog"])


@router.post("/resources", status_code=201, response_model=ResourceOut)
async def create_resource(body: ResourceIn, _: Operator, session: SessionDep) -> ResourceOut:
    """Create a bookable resource (operators)."""
    return await catalog.create_resource(session, body)


@router.get("/resources", response_model=Page[ResourceOut])
async def list_resources(
    _: CurrentUser,
    session: SessionDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ResourceOut]:
    """Every bookable resource, newest first."""
    return await catalog.list_resources(session, cursor=cursor, limit=limit)


@router.post("/resources/{resource_id}/slots", status_code=201, response_model=SlotsOut)
async def create_slots(
    resource_id: uuid.UUID, body: SlotsIn, _: Operator, session: SessionDep
) -> SlotsOut:
    """Create up to 500 slots at once, all or none (operators)."""
    return SlotsOut(items=await catalog.create_slots(session, resource_id, body))


@router.get("/slots", response_model=Page[SlotOut])
async def list_slots(
    _: CurrentUser,
    session: SessionDep,
    resource_id: uuid.UUID | None = None,
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Instant | None = None,
    available: bool | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[SlotOut]:
    """Slots by start time, with their remaining capacity."""
    return await catalog.list_slots(
        session,
        resource_id=resource_id,
        starts_from=from_,
        starts_to=to,
        available=available,
        cursor=cursor,
        limit=limit,
    )


@router.get("/slots/{slot_id}", response_model=SlotOut)
async def get_slot(slot_id: uuid.UUID, _: CurrentUser, session: SessionDep) -> SlotOut:
    """One slot."""
    return await catalog.get_slot(session, slot_id)
