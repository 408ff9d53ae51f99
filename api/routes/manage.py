"""Manage links: a booking's owner acts by the token in a mail, without logging in.

Each route resolves the token to its booking and owner, then answers what the
owner's bearer route answers (``api.routes.bookings``). Limited per address,
as every route without a token.
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse, HTMLResponse

from api.deps import ServicesDep, SessionDep
from api.routes.pages import page
from api.schemas.bookings import (
    BookingOut,
    CancelIn,
    CancellationOut,
    RescheduleIn,
    RescheduleOut,
)
from api.services import booking_changes, booking_reads
from api.services.manage import owner_by_link
from models.errors import BookingError

router = APIRouter(prefix="/v1/manage", tags=["manage links"])

Token = Annotated[
    str,
    Path(
        description="The token of a manage link, from a mail about the booking",
        examples=["AV8dDJorPE1ej5AaKzxNXm_0hlcA4DX8Ip1SSGftQF247-kZ_w"],
    ),
]


@router.get("/{token}", response_model=BookingOut)
async def get_managed_booking(
    token: Token, services: ServicesDep, session: SessionDep
) -> BookingOut:
    """The booking the link is for, as its owner reads it at ``GET /v1/bookings/{id}``."""
    owner, booking_id = await owner_by_link(services, token)
    return await booking_reads.get_booking(session, owner, booking_id)


@router.post(
    "/{token}/cancel",
    response_model=CancellationOut,
)
async def cancel_managed_booking(
    token: Token, services: ServicesDep, body: CancelIn | None = None
) -> CancellationOut:
    """Cancel as the owner would (``POST /v1/bookings/{id}/cancel``): same policy, same answer."""
    owner, booking_id = await owner_by_link(services, token)
    reason = None if body is None else body.reason
    return await booking_changes.cancel_booking(services, owner, booking_id, reason)


@router.post(
    "/{token}/reschedule",
    response_model=RescheduleOut,
)
async def reschedule_managed_booking(
    token: Token, body: RescheduleIn, services: ServicesDep
) -> RescheduleOut:
    """Move as the owner would (``POST /v1/bookings/{id}/reschedule``): same body and answer."""
    owner, booking_id = await owner_by_link(services, token)
    return await booking_changes.reschedule_booking(services, owner, booking_id, body.to_command())


page_router = APIRouter(include_in_schema=False)


@page_router.get("/manage/{token}", response_model=None)
async def manage_page(token: str, services: ServicesDep) -> HTMLResponse | FileResponse:
    """The booking page's manage view (``api.routes.pages``); a link not valid is 401 here too."""
    try:
        await owner_by_link(services, token)
    except BookingError as refused:
        return HTMLResponse(_refused(refused.message), status_code=401)
    return page()


def _refused(text: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Link not valid</title></head>"
        f"<body><h1>Link not valid</h1><p>{html.escape(text)}</p></body></html>"
    )
