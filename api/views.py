"""Turning rows into API shapes."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.schemas import (
    BookingOut,
    BookingSummaryOut,
    EventOut,
    LedgerEntryOut,
    MeetingOut,
    Money,
    PaymentOut,
    RefundOut,
    ResourceOut,
    SignedMoney,
    SlotOut,
)
from models.db import Booking, BookingEvent, GatewayTransaction, LedgerEntry, Resource, Slot
from models.domain import BookingStatus, MeetingStatus


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


async def booking_view(session: AsyncSession, booking_id: uuid.UUID) -> BookingOut | None:
    """The full booking: payment, refunds, meeting and timeline, from one snapshot.

    The session must be fresh: the reads share one REPEATABLE READ snapshot so
    the status, meeting and timeline never disagree with each other.
    """
    await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    booking = await session.get(Booking, booking_id, populate_existing=True)
    if booking is None:
        return None
    events = (
        await session.execute(
            select(BookingEvent)
            .where(BookingEvent.booking_id == booking_id)
            .order_by(BookingEvent.id)
        )
    ).scalars()
    wallet_refunds = (
        await session.execute(
            select(LedgerEntry)
            .where(LedgerEntry.booking_id == booking_id, LedgerEntry.kind == "refund")
            .order_by(LedgerEntry.id)
        )
    ).scalars()
    gateway_refunds = (
        await session.execute(
            select(GatewayTransaction)
            .where(GatewayTransaction.booking_id == booking_id, GatewayTransaction.kind == "refund")
            .order_by(GatewayTransaction.id)
        )
    ).scalars()
    refunds = [
        RefundOut(
            amount=Money(amount=r.amount, currency=r.currency),
            method="wallet",
            status="PROCESSED",
            reason=r.reason,
            at=r.created_at,
        )
        for r in wallet_refunds
    ] + [
        RefundOut(
            amount=Money(amount=r.amount, currency=r.currency),
            method=r.provider,
            status=r.status,
            reason=r.reason,
            at=r.created_at,
        )
        for r in gateway_refunds
    ]
    return BookingOut(
        id=booking.id,
        customer_id=booking.customer_id,
        status=BookingStatus(booking.status),
        reason=booking.reason,
        slot_id=booking.slot_id,
        resource_id=booking.resource_id,
        starts_at=booking.starts_at,
        ends_at=booking.ends_at,
        amount=Money(amount=booking.amount, currency=booking.currency),
        payment=PaymentOut(
            method=booking.payment_method,
            provider=booking.payment_provider,
            status=booking.payment_status,
            captured=Money(amount=booking.captured_amount, currency=booking.currency),
            refunded=Money(amount=booking.refunded_amount, currency=booking.currency),
            order_id=booking.payment_order_id,
            checkout_url=booking.checkout_url,
        ),
        refunds=refunds,
        meeting=MeetingOut(
            status=MeetingStatus(booking.meeting_status),
            provider=booking.meeting_provider,
            url=booking.meeting_url,
        ),
        hold_expires_at=booking.hold_expires_at,
        needs_attention=booking.needs_attention,
        attention_reason=booking.attention_reason,
        created_at=booking.created_at,
        updated_at=booking.updated_at,
        timeline=[EventOut(type=e.type, at=e.at, data=e.data) for e in events],
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
