"""The reference booking page: static files (plain ES modules, no build step) the API serves.

``GET /book/{resource_id}`` books, ``GET /manage/{token}`` (``api.routes.manage``) sees,
cancels or moves; both answer the same ``index.html``, whose script reads the address.
The files under ``api/static/booking/`` are the page a frontend copies (docs/frontends.md).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

BOOKING_PAGE = Path(__file__).resolve().parent.parent / "static" / "booking"
STATIC_PREFIX = "/static/booking"

router = APIRouter(include_in_schema=False)


def page() -> FileResponse:
    """The page's HTML; never cached, so a new release's scripts are picked up."""
    return FileResponse(BOOKING_PAGE / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/book/{resource_id}")
async def book_page(
    resource_id: uuid.UUID,
    booking_id: Annotated[
        uuid.UUID | None, Query(description="Set by the checkout on the way back")
    ] = None,
    outcome: Annotated[Literal["paid", "declined"] | None, Query()] = None,
) -> FileResponse:
    """Free times, payment by wallet or checkout, and the confirmation (back from checkout)."""
    return page()


def install_pages(app: FastAPI) -> None:
    """Serve the page's routes and its files under ``/static/booking``."""
    app.include_router(router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=BOOKING_PAGE), name="booking-page")
