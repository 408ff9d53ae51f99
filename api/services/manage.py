"""Manage links: a token from a customer's mail, resolved to its booking and that booking's owner.

The routes then call the services the owner's bearer routes call, as the owner,
so the answers, the policy and the refusals are the same.
"""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy import select

from api.deps import Services
from core.auth import Principal
from core.manage_links import InvalidManageToken, link_key, verify
from models.db import Booking
from models.errors import BookingError, ErrorCode

_REFUSED = "The manage link is not valid, or it has expired."


async def owner_by_link(services: Services, token: str) -> tuple[Principal, uuid.UUID]:
    """The booking a manage token grants, and its owner as the caller.

    Raises:
        BookingError: ``UNAUTHENTICATED`` for a tampered, expired or foreign token
            (signed by another key, or naming a booking this engine does not have).
    """
    key = link_key(services.settings)
    if key is None:
        raise BookingError(ErrorCode.UNAUTHENTICATED, _REFUSED)
    try:
        grant = verify(key, token)
    except InvalidManageToken:
        raise BookingError(ErrorCode.UNAUTHENTICATED, _REFUSED) from None
    async with services.sessions() as session:
        customer = (
            await session.execute(select(Booking.customer_id).where(Booking.id == grant.booking_id))
        ).scalar_one_or_none()
    if customer is None:
        raise BookingError(ErrorCode.UNAUTHENTICATED, _REFUSED)
    structlog.contextvars.bind_contextvars(
        booking_id=str(grant.booking_id), customer_id=str(customer)
    )
    return Principal(sub=customer, role="customer"), grant.booking_id
