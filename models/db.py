"""ORM tables. The authoritative DDL, with constraints and triggers, is the migrations."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base for every table."""

    type_annotation_map = {dict[str, Any]: JSONB, uuid.UUID: UUID(as_uuid=True)}


def _now_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Resource(Base):
    """Something bookable: a room, a tutor, a clinician."""

    __tablename__ = "resources"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # Dense integer key used by the overlap exclusion constraint on bookings.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    name: Mapped[str] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(Text)
    meeting_provider: Mapped[str] = mapped_column(String(32))
    refund_policy: Mapped[dict[str, Any]]
    # "slots" (pre-made slots) or "range" (any free range, by its range_rules).
    booking_mode: Mapped[str] = mapped_column(String(8), default="slots")
    range_rules: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    created_at: Mapped[datetime] = _now_column()


class Slot(Base):
    """A bookable time range of a resource with a price and a capacity."""

    __tablename__ = "slots"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    resource_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("resources.id"))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    price_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    capacity: Mapped[int] = mapped_column(Integer)
    # Active bookings on this slot; CHECK (0 <= active_count <= capacity).
    active_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = _now_column()


class Booking(Base):
    """The read model of one booking workflow, kept current by activities."""

    __tablename__ = "bookings"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID]
    # None for a range booking (of a resource in range mode).
    slot_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("slots.id"))
    resource_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("resources.id"))
    resource_seq: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    payment_method: Mapped[str] = mapped_column(String(16))
    payment_provider: Mapped[str | None] = mapped_column(String(32))
    payment_status: Mapped[str] = mapped_column(String(32), default="PENDING")
    captured_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    # CHECK (refunded_amount <= captured_amount): refunds never exceed the capture.
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    payment_order_id: Mapped[str | None] = mapped_column(Text)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    needs_attention: Mapped[bool] = mapped_column(Boolean, default=False)
    attention_reason: Mapped[str | None] = mapped_column(Text)
    meeting_status: Mapped[str] = mapped_column(String(16), default="PENDING")
    meeting_url: Mapped[str | None] = mapped_column(Text)
    meeting_provider: Mapped[str] = mapped_column(String(32))
    meeting_external_id: Mapped[str | None] = mapped_column(Text)
    contact: Mapped[dict[str, Any] | None]
    workflow_id: Mapped[str] = mapped_column(Text)
    exclusive: Mapped[bool] = mapped_column(Boolean)
    hold_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The end plus the resource's buffer: the overlap constraint keeps [starts_at, this) free.
    blocked_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()


class BookingEvent(Base):
    """One entry of a booking's timeline; ``key`` makes retried writes no-ops."""

    __tablename__ = "booking_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"))
    key: Mapped[str] = mapped_column(Text, unique=True)
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]
    at: Mapped[datetime] = _now_column()


class Wallet(Base):
    """A customer's balance in one currency; moved only by ledger inserts."""

    __tablename__ = "wallets"

    customer_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = _now_column()


class CustomerHolds(Base):
    """How many unpaid bookings a customer holds; a trigger on bookings keeps the count."""

    __tablename__ = "customer_holds"

    customer_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    unpaid: Mapped[int] = mapped_column(Integer, default=0)
    max_unpaid: Mapped[int] = mapped_column(Integer)


class LedgerEntry(Base):
    """Append-only money movement. A trigger applies it to the wallet balance."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[uuid.UUID]
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    booking_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bookings.id"))
    topup_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("topups.id"))
    idempotency_key: Mapped[str] = mapped_column(Text, unique=True)
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now_column()


class IdempotencyRecord(Base):
    """A client's idempotency key: which request it named and what it answered."""

    __tablename__ = "idempotency_records"

    principal: Mapped[str] = mapped_column(Text, primary_key=True)
    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[uuid.UUID]
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Set once work with side effects (a workflow) began for the key; from then
    # on only that work's outcome may answer it.
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Notification(Base):
    """Outbox of customer notifications with their delivery status."""

    __tablename__ = "notifications"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"))
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(Text, unique=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now_column()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookEvent(Base):
    """A verified gateway webhook, stored before it is acted on; unique per provider event."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(32))
    raw_type: Mapped[str] = mapped_column(Text)
    order_id: Mapped[str | None] = mapped_column(Text)
    payment_id: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    booking_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bookings.id"))
    topup_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("topups.id"))
    status: Mapped[str] = mapped_column(String(16))
    body: Mapped[dict[str, Any]]
    # The exact bytes of every verified body (older rows: only the UNPARSEABLE ones).
    raw_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = _now_column()


class GatewayTransaction(Base):
    """A capture or refund at a gateway, one row per idempotency key (a booking's or a top-up's)."""

    __tablename__ = "gateway_transactions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    booking_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bookings.id"))
    topup_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("topups.id"))
    provider: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    order_id: Mapped[str | None] = mapped_column(Text)
    payment_id: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()


class AuditRecord(Base):
    """Who did what to which booking, when and why; ``key`` makes a retried write a no-op."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(64))
    booking_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bookings.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text, unique=True)
    at: Mapped[datetime] = _now_column()


class OutgoingEvent(Base):
    """A signed booking event for the host application, delivered at least once (outbox)."""

    __tablename__ = "outgoing_events"

    # The event id the receiver sees (payload ``id`` and ``Booking-Event-Id``).
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"))
    # The timeline row that announced the change; UNIQUE, so one event per change.
    source_event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("booking_events.id"), unique=True
    )
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = _now_column()
    created_at: Mapped[datetime] = _now_column()
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Alert(Base):
    """A condition that needs a person; one open row per (kind, subject)."""

    __tablename__ = "alerts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    # What the alert is about: a booking id, a provider's event, a customer.
    subject: Mapped[str] = mapped_column(Text)
    booking_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bookings.id"))
    details: Mapped[str] = mapped_column(Text)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    opened_at: Mapped[datetime] = _now_column()
    last_seen_at: Mapped[datetime] = _now_column()
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(Text)
    resolution_note: Mapped[str | None] = mapped_column(Text)


class Topup(Base):
    """A wallet top-up paid through a gateway; its workflow credits the wallet once."""

    __tablename__ = "topups"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID]
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    provider: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(64))
    order_id: Mapped[str | None] = mapped_column(Text)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    payment_id: Mapped[str | None] = mapped_column(Text)
    # CHECK (refunded_amount <= amount).
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    workflow_id: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()


class TopupDay(Base):
    """What a customer asked to top up on one day in one currency; CHECK (total <= cap)."""

    __tablename__ = "topup_days"

    customer_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger)
    cap: Mapped[int] = mapped_column(BigInteger)
