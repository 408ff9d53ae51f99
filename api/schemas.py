"""HTTP request and response shapes. Requests reject unknown fields; money is in minor units.

Naming: a request body is ``<Name>In``, a response ``<Name>Out``; values used in
both (``Money``, ``SignedMoney``, ``Page``) have bare names.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from api.validation import Currency, Instant, Text
from models.domain import (
    AlertSeverity,
    AttentionKind,
    BookingStatus,
    MeetingStatus,
    NotificationKind,
    NotificationStatus,
    PaymentMethod,
    PaymentStatus,
    RefundStatus,
)


class Strict(BaseModel):
    """Request bodies: unknown fields are a validation error."""

    model_config = ConfigDict(extra="forbid")


class Money(Strict):
    """An amount in minor units (paise, cents) and an ISO 4217 currency."""

    amount: int = Field(ge=0, le=10**12, strict=True)
    currency: Currency


class SignedMoney(BaseModel):
    """A signed amount in minor units, as ledger entries carry (debits are negative)."""

    amount: int
    currency: str


class RefundPolicy(Strict):
    """Full refund until ``full_refund_hours_before`` the start, then a percentage, none after."""

    full_refund_hours_before: int = Field(default=24, ge=0, le=24 * 365)
    late_refund_percent: int = Field(default=50, ge=0, le=100)


class ResourceIn(Strict):
    """Body of ``POST /v1/resources``."""

    name: Text = Field(min_length=1, max_length=200)
    timezone: str = "UTC"
    meeting_provider: Literal["jitsi", "google"] = "jitsi"
    refund_policy: RefundPolicy = RefundPolicy()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value


class ResourceOut(BaseModel):
    """A bookable resource."""

    id: uuid.UUID
    name: str
    timezone: str
    meeting_provider: str
    refund_policy: RefundPolicy
    created_at: datetime


class SlotIn(Strict):
    """One slot to create."""

    starts_at: Instant
    ends_at: Instant
    price: Money
    capacity: int = Field(default=1, ge=1, le=10_000)


class SlotsIn(Strict):
    """Body of ``POST /v1/resources/{id}/slots``."""

    slots: list[SlotIn] = Field(min_length=1, max_length=500)


class SlotOut(BaseModel):
    """A slot with its remaining capacity."""

    id: uuid.UUID
    resource_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    price: Money
    capacity: int
    remaining_capacity: int


class SlotsOut(BaseModel):
    """Created slots."""

    items: list[SlotOut]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a cursor-paginated list; pass ``next_cursor`` back as ``cursor``."""

    items: list[T]
    next_cursor: str | None


class PaymentIn(Strict):
    """How the customer pays."""

    method: PaymentMethod
    provider: str | None = Field(default=None, pattern=r"^[a-z]{1,32}$")


class ContactIn(Strict):
    """Where to send notifications (kept out of logs and search attributes)."""

    email: EmailStr | None = None
    name: Text | None = Field(default=None, max_length=200)


class BookingIn(Strict):
    """Body of ``POST /v1/bookings``. The price is never sent: the server takes it from the slot."""

    slot_id: uuid.UUID
    payment: PaymentIn
    contact: ContactIn | None = None


class PaymentOut(BaseModel):
    """Payment state of a booking; gateway bookings carry their order and checkout page."""

    method: PaymentMethod
    provider: str | None
    status: PaymentStatus
    captured: Money
    refunded: Money
    order_id: str | None
    checkout_url: str | None


class MeetingOut(BaseModel):
    """Meeting link state, separate from the booking status."""

    status: MeetingStatus
    provider: str
    url: str | None


class EventOut(BaseModel):
    """One timeline entry."""

    type: str
    at: datetime
    data: dict[str, Any]


class RefundOut(BaseModel):
    """A refund of this booking (gateway refunds may still be PENDING)."""

    amount: Money
    method: str
    status: RefundStatus
    reason: str | None
    at: datetime


class BookingOut(BaseModel):
    """A booking as its owner and operators see it."""

    id: uuid.UUID
    customer_id: uuid.UUID
    status: BookingStatus
    reason: str | None
    slot_id: uuid.UUID
    resource_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    amount: Money
    payment: PaymentOut
    refunds: list[RefundOut]
    meeting: MeetingOut
    hold_expires_at: datetime | None
    needs_attention: bool
    attention_reason: str | None
    created_at: datetime
    updated_at: datetime
    timeline: list[EventOut]


class BookingSummaryOut(BaseModel):
    """A booking in a list."""

    id: uuid.UUID
    customer_id: uuid.UUID
    status: BookingStatus
    reason: str | None
    slot_id: uuid.UUID
    starts_at: datetime
    amount: Money
    created_at: datetime


class WalletOut(BaseModel):
    """A customer's balances, one per currency."""

    customer_id: uuid.UUID
    balances: list[Money]


class LedgerEntryOut(BaseModel):
    """One ledger entry; debits are negative."""

    id: int
    amount: SignedMoney
    kind: str
    booking_id: uuid.UUID | None
    reason: str | None
    created_at: datetime


class CreditIn(Strict):
    """Body of ``POST /v1/wallets/{customer_id}/credits``."""

    amount: Money
    reason: Text = Field(min_length=1, max_length=500)


class CreditOut(BaseModel):
    """The credit's ledger entry and the balance after it."""

    entry: LedgerEntryOut
    balance: Money


class ErrorBodyOut(BaseModel):
    """The error envelope's inner object."""

    code: str
    message: str
    request_id: str


class ErrorOut(BaseModel):
    """Every error response: ``{"error": {...}}``."""

    error: ErrorBodyOut


class WebhookReceiptOut(BaseModel):
    """The engine's answer to a gateway: the event is stored (and where it went)."""

    event_id: str
    status: str


class WebhookEventOut(BaseModel):
    """A stored gateway event, as operators see it.

    The raw body is shown for ``UNPARSEABLE`` events only (as text, undecodable
    bytes replaced): the others are mapped into the fields above.
    """

    provider: str
    event_id: str
    type: str
    raw_type: str
    order_id: str | None
    payment_id: str | None
    amount: int | None
    currency: str | None
    booking_id: uuid.UUID | None
    status: str
    received_at: datetime
    raw_body: str | None = None

    @field_validator("raw_body", mode="before")
    @classmethod
    def _as_text(cls, value: bytes | str | None) -> str | None:
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class CancelIn(Strict):
    """Body of ``POST /v1/bookings/{id}/cancel`` (optional); operators should give a reason."""

    reason: Text | None = Field(default=None, min_length=1, max_length=500)


class CancelRefundOut(BaseModel):
    """The refund a cancellation made; a gateway refund may still be PENDING."""

    amount: Money
    method: str
    status: RefundStatus


class CancelOut(BaseModel):
    """The cancelled booking's status and its refund (none when the policy grants none)."""

    id: uuid.UUID
    status: BookingStatus
    refund: CancelRefundOut | None


class RescheduleIn(Strict):
    """Body of ``POST /v1/bookings/{id}/reschedule``."""

    slot_id: uuid.UUID


class RescheduleOut(BaseModel):
    """The moved booking, the price difference (positive: paid from the wallet), any refund."""

    booking: BookingOut
    difference: SignedMoney
    refund: CancelRefundOut | None


class OutgoingEventOut(BaseModel):
    """A booking event for the host application and how its delivery went."""

    id: uuid.UUID
    booking_id: uuid.UUID
    type: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None


class AlertOut(BaseModel):
    """A condition that needs a person; open until ``resolved_at``."""

    id: uuid.UUID
    kind: AttentionKind
    severity: AlertSeverity
    subject: str = Field(description="What it is about: a booking id, a provider's event id")
    booking_id: uuid.UUID | None
    details: str
    occurrences: int = Field(description="How often the condition was seen while open")
    opened_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None


class ResolveAlertIn(Strict):
    """Body of ``POST /v1/ops/alerts/{id}/resolve``: what was done, for the audit log."""

    note: Text = Field(min_length=1, max_length=500)


class RetryMeetingIn(Strict):
    """Body of ``POST /v1/ops/bookings/{id}/retry-meeting`` (optional): why, for the audit log."""

    note: Text | None = Field(default=None, min_length=1, max_length=500)


class RetryMeetingOut(BaseModel):
    """The retry is queued in the booking's workflow; read the booking for the link."""

    booking_id: uuid.UUID
    meeting_status: MeetingStatus


class OpsRefundIn(Strict):
    """Body of ``POST /v1/ops/bookings/{id}/refund``; without ``amount``, all that is left."""

    amount: Money | None = Field(
        default=None,
        description="At most what was captured less what was refunded; omit for all of it",
        examples=[{"amount": 25000, "currency": "INR"}],
    )
    reason: Text = Field(min_length=1, max_length=500, examples=["goodwill: late start"])


class OpsRefundOut(BaseModel):
    """The refund an operator's request made (a gateway refund may still be PENDING)."""

    booking_id: uuid.UUID
    refund: CancelRefundOut


class ResendNotificationIn(Strict):
    """Body of ``POST /v1/ops/bookings/{id}/resend-notification``."""

    kind: NotificationKind = Field(
        description="A notification the booking was sent before", examples=["booking_confirmed"]
    )
    note: Text | None = Field(default=None, min_length=1, max_length=500)


class ResendNotificationOut(BaseModel):
    """How the repeated notification went (``SENT``, ``FAILED``, ``SKIPPED`` without an address)."""

    booking_id: uuid.UUID
    kind: NotificationKind
    status: NotificationStatus
