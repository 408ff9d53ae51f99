"""Turning rows into API shapes."""

from __future__ import annotations

import uuid

from sqlalchemy import JSON, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from api.schemas.bookings import (
    BookingOut,
    BookingPaymentOut,
    BookingRefundOut,
    BookingSummaryOut,
    MeetingOut,
    TimelineEventOut,
)
from api.schemas.catalog import ResourceOut, SlotOut
from api.schemas.common import Money, SignedMoney
from api.schemas.wallets import LedgerEntryOut
from core.db import UTC_ISO
from models.db import Booking, LedgerEntry, Resource, Slot
from models.domain import (
    BookingStatus,
    MeetingStatus,
    PaymentStatus,
    RefundStatus,
    status_after_refund,
)


def resource_view(resource: Resource) -> ResourceOut:
    """A resource row as the API shows it (a range resource with its rules)."""
    return ResourceOut.model_validate(
        {
            "id": resource.id,
            "name": resource.name,
            "timezone": resource.timezone,
            "meeting_provider": resource.meeting_provider,
            "refund_policy": resource.refund_policy,
            "booking_mode": resource.booking_mode,
            **(resource.range_rules or {}),
            "created_at": resource.created_at,
        }
    )


def slot_view(slot: Slot) -> SlotOut:
    """A slot row with its remaining capacity."""
    return SlotOut(
        id=slot.id,
        resource_id=slot.resource_id,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        price=Money(amount=slot.price_amount, currency=slot.currency),
        capacity=slot.capacity,
        remaining_capacity=slot.capacity - slot.active_count,
    )


def summary_view(booking: Booking) -> BookingSummaryOut:
    """A booking in a list."""
    return BookingSummaryOut(
        id=booking.id,
        customer_id=booking.customer_id,
        status=BookingStatus(booking.status),
        reason=booking.reason,
        slot_id=booking.slot_id,
        starts_at=booking.starts_at,
        amount=Money(amount=booking.amount, currency=booking.currency),
        created_at=booking.created_at,
    )


# The booking with its timeline and refunds: one statement, so one snapshot and
# one round trip. Timestamps inside JSON are written in UTC (``core.db.UTC_ISO``),
# as asyncpg gives them.
_BOOKING_VIEW = text(
    """
    SELECT b.*,
        (SELECT json_agg(json_build_object(
                    'type', e.type,
                    'at', to_char(e.at AT TIME ZONE 'UTC', :utc_iso),
                    'data', e.data)
                    ORDER BY e.id)
           FROM booking_events e WHERE e.booking_id = b.id) AS timeline,
        (SELECT json_agg(r.refund ORDER BY r.source, r.id) FROM (
            SELECT 1 AS source, l.id, json_build_object(
                    'amount', json_build_object('amount', l.amount, 'currency', l.currency),
                    'method', 'wallet', 'status', 'PROCESSED', 'reason', l.reason,
                    'at', to_char(l.created_at AT TIME ZONE 'UTC', :utc_iso)) AS refund
              FROM ledger_entries l WHERE l.booking_id = b.id AND l.kind = 'refund'
            UNION ALL
            SELECT 2, g.id, json_build_object(
                    'amount', json_build_object('amount', g.amount, 'currency', g.currency),
                    'method', g.provider, 'status', g.status, 'reason', g.reason,
                    'at', to_char(g.created_at AT TIME ZONE 'UTC', :utc_iso))
              FROM gateway_transactions g WHERE g.booking_id = b.id AND g.kind = 'refund'
        ) r) AS refunds
    FROM bookings b WHERE b.id = :booking_id
    """
).columns(timeline=JSON, refunds=JSON)


def _payment_status(stored: str, captured: int, refunds: list[BookingRefundOut]) -> PaymentStatus:
    """The payment's status as the money stands: refunded only by refunds that went through.

    The refund step counts a refund on the booking when it asks for it (so no two
    refunds can pass what was captured); until the gateway has made it, the money
    is still captured, and the refund shows REQUESTED or PENDING beside it.
    """
    status = PaymentStatus(stored)
    if status not in (PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED):
        return status
    made = sum(r.amount.amount for r in refunds if r.status == RefundStatus.PROCESSED)
    return status_after_refund(captured, made)


async def booking_view(
    session: AsyncSession | AsyncConnection, booking_id: uuid.UUID
) -> BookingOut | None:
    """The full booking: payment, refunds, meeting and timeline, from one snapshot.

    One statement reads the booking and its rows, so the status, meeting and
    timeline never disagree with each other.
    """
    booking = (
        (await session.execute(_BOOKING_VIEW, {"booking_id": booking_id, "utc_iso": UTC_ISO}))
        .mappings()
        .first()
    )
    if booking is None:
        return None
    refunds = [BookingRefundOut.model_validate(r) for r in booking["refunds"] or ()]
    return BookingOut(
        id=booking["id"],
        customer_id=booking["customer_id"],
        status=BookingStatus(booking["status"]),
        reason=booking["reason"],
        slot_id=booking["slot_id"],
        resource_id=booking["resource_id"],
        starts_at=booking["starts_at"],
        ends_at=booking["ends_at"],
        amount=Money(amount=booking["amount"], currency=booking["currency"]),
        payment=BookingPaymentOut(
            method=booking["payment_method"],
            provider=booking["payment_provider"],
            status=_payment_status(booking["payment_status"], booking["captured_amount"], refunds),
            captured=Money(amount=booking["captured_amount"], currency=booking["currency"]),
            refunded=Money(amount=booking["refunded_amount"], currency=booking["currency"]),
            order_id=booking["payment_order_id"],
            checkout_url=booking["checkout_url"],
        ),
        # Wallet refunds first, then the gateway's, each in the order they were made.
        refunds=refunds,
        meeting=MeetingOut(
            status=MeetingStatus(booking["meeting_status"]),
            provider=booking["meeting_provider"],
            url=booking["meeting_url"],
        ),
        hold_expires_at=booking["hold_expires_at"],
        needs_attention=booking["needs_attention"],
        attention_reason=booking["attention_reason"],
        created_at=booking["created_at"],
        updated_at=booking["updated_at"],
        timeline=[TimelineEventOut.model_validate(e) for e in booking["timeline"] or ()],
    )


def ledger_view(entry: LedgerEntry) -> LedgerEntryOut:
    """A ledger entry as the API shows it."""
    return LedgerEntryOut(
        id=entry.id,
        amount=SignedMoney(amount=entry.amount, currency=entry.currency),
        kind=entry.kind,
        booking_id=entry.booking_id,
        reason=entry.reason,
        created_at=entry.created_at,
    )
