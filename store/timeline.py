"""Writing a booking's timeline: one row per step, keyed so retries write nothing twice.

The timeline is also the source of the booking events published to the host
application: a timeline row of a published type gets an ``outgoing_events``
row in the same transaction, so an event exists exactly when the change it
announces committed (``integrations.events_out`` delivers them).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.db import BookingEvent, OutgoingEvent
from store import keys

# Timeline type -> the event type the host application receives.
PUBLISHED_TYPES: dict[str, str] = {
    "booking.held": "booking.created",
    "payment.order_created": "booking.awaiting_payment",
    "booking.confirmed": "booking.confirmed",
    "booking.cancelled": "booking.cancelled",
    "booking.rescheduled": "booking.rescheduled",
    "booking.expired": "booking.expired",
    "booking.failed": "booking.failed",
    "booking.completed": "booking.completed",
    "payment.declined": "booking.payment_declined",
    "meeting.cancelled": "booking.meeting_cancelled",
    # Wallet and gateway refunds alike (a gateway refund step per payment and status).
    "payment.refunded": "booking.refunded",
    "meeting.ready": "booking.meeting_ready",
}


async def record_event(
    session: AsyncSession,
    booking_id: uuid.UUID,
    event_type: str,
    data: dict[str, Any] | None = None,
    *,
    step: str | None = None,
) -> None:
    """Append an event to the booking's timeline unless this step already wrote it.

    When the type is published (``PUBLISHED_TYPES``) and the row is new, the
    outgoing event is written too. It is written whether or not a receiver URL
    is configured: the row is cheap, and a host that configures one later
    receives the backlog rather than a silent gap.

    Args:
        session: The open session; the caller commits.
        booking_id: The booking the event belongs to.
        event_type: A dotted name such as ``booking.confirmed``.
        data: Non-PII details; published to the host application as the event's ``data``.
        step: Distinguishes repeatable events (e.g. one per attempt); defaults to the type.
    """
    inserted = (
        await session.execute(
            insert(BookingEvent)
            .values(
                booking_id=booking_id,
                key=keys.timeline(booking_id, step or event_type),
                type=event_type,
                data=data or {},
            )
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(BookingEvent.id, BookingEvent.at, BookingEvent.data)
        )
    ).first()
    published = PUBLISHED_TYPES.get(event_type)
    # No row back: a retried step already wrote it (and its event) before.
    if inserted is None or published is None:
        return
    event_id = uuid.uuid4()
    await session.execute(
        insert(OutgoingEvent)
        .values(
            id=event_id,
            booking_id=booking_id,
            source_event_id=inserted.id,
            type=published,
            payload={
                "id": str(event_id),
                "type": published,
                "created_at": inserted.at.isoformat(),
                "booking_id": str(booking_id),
                "data": inserted.data,
            },
        )
        .on_conflict_do_nothing(index_elements=["source_event_id"])
    )
