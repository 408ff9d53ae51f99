"""Alerts: opened by the step or job that finds a condition, resolved by a person (audited).

One open alert per (kind, subject): a repeat bumps ``occurrences``. A booking's
``needs_attention`` is true exactly while it has an open alert; its
``attention_reason`` is the newest open alert's details.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.db import Alert, AuditRecord, Booking
from models.domain import AttentionKind, severity_of

# The longest details kept; the rest is in the logs and the workflow's history.
DETAILS_LIMIT = 500


async def open_alert(
    session: AsyncSession,
    kind: AttentionKind,
    subject: str,
    details: str,
    *,
    booking_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Open an alert of ``kind`` about ``subject``, or count one more occurrence of it.

    Returns:
        The open alert's id.
    """
    details = details[:DETAILS_LIMIT]
    statement = (
        insert(Alert)
        .values(
            id=uuid.uuid4(),
            kind=kind.value,
            severity=severity_of(kind).value,
            subject=subject,
            booking_id=booking_id,
            details=details,
        )
        .on_conflict_do_update(
            index_elements=["kind", "subject"],
            index_where=text("resolved_at IS NULL"),
            set_={
                "details": details,
                "occurrences": Alert.occurrences + 1,
                "last_seen_at": func.now(),
            },
        )
        .returning(Alert.id)
    )
    alert_id: uuid.UUID = (await session.execute(statement)).scalar_one()
    if booking_id is not None:
        await _refresh_booking(session, booking_id)
    return alert_id


async def resolve_alert(
    session: AsyncSession, alert: Alert, *, actor: str, note: str
) -> list[AttentionKind]:
    """Resolve ``alert`` with ``note``, audited under ``actor``.

    Returns:
        The kinds of the alerts its booking still has open (none without a booking).
    """
    alert.resolved_at = datetime.now(UTC)
    alert.resolved_by = actor
    alert.resolution_note = note
    session.add(
        AuditRecord(
            actor=actor,
            action="alert.resolved",
            booking_id=alert.booking_id,
            reason=f"{alert.kind}: {note}"[:DETAILS_LIMIT],
            key=f"alert:{alert.id}:resolved",
        )
    )
    await session.flush()
    if alert.booking_id is None:
        return []
    return await _refresh_booking(session, alert.booking_id)


async def resolve_by_engine(
    session: AsyncSession, booking_id: uuid.UUID, kind: AttentionKind, note: str
) -> list[AttentionKind]:
    """The engine saw the condition clear (its step went through): resolve that open alert.

    Returns:
        The kinds the booking still has open.
    """
    await resolve_subject(session, kind, str(booking_id), note)
    return await open_kinds(session, booking_id)


async def resolve_subject(
    session: AsyncSession, kind: AttentionKind, subject: str, note: str
) -> bool:
    """Resolve the open ``kind`` alert about ``subject`` as the engine; False if none is open."""
    alert = (
        await session.execute(
            select(Alert)
            .where(Alert.subject == subject, Alert.kind == kind.value)
            .where(Alert.resolved_at.is_(None))
            .with_for_update()
        )
    ).scalar_one_or_none()
    if alert is None:
        return False
    await resolve_alert(session, alert, actor="engine", note=note)
    return True


async def open_kinds(session: AsyncSession, booking_id: uuid.UUID) -> list[AttentionKind]:
    """The kinds of the booking's open alerts, sorted."""
    kinds = await session.scalars(
        select(Alert.kind)
        .where(Alert.booking_id == booking_id, Alert.resolved_at.is_(None))
        .distinct()
    )
    return sorted(AttentionKind(kind) for kind in kinds)


async def _refresh_booking(session: AsyncSession, booking_id: uuid.UUID) -> list[AttentionKind]:
    """Make the booking's attention flag and reason follow its open alerts."""
    newest = (
        await session.execute(
            select(Alert.details)
            .where(Alert.booking_id == booking_id, Alert.resolved_at.is_(None))
            .order_by(Alert.last_seen_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    booking = await session.get(Booking, booking_id, with_for_update=True)
    if booking is not None:
        booking.needs_attention = newest is not None
        booking.attention_reason = newest
    return await open_kinds(session, booking_id)
