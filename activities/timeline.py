"""Writing a booking's timeline: one row per step, keyed so retries write nothing twice."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.db import BookingEvent


async def record_event(
    session: AsyncSession,
    booking_id: uuid.UUID,
    event_type: str,
    data: dict[str, Any] | None = None,
    *,
    step: str | None = None,
) -> None:
    """Append an event to the booking's timeline unless this step already wrote it.

    Args:
        session: The open session; the caller commits.
        booking_id: The booking the event belongs to.
        event_type: A dotted name such as ``booking.confirmed``.
        data: Non-PII details.
        step: Distinguishes repeatable events (e.g. one per attempt); defaults to the type.
    """
    await session.execute(
        insert(BookingEvent)
        .values(
            booking_id=booking_id,
            key=f"{booking_id}:{step or event_type}",
            type=event_type,
            data=data or {},
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )
