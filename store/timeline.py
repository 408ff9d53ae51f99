"""Writing a booking's timeline: one row per step, keyed so retries write nothing twice.

The timeline is also the source of the booking events published to the host
application: a timeline row of a published type gets an ``outgoing_events``
row in the same transaction, so an event exists exactly when the change it
announces committed (``integrations.events_out`` delivers them).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import UTC_ISO
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


# One statement for any number of timeline rows and their outgoing events: the
# rows a retried step already wrote are skipped (ON CONFLICT), and only the new
# rows of a published type get an event. ``created_at`` is the row's ``at`` in
# UTC (``core.db.UTC_ISO``), the ISO 8601 form the receivers have always parsed.
_RECORD = text(
    """
    WITH given AS (
        SELECT g.ord, g.key, g.type, g.data, g.published
        FROM unnest(
            CAST(:keys AS text[]), CAST(:types AS text[]),
            CAST(:datas AS text[]), CAST(:published AS text[])
        ) WITH ORDINALITY AS g(key, type, data, published, ord)
    ), written AS (
        INSERT INTO booking_events (booking_id, key, type, data)
        SELECT CAST(:booking_id AS uuid), key, type, CAST(data AS jsonb) FROM given ORDER BY ord
        ON CONFLICT (key) DO NOTHING
        RETURNING id, key, at, data
    ), announced AS MATERIALIZED (
        SELECT gen_random_uuid() AS id, w.id AS source_event_id, g.published AS type, w.at, w.data
        FROM written w JOIN given g ON g.key = w.key
        WHERE g.published IS NOT NULL
    )
    INSERT INTO outgoing_events (id, booking_id, source_event_id, type, payload, status, attempts)
    SELECT a.id, CAST(:booking_id AS uuid), a.source_event_id, a.type,
           jsonb_build_object(
               'id', a.id, 'type', a.type,
               'created_at', to_char(a.at AT TIME ZONE 'UTC', :utc_iso),
               'booking_id', CAST(:booking_id AS uuid), 'data', a.data
           ),
           'PENDING', 0
    FROM announced a
    ON CONFLICT (source_event_id) DO NOTHING
    """
)


@dataclass(frozen=True)
class Step:
    """One timeline row: its type, its non-PII data, its step (defaults to the type)."""

    type: str
    data: dict[str, Any] | None = None
    step: str | None = None


async def record_events(session: AsyncSession, booking_id: uuid.UUID, *steps: Step) -> None:
    """Append the steps to the booking's timeline, each unless its step already wrote it.

    One statement, whatever the number of steps: a transaction that confirms a
    booking writes its timeline and outgoing events in one round trip. When a
    step's type is published (``PUBLISHED_TYPES``) and its row is new, the
    outgoing event is written too. It is written whether or not a receiver URL
    is configured: the row is cheap, and a host that configures one later
    receives the backlog rather than a silent gap.

    Args:
        session: The open session; the caller commits. Its pending ORM changes
            are flushed first, so a row the timeline refers to is written before it.
        booking_id: The booking the events belong to.
        steps: The rows, in timeline order.
    """
    if not steps:
        return
    await session.flush()
    await session.execute(
        _RECORD,
        {
            "booking_id": booking_id,
            "utc_iso": UTC_ISO,
            "keys": [keys.timeline(booking_id, s.step or s.type) for s in steps],
            "types": [s.type for s in steps],
            "datas": [json.dumps(s.data or {}) for s in steps],
            "published": [PUBLISHED_TYPES.get(s.type) for s in steps],
        },
    )


async def record_event(
    session: AsyncSession,
    booking_id: uuid.UUID,
    event_type: str,
    data: dict[str, Any] | None = None,
    *,
    step: str | None = None,
) -> None:
    """Append one event to the booking's timeline unless this step already wrote it.

    Args:
        session: The open session; the caller commits.
        booking_id: The booking the event belongs to.
        event_type: A dotted name such as ``booking.confirmed``.
        data: Non-PII details; published to the host application as the event's ``data``.
        step: Distinguishes repeatable events (e.g. one per attempt); defaults to the type.
    """
    await record_events(session, booking_id, Step(event_type, data, step))
