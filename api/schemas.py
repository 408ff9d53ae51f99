"""HTTP request and response shapes. Requests reject unknown fields; money is in minor units.

Naming: a request body is ``<Name>In``, a response ``<Name>Out``; values used in
both (``Money``, ``SignedMoney``, ``Page``) have bare names.
"""

from __future__ import annotations

import datetime as dt
import uuid
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

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
    TopupStatus,
)

# HH:MM from 00:00 to 24:00.
_CLOCK = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"


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


class RateIn(Strict):
    """What a range booking costs: per started hour or day."""

    per: Literal["hour", "day"] = Field(description="The unit charged", examples=["day"])
    price: Money = Field(
        description="The price of one started unit",
        examples=[{"amount": 250000, "currency": "INR"}],
    )


class HoursIn(Strict):
    """Weekly opening hours of a range resource, in its timezone."""

    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = Field(
        description="Day of the week", examples=["mon"]
    )
    start: str = Field(pattern=_CLOCK, description="Local opening time, HH:MM", examples=["09:00"])
    end: str = Field(
        pattern=_CLOCK,
        description="Local closing time, HH:MM; 24:00 is the end of the day",
        examples=["17:00"],
    )


class ExceptionIn(Strict):
    """One date that differs: without times it is closed; with times they are its hours."""

    date: dt.date = Field(description="The local date", examples=["2026-12-25"])
    start: str | None = Field(
        default=None, pattern=_CLOCK, description="Opening time that day", examples=["10:00"]
    )
    end: str | None = Field(
        default=None,
        pattern=_CLOCK,
        description="Closing time that day; 24:00 is the end of the day",
        examples=["14:00"],
    )

    @model_validator(mode="after")
    def _both_or_neither(self) -> ExceptionIn:
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end, or neither (the day is closed)")
        return self


class AvailabilityIn(Strict):
    """When a range resource is open: weekly hours, and dates that differ."""

    weekly: list[HoursIn] = Field(
        max_length=100,
        description="Opening hours per weekday (several a day allowed)",
        examples=[[{"day": "mon", "start": "09:00", "end": "17:00"}]],
    )
    exceptions: list[ExceptionIn] = Field(
        default_factory=list,
        max_length=1000,
        description="Dates closed (no times) or open at other hours",
        examples=[[{"date": "2026-12-25"}]],
    )


class ResourceIn(Strict):
    """Body of ``POST /v1/resources``: booked by pre-made slots, or by range."""

    name: Text = Field(
        min_length=1, max_length=200, description="Shown to customers", examples=["Dr. Rao"]
    )
    timezone: str = Field(
        default="UTC",
        description="IANA time zone of the resource's hours and of its mails",
        examples=["Asia/Kolkata"],
    )
    meeting_provider: Literal["jitsi", "google"] = Field(
        default="jitsi", description="Who makes the meeting link", examples=["jitsi"]
    )
    refund_policy: RefundPolicy = Field(
        default_factory=RefundPolicy, description="How much a cancellation gives back"
    )
    booking_mode: Literal["slots", "range"] = Field(
        default="slots",
        description="slots: booked by slot_id; range: any free range by starts_at and ends_at",
        examples=["range"],
    )
    rate: RateIn | None = Field(default=None, description="Range mode: the price per unit")
    min_duration_minutes: int | None = Field(
        default=None, ge=1, le=366 * 1440, description="Range mode", examples=[60]
    )
    max_duration_minutes: int | None = Field(
        default=None, ge=1, le=366 * 1440, description="Range mode", examples=[20160]
    )
    buffer_minutes: int = Field(
        default=0, ge=0, le=7 * 1440, description="Kept free after each booking", examples=[30]
    )
    min_notice_minutes: int = Field(
        default=0, ge=0, le=365 * 1440, description="How soon a booking may start", examples=[120]
    )
    horizon_days: int = Field(
        default=365, ge=1, le=3650, description="How far ahead a booking may start", examples=[90]
    )
    availability: AvailabilityIn | None = Field(
        default=None, description="Range mode: when the resource is open"
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _mode_fields(self) -> ResourceIn:
        range_fields = {
            "rate": self.rate,
            "min_duration_minutes": self.min_duration_minutes,
            "max_duration_minutes": self.max_duration_minutes,
            "availability": self.availability,
        }
        if self.booking_mode == "slots":
            given = [name for name, value in range_fields.items() if value is not None]
            if given:
                raise ValueError(f"{given[0]}: only for booking_mode range")
            return self
        missing = [name for name, value in range_fields.items() if value is None]
        if missing:
            raise ValueError(f"{missing[0]}: required for booking_mode range")
        assert self.min_duration_minutes is not None
        assert self.max_duration_minutes is not None
        if self.min_duration_minutes > self.max_duration_minutes:
            raise ValueError("min_duration_minutes: more than max_duration_minutes")
        assert self.availability is not None
        for index, hours in enumerate(self.availability.weekly):
            if hours.start == "24:00" or (hours.end != "24:00" and hours.end <= hours.start):
                raise ValueError(f"availability.weekly.{index}: end must be after start")
        for index, exception in enumerate(self.availability.exceptions):
            if (
                exception.start is not None
                and exception.end is not None
                and (
                    exception.start == "24:00"
                    or (exception.end != "24:00" and exception.end <= exception.start)
                )
            ):
                raise ValueError(f"availability.exceptions.{index}: end must be after start")
        return self

    def range_rules(self) -> dict[str, Any] | None:
        """What the resource stores as its ``range_rules`` (None in slot mode)."""
        if self.booking_mode == "slots":
            return None
        return self.model_dump(
            mode="json",
            include={
                "rate",
                "min_duration_minutes",
                "max_duration_minutes",
                "buffer_minutes",
                "min_notice_minutes",
                "horizon_days",
                "availability",
            },
        )


class ResourcePatchIn(Strict):
    """Body of ``PATCH /v1/resources/{id}``: the fields to change (the mode stays)."""

    name: Text | None = Field(default=None, min_length=1, max_length=200, examples=["Car KA-01"])
    timezone: str | None = Field(default=None, examples=["Asia/Kolkata"])
    meeting_provider: Literal["jitsi", "google"] | None = Field(default=None, examples=["jitsi"])
    refund_policy: RefundPolicy | None = None
    rate: RateIn | None = None
    min_duration_minutes: int | None = Field(default=None, examples=[1440])
    max_duration_minutes: int | None = Field(default=None, examples=[20160])
    buffer_minutes: int | None = Field(default=None, examples=[60])
    min_notice_minutes: int | None = Field(default=None, examples=[120])
    horizon_days: int | None = Field(default=None, examples=[180])
    availability: AvailabilityIn | None = None


class ResourceOut(BaseModel):
    """A bookable resource."""

    id: uuid.UUID
    name: str
    timezone: str
    meeting_provider: str
    refund_policy: RefundPolicy
    booking_mode: Literal["slots", "range"]
    rate: RateIn | None = None
    min_duration_minutes: int | None = None
    max_duration_minutes: int | None = None
    buffer_minutes: int | None = None
    min_notice_minutes: int | None = None
    horizon_days: int | None = None
    availability: AvailabilityIn | None = None
    created_at: datetime


class AvailableOut(BaseModel):
    """One bookable start: a range's start and end (range mode) or a free slot (slot mode)."""

    starts_at: datetime
    ends_at: datetime
    price: Money
    slot_id: uuid.UUID | None = None
    remaining_capacity: int | None = None


class AvailabilityOut(BaseModel):
    """What is free on a resource between ``from`` and ``to``."""

    resource_id: uuid.UUID
    booking_mode: Literal["slots", "range"]
    items: list[AvailableOut]


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


def check_slot_or_range(
    slot_id: uuid.UUID | None,
    resource_id: uuid.UUID | None,
    starts_at: datetime | None,
    ends_at: datetime | None,
) -> None:
    """Exactly one way to say what is booked: ``slot_id``, or ``resource_id`` with both times.

    Raises:
        ValueError: Neither, both, or a range without both of its times.
    """
    ranged = (resource_id, starts_at, ends_at)
    if slot_id is not None:
        if any(value is not None for value in ranged):
            raise ValueError("give slot_id, or resource_id with starts_at and ends_at; not both")
        return
    if any(value is None for value in ranged):
        raise ValueError("give slot_id, or resource_id with starts_at and ends_at")


class PaymentIn(Strict):
    """How the customer pays."""

    method: PaymentMethod
    provider: str | None = Field(default=None, pattern=r"^[a-z]{1,32}$")


class ContactIn(Strict):
    """Where to send notifications (kept out of logs and search attributes)."""

    email: EmailStr | None = None
    name: Text | None = Field(default=None, max_length=200)


class BookingIn(Strict):
    """Body of ``POST /v1/bookings``: a slot, or a range of a range resource.

    The price is never sent: the server takes it from the slot, or computes it
    from the resource's rate.
    """

    slot_id: uuid.UUID | None = None
    resource_id: uuid.UUID | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    payment: PaymentIn
    contact: ContactIn | None = None

    @model_validator(mode="after")
    def _slot_or_range(self) -> BookingIn:
        check_slot_or_range(self.slot_id, self.resource_id, self.starts_at, self.ends_at)
        return self


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
    slot_id: uuid.UUID | None
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
    slot_id: uuid.UUID | None
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
    """Body of ``POST /v1/bookings/{id}/reschedule``: another slot, or a new range."""

    slot_id: uuid.UUID | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None

    @model_validator(mode="after")
    def _slot_or_range(self) -> RescheduleIn:
        if (self.slot_id is None) == (self.starts_at is None and self.ends_at is None):
            raise ValueError("give slot_id, or starts_at and ends_at")
        if self.slot_id is None and (self.starts_at is None or self.ends_at is None):
            raise ValueError("give both starts_at and ends_at")
        return self


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


class TopupIn(Strict):
    """Body of ``POST /v1/wallets/me/topups``: how much to add, paid through which gateway."""

    amount: Money = Field(
        description="What the wallet receives once the payment is captured",
        examples=[{"amount": 100000, "currency": "INR"}],
    )
    provider: str = Field(
        pattern=r"^[a-z]{1,32}$",
        description="A configured gateway: sandbox, stripe, razorpay, paytm, payhere",
        examples=["sandbox"],
    )


class TopupPaymentOut(BaseModel):
    """Where the customer pays the top-up."""

    provider: str = Field(examples=["sandbox"])
    order_id: str | None = Field(examples=["order_9a8b7c6d5e4f3a2b1c0d9e8f"])
    checkout_url: str | None = Field(
        description="The gateway's checkout page, or an opaque reference for its SDK",
        examples=["http://127.0.0.1:8090/checkout/order_9a8b7c6d5e4f3a2b1c0d9e8f"],
    )


class TopupOut(BaseModel):
    """A wallet top-up: AWAITING_PAYMENT until its capture credits the wallet (CREDITED)."""

    id: uuid.UUID
    status: TopupStatus = Field(examples=["AWAITING_PAYMENT"])
    reason: str | None = Field(default=None, description="Why it FAILED", examples=[None])
    amount: Money
    refunded: Money = Field(description="Given back by an operator")
    payment: TopupPaymentOut
    expires_at: datetime | None = Field(
        description="When the payment window closes (a later capture is still credited)"
    )
    created_at: datetime


class TopupRefundIn(Strict):
    """Body of ``POST /v1/ops/topups/{id}/refund``: why, for the audit log."""

    reason: Text = Field(min_length=1, max_length=500, examples=["customer asked"])


class TopupRefundOut(BaseModel):
    """The refund of a top-up: taken back from the wallet, sent back through the gateway."""

    topup_id: uuid.UUID
    refund: CancelRefundOut
