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

    amount: int = Field(
        ge=0,
        le=10**12,
        strict=True,
        description="Minor units (paise, cents): 50000 INR is ₹500.00",
        examples=[50000],
    )
    currency: Currency = Field(description="ISO 4217 code", examples=["INR"])


class SignedMoney(BaseModel):
    """A signed amount in minor units, as ledger entries carry (debits are negative)."""

    amount: int = Field(
        description="Minor units; negative when money left the wallet", examples=[-50000]
    )
    currency: str = Field(description="ISO 4217 code", examples=["INR"])


class RefundPolicy(Strict):
    """Full refund until ``full_refund_hours_before`` the start, then a percentage, none after."""

    full_refund_hours_before: int = Field(
        default=24,
        ge=0,
        le=24 * 365,
        description="Everything back until this many hours before the start",
        examples=[24],
    )
    late_refund_percent: int = Field(
        default=50,
        ge=0,
        le=100,
        description="After that, this percentage until the start; nothing after",
        examples=[50],
    )


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

    name: Text | None = Field(
        default=None, min_length=1, max_length=200, examples=["Car KA-01"], description="A new name"
    )
    timezone: str | None = Field(
        default=None, examples=["Asia/Kolkata"], description="A new time zone"
    )
    meeting_provider: Literal["jitsi", "google"] | None = Field(
        default=None, examples=["jitsi"], description="Another meeting provider"
    )
    refund_policy: RefundPolicy | None = Field(default=None, description="A new refund policy")
    rate: RateIn | None = Field(default=None, description="A new rate (range mode)")
    min_duration_minutes: int | None = Field(
        default=None, examples=[1440], description="Range mode: shortest booking"
    )
    max_duration_minutes: int | None = Field(
        default=None, examples=[20160], description="Range mode: longest booking"
    )
    buffer_minutes: int | None = Field(
        default=None, examples=[60], description="Kept free after each booking"
    )
    min_notice_minutes: int | None = Field(
        default=None, examples=[120], description="How soon a booking may start"
    )
    horizon_days: int | None = Field(
        default=None, examples=[180], description="How far ahead a booking may start"
    )
    availability: AvailabilityIn | None = Field(
        default=None, description="New hours and exceptions (range mode)"
    )


class ResourceOut(BaseModel):
    """A bookable resource."""

    id: uuid.UUID = Field(description="Its id", examples=["3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17"])
    name: str = Field(description="Shown to customers", examples=["Dr. Rao"])
    timezone: str = Field(description="IANA time zone", examples=["Asia/Kolkata"])
    meeting_provider: str = Field(description="Who makes the meeting link", examples=["jitsi"])
    refund_policy: RefundPolicy = Field(description="How much a cancellation gives back")
    booking_mode: Literal["slots", "range"] = Field(
        description="slots or range", examples=["slots"]
    )
    rate: RateIn | None = Field(default=None, description="Range mode: the price per started unit")
    min_duration_minutes: int | None = Field(
        default=None, description="Range mode: shortest booking", examples=[60]
    )
    max_duration_minutes: int | None = Field(
        default=None, description="Range mode: longest booking", examples=[20160]
    )
    buffer_minutes: int | None = Field(
        default=None, description="Kept free after each booking", examples=[30]
    )
    min_notice_minutes: int | None = Field(
        default=None, description="How soon a booking may start", examples=[120]
    )
    horizon_days: int | None = Field(
        default=None, description="How far ahead a booking may start", examples=[90]
    )
    availability: AvailabilityIn | None = Field(
        default=None, description="Range mode: weekly hours and exceptions"
    )
    created_at: datetime = Field(
        description="When it was created", examples=["2026-12-02T10:15:30Z"]
    )


class AvailableOut(BaseModel):
    """One bookable start: a range's start and end (range mode) or a free slot (slot mode)."""

    starts_at: datetime = Field(description="A free start", examples=["2026-12-04T07:00:00Z"])
    ends_at: datetime = Field(
        description="Its end for the duration asked", examples=["2026-12-05T07:00:00Z"]
    )
    price: Money = Field(
        description="What the booking would cost", examples=[{"amount": 50000, "currency": "INR"}]
    )
    slot_id: uuid.UUID | None = Field(
        default=None,
        description="Slot mode: the slot",
        examples=["2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"],
    )
    remaining_capacity: int | None = Field(
        default=None, description="Slot mode: seats still free", examples=[1]
    )


class AvailabilityOut(BaseModel):
    """What is free on a resource between ``from`` and ``to``."""

    resource_id: uuid.UUID = Field(
        description="The resource", examples=["9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"]
    )
    booking_mode: Literal["slots", "range"] = Field(
        description="slots or range", examples=["slots"]
    )
    items: list[AvailableOut] = Field(description="What is free, in time order")


class SlotIn(Strict):
    """One slot to create."""

    starts_at: Instant = Field(
        description="Start, RFC 3339 with offset", examples=["2026-12-04T07:00:00Z"]
    )
    ends_at: Instant = Field(
        description="End, RFC 3339 with offset", examples=["2026-12-04T07:30:00Z"]
    )
    price: Money = Field(
        description="The price of one booking", examples=[{"amount": 50000, "currency": "INR"}]
    )
    capacity: int = Field(
        default=1, ge=1, le=10_000, description="How many bookings the slot takes", examples=[1]
    )


class SlotsIn(Strict):
    """Body of ``POST /v1/resources/{id}/slots``."""

    slots: list[SlotIn] = Field(
        min_length=1, max_length=500, description="The slots, all created or none"
    )


class SlotOut(BaseModel):
    """A slot with its remaining capacity."""

    id: uuid.UUID = Field(description="Its id", examples=["3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17"])
    resource_id: uuid.UUID = Field(
        description="The resource", examples=["9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"]
    )
    starts_at: datetime = Field(
        description="Start, RFC 3339 with offset", examples=["2026-12-04T07:00:00Z"]
    )
    ends_at: datetime = Field(
        description="End, RFC 3339 with offset", examples=["2026-12-04T07:30:00Z"]
    )
    price: Money = Field(
        description="The price of one booking", examples=[{"amount": 50000, "currency": "INR"}]
    )
    capacity: int = Field(description="How many bookings the slot takes", examples=[1])
    remaining_capacity: int = Field(description="Seats still free", examples=[1])


class SlotsOut(BaseModel):
    """Created slots."""

    items: list[SlotOut] = Field(description="The created slots")


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a cursor-paginated list; pass ``next_cursor`` back as ``cursor``."""

    items: list[T] = Field(description="This page's items")
    next_cursor: str | None = Field(
        description="Pass back as cursor for the next page; null on the last",
        examples=["MjAyNi0xMi0wMlQxMDoxNTozMHw5"],
    )


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

    method: PaymentMethod = Field(
        description="wallet (debited now) or gateway (pay at checkout)", examples=["wallet"]
    )
    provider: str | None = Field(
        default=None,
        pattern=r"^[a-z]{1,32}$",
        description="Gateway payments: sandbox, stripe, razorpay, paytm or payhere",
        examples=["sandbox"],
    )


class ContactIn(Strict):
    """Where to send notifications (kept out of logs and search attributes)."""

    email: EmailStr | None = Field(
        default=None, description="Where notifications go", examples=["asha@example.com"]
    )
    name: Text | None = Field(
        default=None, max_length=200, description="How mails greet the customer", examples=["Asha"]
    )


class BookingIn(Strict):
    """Body of ``POST /v1/bookings``: a slot, or a range of a range resource.

    The price is never sent: the server takes it from the slot, or computes it
    from the resource's rate.
    """

    slot_id: uuid.UUID | None = Field(
        default=None,
        description="The slot to book (or resource_id with starts_at and ends_at)",
        examples=["2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"],
    )
    resource_id: uuid.UUID | None = Field(
        default=None,
        description="A range resource to book from starts_at to ends_at",
        examples=["9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"],
    )
    starts_at: Instant | None = Field(
        default=None, description="Range bookings: the start", examples=["2026-12-04T07:00:00Z"]
    )
    ends_at: Instant | None = Field(
        default=None, description="Range bookings: the end", examples=["2026-12-07T07:00:00Z"]
    )
    payment: PaymentIn = Field(description="How the booking is paid, and the payment's state")
    contact: ContactIn | None = Field(
        default=None, description="Where to send notifications (kept out of logs and Temporal)"
    )

    @model_validator(mode="after")
    def _slot_or_range(self) -> BookingIn:
        check_slot_or_range(self.slot_id, self.resource_id, self.starts_at, self.ends_at)
        return self


class PaymentOut(BaseModel):
    """Payment state of a booking; gateway bookings carry their order and checkout page."""

    method: PaymentMethod = Field(description="How it was paid or refunded", examples=["wallet"])
    provider: str | None = Field(
        description="The gateway (null for wallet payments)", examples=["sandbox"]
    )
    status: PaymentStatus = Field(
        description="PENDING, DECLINED, CAPTURED, PARTIALLY_REFUNDED, REFUNDED or FAILED",
        examples=["CAPTURED"],
    )
    captured: Money = Field(
        description="What was taken", examples=[{"amount": 50000, "currency": "INR"}]
    )
    refunded: Money = Field(
        description="What was given back", examples=[{"amount": 0, "currency": "INR"}]
    )
    order_id: str | None = Field(
        description="The gateway's order", examples=["order_9a8b7c6d5e4f3a2b1c0d9e8f"]
    )
    checkout_url: str | None = Field(
        description="Where the customer pays (or an opaque reference for the gateway's SDK)",
        examples=["http://127.0.0.1:8090/checkout/order_9a8b7c6d5e4f3a2b1c0d9e8f"],
    )


class MeetingOut(BaseModel):
    """Meeting link state, separate from the booking status."""

    status: MeetingStatus = Field(
        description="PENDING, READY, FAILED or CANCELLED", examples=["READY"]
    )
    provider: str = Field(description="jitsi or google", examples=["jitsi"])
    url: str | None = Field(
        description="The meeting link", examples=["https://meet.jit.si/booking-5f1d0c9a2b"]
    )


class EventOut(BaseModel):
    """One timeline entry."""

    type: str = Field(description="What happened", examples=["booking.confirmed"])
    at: datetime = Field(description="When", examples=["2026-12-02T10:15:30Z"])
    data: dict[str, Any] = Field(
        description="Details, without personal data",
        examples=[{"method": "wallet", "amount": 50000}],
    )


class RefundOut(BaseModel):
    """A refund of this booking (gateway refunds may still be PENDING)."""

    amount: Money = Field(
        description="Money, in minor units", examples=[{"amount": 50000, "currency": "INR"}]
    )
    method: str = Field(description="wallet, or the gateway", examples=["wallet"])
    status: RefundStatus = Field(
        description="REQUESTED, PENDING, PROCESSED or OWED", examples=["PROCESSED"]
    )
    reason: str | None = Field(description="Why", examples=["cancellation"])
    at: datetime = Field(description="When", examples=["2026-12-02T10:15:30Z"])


class BookingOut(BaseModel):
    """A booking as its owner and operators see it."""

    id: uuid.UUID = Field(description="Its id", examples=["3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17"])
    customer_id: uuid.UUID = Field(
        description="The customer (the token's sub)",
        examples=["6b1f0c5e-2d4a-4e8b-9f3c-1a2b3c4d5e6f"],
    )
    status: BookingStatus = Field(
        description="HELD, AWAITING_PAYMENT, CONFIRMED, COMPLETED, FAILED, EXPIRED or CANCELLED",
        examples=["CONFIRMED"],
    )
    reason: str | None = Field(
        description="Why it ended: PAYMENT_WINDOW_EXPIRED, INSUFFICIENT_FUNDS, CANCELLED_BY_...",
        examples=["CANCELLED_BY_CUSTOMER"],
    )
    slot_id: uuid.UUID | None = Field(
        description="The slot (none for a range booking)",
        examples=["2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"],
    )
    resource_id: uuid.UUID = Field(
        description="The resource", examples=["9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"]
    )
    starts_at: datetime = Field(
        description="Start, RFC 3339 with offset", examples=["2026-12-04T07:00:00Z"]
    )
    ends_at: datetime = Field(
        description="End, RFC 3339 with offset", examples=["2026-12-04T07:30:00Z"]
    )
    amount: Money = Field(
        description="The price, computed by the server",
        examples=[{"amount": 50000, "currency": "INR"}],
    )
    payment: PaymentOut = Field(description="How the booking is paid, and the payment's state")
    refunds: list[RefundOut] = Field(description="Every refund of this booking")
    meeting: MeetingOut = Field(description="The meeting link and its state")
    hold_expires_at: datetime | None = Field(
        description="Gateway bookings: the end of the payment window",
        examples=["2026-12-02T10:25:30Z"],
    )
    needs_attention: bool = Field(
        description="True while the booking has an open alert", examples=[False]
    )
    attention_reason: str | None = Field(
        description="The newest open alert's details",
        examples=["the wallet refund is failing (DEPENDENCY_UNAVAILABLE)"],
    )
    created_at: datetime = Field(
        description="When it was created", examples=["2026-12-02T10:15:30Z"]
    )
    updated_at: datetime = Field(
        description="When it last changed", examples=["2026-12-02T10:16:02Z"]
    )
    timeline: list[EventOut] = Field(description="What happened, oldest first")


class BookingSummaryOut(BaseModel):
    """A booking in a list."""

    id: uuid.UUID = Field(description="Its id", examples=["3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17"])
    customer_id: uuid.UUID = Field(
        description="The customer (the token's sub)",
        examples=["6b1f0c5e-2d4a-4e8b-9f3c-1a2b3c4d5e6f"],
    )
    status: BookingStatus = Field(description="The booking's status", examples=["CONFIRMED"])
    reason: str | None = Field(
        description="Why it ended, if it did", examples=["PAYMENT_WINDOW_EXPIRED"]
    )
    slot_id: uuid.UUID | None = Field(
        description="The slot (none for a range booking)",
        examples=["2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"],
    )
    starts_at: datetime = Field(
        description="Start, RFC 3339 with offset", examples=["2026-12-04T07:00:00Z"]
    )
    amount: Money = Field(description="The price", examples=[{"amount": 50000, "currency": "INR"}])
    created_at: datetime = Field(
        description="When it was created", examples=["2026-12-02T10:15:30Z"]
    )


class WalletOut(BaseModel):
    """A customer's balances, one per currency."""

    customer_id: uuid.UUID = Field(
        description="The wallet's owner", examples=["6b1f0c5e-2d4a-4e8b-9f3c-1a2b3c4d5e6f"]
    )
    balances: list[Money] = Field(
        description="One balance per currency", examples=[[{"amount": 150000, "currency": "INR"}]]
    )


class LedgerEntryOut(BaseModel):
    """One ledger entry; debits are negative."""

    id: int = Field(description="Its position in the ledger", examples=[42])
    amount: SignedMoney = Field(
        description="Signed: debits are negative", examples=[{"amount": -50000, "currency": "INR"}]
    )
    kind: str = Field(
        description="credit, debit, refund, topup or topup_refund", examples=["debit"]
    )
    booking_id: uuid.UUID | None = Field(
        description="The booking it belongs to, if any",
        examples=["3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17"],
    )
    reason: str | None = Field(description="Why", examples=["booking"])
    created_at: datetime = Field(
        description="When it was created", examples=["2026-12-02T10:15:30Z"]
    )


class CreditIn(Strict):
    """Body of ``POST /v1/wallets/{customer_id}/credits``."""

    amount: Money = Field(
        description="What to add", examples=[{"amount": 200000, "currency": "INR"}]
    )
    reason: Text = Field(
        min_length=1, max_length=500, description="Why, for the ledger", examples=["welcome credit"]
    )


class CreditOut(BaseModel):
    """The credit's ledger entry and the balance after it."""

    entry: LedgerEntryOut = Field(description="The ledger entry")
    balance: Money = Field(
        description="The balance after it", examples=[{"amount": 150000, "currency": "INR"}]
    )


class ErrorBodyOut(BaseModel):
    """The error envelope's inner object."""

    code: str = Field(description="A documented error code", examples=["SLOT_UNAVAILABLE"])
    message: str = Field(
        description="What went wrong, for a person",
        examples=["The slot has no remaining capacity."],
    )
    request_id: str = Field(
        description="Also in the X-Request-ID header",
        examples=["0f6a2c1e-5b7d-4a3e-9c8b-2d1e0f9a8b7c"],
    )


class ErrorOut(BaseModel):
    """Every error response: ``{"error": {...}}``."""

    error: ErrorBodyOut = Field(description="The error")


class WebhookReceiptOut(BaseModel):
    """The engine's answer to a gateway: the event is stored (and where it went)."""

    event_id: str = Field(description="The gateway's event id", examples=["evt_1a2b3c"])
    status: str = Field(
        description="SIGNALLED, UNMATCHED, UNPARSEABLE or WORKFLOW_CLOSED", examples=["SIGNALLED"]
    )


class WebhookEventOut(BaseModel):
    """A stored gateway event, as operators see it.

    The raw body is shown for ``UNPARSEABLE`` events only (as text, undecodable
    bytes replaced): the others are mapped into the fields above.
    """

    provider: str = Field(description="The gateway", examples=["sandbox"])
    event_id: str = Field(description="The gateway's event id", examples=["evt_1a2b3c"])
    type: str = Field(description="The engine's event type", examples=["payment.captured"])
    raw_type: str = Field(description="The gateway's own event type", examples=["payment.captured"])
    order_id: str | None = Field(
        description="The gateway's order", examples=["order_9a8b7c6d5e4f3a2b1c0d9e8f"]
    )
    payment_id: str | None = Field(
        description="The gateway's payment", examples=["pay_29QQoUBi66xm2f"]
    )
    amount: int | None = Field(description="Minor units", examples=[50000])
    currency: str | None = Field(description="ISO 4217 code", examples=["INR"])
    booking_id: uuid.UUID | None = Field(
        description="The booking it was matched to",
        examples=["3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17"],
    )
    status: str = Field(
        description="RECEIVED, SIGNALLED, UNMATCHED, UNPARSEABLE or WORKFLOW_CLOSED",
        examples=["SIGNALLED"],
    )
    received_at: datetime = Field(
        description="When the engine stored it", examples=["2026-12-02T10:15:30Z"]
    )
    raw_body: str | None = Field(
        default=None,
        description="The body as received (unparseable events only)",
        examples=['{"ping": true}'],
    )

    @field_validator("raw_body", mode="before")
    @classmethod
    def _as_text(cls, value: bytes | str | None) -> str | None:
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class CancelIn(Strict):
    """Body of ``POST /v1/bookings/{id}/cancel`` (optional); operators should give a reason."""

    reason: Text | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="Why (operators should say)",
        examples=["customer asked by phone"],
    )


class CancelRefundOut(BaseModel):
    """The refund a cancellation made; a gateway refund may still be PENDING."""

    amount: Money = Field(
        description="What was given back", examples=[{"amount": 25000, "currency": "INR"}]
    )
    method: str = Field(description="wallet, or the gateway", examples=["wallet"])
    status: RefundStatus = Field(
        description="PROCESSED, PENDING (at the gateway) or OWED (being retried)",
        examples=["PROCESSED"],
    )


class CancelOut(BaseModel):
    """The cancelled booking's status and its refund (none when the policy grants none)."""

    id: uuid.UUID = Field(description="Its id", examples=["3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17"])
    status: BookingStatus = Field(description="CANCELLED", examples=["CANCELLED"])
    refund: CancelRefundOut | None = Field(description="The refund made, if any")


class RescheduleIn(Strict):
    """Body of ``POST /v1/bookings/{id}/reschedule``: another slot, or a new range."""

    slot_id: uuid.UUID | None = Field(
        default=None,
        description="Slot bookings: the slot to move to",
        examples=["2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"],
    )
    starts_at: Instant | None = Field(
        default=None, description="Range bookings: the new start", examples=["2026-12-04T07:00:00Z"]
    )
    ends_at: Instant | None = Field(
        default=None, description="Range bookings: the new end", examples=["2026-12-07T07:00:00Z"]
    )

    @model_validator(mode="after")
    def _slot_or_range(self) -> RescheduleIn:
        if (self.slot_id is None) == (self.starts_at is None and self.ends_at is None):
            raise ValueError("give slot_id, or starts_at and ends_at")
        if self.slot_id is None and (self.starts_at is None or self.ends_at is None):
            raise ValueError("give both starts_at and ends_at")
        return self


class RescheduleOut(BaseModel):
    """The moved booking, the price difference (positive: paid from the wallet), any refund."""

    booking: BookingOut = Field(description="The booking as it is now")
    difference: SignedMoney = Field(
        description="What the move cost (positive) or saved (negative)",
        examples=[{"amount": -10000, "currency": "INR"}],
    )
    refund: CancelRefundOut | None = Field(description="The refund made, if any")


class OutgoingEventOut(BaseModel):
    """A booking event for the host application and how its delivery went."""

    id: uuid.UUID = Field(description="Its id", examples=["3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17"])
    booking_id: uuid.UUID = Field(
        description="The booking", examples=["3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17"]
    )
    type: str = Field(
        description="The event type the host application receives", examples=["booking.confirmed"]
    )
    status: str = Field(description="PENDING, DELIVERED or FAILED", examples=["DELIVERED"])
    attempts: int = Field(description="Delivery attempts so far", examples=[1])
    last_error: str | None = Field(
        description="Why the last attempt failed", examples=["receiver answered 503"]
    )
    next_attempt_at: datetime = Field(
        description="When it is tried next", examples=["2026-12-02T10:16:00Z"]
    )
    created_at: datetime = Field(
        description="When it was created", examples=["2026-12-02T10:15:30Z"]
    )
    delivered_at: datetime | None = Field(
        description="When the receiver answered 2xx", examples=["2026-12-02T10:15:31Z"]
    )


class AlertOut(BaseModel):
    """A condition that needs a person; open until ``resolved_at``."""

    id: uuid.UUID = Field(description="Its id", examples=["3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17"])
    kind: AttentionKind = Field(description="What needs a person", examples=["REFUND_FAILING"])
    severity: AlertSeverity = Field(
        description="critical (money at stake) or warning", examples=["critical"]
    )
    subject: str = Field(
        description="What it is about: a booking id, a provider's event id",
        examples=["3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17"],
    )
    booking_id: uuid.UUID | None = Field(
        description="The booking, when it is about one",
        examples=["3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17"],
    )
    details: str = Field(
        description="What was found, in words",
        examples=["the wallet refund is failing (DEPENDENCY_UNAVAILABLE)"],
    )
    occurrences: int = Field(
        description="How often the condition was seen while open", examples=[1]
    )
    opened_at: datetime = Field(description="When it opened", examples=["2026-12-02T10:15:30Z"])
    last_seen_at: datetime = Field(
        description="When it was last seen", examples=["2026-12-02T10:30:30Z"]
    )
    resolved_at: datetime | None = Field(
        description="When it was resolved (null while open)", examples=["2026-12-02T11:00:00Z"]
    )
    resolved_by: str | None = Field(
        description="Who resolved it: an operator, or the engine",
        examples=["operator:6b1f0c5e-2d4a-4e8b-9f3c-1a2b3c4d5e6f"],
    )
    resolution_note: str | None = Field(
        description="What was done", examples=["refunded by bank transfer"]
    )


class ResolveAlertIn(Strict):
    """Body of ``POST /v1/ops/alerts/{id}/resolve``: what was done, for the audit log."""

    note: Text = Field(
        min_length=1,
        max_length=500,
        description="What was done about it",
        examples=["refunded by bank transfer"],
    )


class OperatorNoteIn(Strict):
    """An operator's optional note on an action, for the audit log."""

    note: Text | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="Why, for the audit log",
        examples=["the provider is back"],
    )


class RetryMeetingIn(OperatorNoteIn):
    """Body of ``POST /v1/ops/bookings/{id}/retry-meeting`` (optional): why, for the audit log."""


class RetryMeetingOut(BaseModel):
    """The retry is queued in the booking's workflow; read the booking for the link."""

    booking_id: uuid.UUID = Field(
        description="The booking", examples=["3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17"]
    )
    meeting_status: MeetingStatus = Field(
        description="The meeting's state now", examples=["PENDING"]
    )


class RetryPendingIn(OperatorNoteIn):
    """Body of ``POST /v1/ops/bookings/{id}/retry-pending-steps`` (optional): why, for audit."""


class RetryPendingOut(BaseModel):
    """The retry is queued in the booking's workflow; read the booking to see it settle."""

    booking_id: uuid.UUID = Field(
        description="The booking", examples=["3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17"]
    )
    pending_steps: list[str] = Field(
        description="The steps that were pending when the retry was asked, in words",
        examples=[["the refund of 50000 INR for payment pay_8f2c41 (the money is owed)"]],
    )


class OpsRefundIn(Strict):
    """Body of ``POST /v1/ops/bookings/{id}/refund``; without ``amount``, all that is left."""

    amount: Money | None = Field(
        default=None,
        description="At most what was captured less what was refunded; omit for all of it",
        examples=[{"amount": 25000, "currency": "INR"}],
    )
    reason: Text = Field(
        min_length=1,
        max_length=500,
        examples=["goodwill: late start"],
        description="Why, for the audit log and the customer's mail",
    )


class OpsRefundOut(BaseModel):
    """The refund an operator's request made (a gateway refund may still be PENDING)."""

    booking_id: uuid.UUID = Field(
        description="The booking", examples=["3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17"]
    )
    refund: CancelRefundOut = Field(description="The refund made")


class ResendNotificationIn(Strict):
    """Body of ``POST /v1/ops/bookings/{id}/resend-notification``."""

    kind: NotificationKind = Field(
        description="A notification the booking was sent before", examples=["booking_confirmed"]
    )
    note: Text | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="Why, for the audit log",
        examples=["customer lost the mail"],
    )


class ResendNotificationOut(BaseModel):
    """How the repeated notification went (``SENT``, ``FAILED``, ``SKIPPED`` without an address)."""

    booking_id: uuid.UUID = Field(
        description="The booking", examples=["3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17"]
    )
    kind: NotificationKind = Field(
        description="The notification sent again", examples=["booking_confirmed"]
    )
    status: NotificationStatus = Field(
        description="SENT, FAILED or SKIPPED (no address)", examples=["SENT"]
    )


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

    provider: str = Field(examples=["sandbox"], description="The gateway")
    order_id: str | None = Field(
        examples=["order_9a8b7c6d5e4f3a2b1c0d9e8f"], description="The gateway's order"
    )
    checkout_url: str | None = Field(
        description="The gateway's checkout page, or an opaque reference for its SDK",
        examples=["http://127.0.0.1:8090/checkout/order_9a8b7c6d5e4f3a2b1c0d9e8f"],
    )


class TopupOut(BaseModel):
    """A wallet top-up: AWAITING_PAYMENT until its capture credits the wallet (CREDITED)."""

    id: uuid.UUID = Field(description="Its id", examples=["3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17"])
    status: TopupStatus = Field(
        examples=["AWAITING_PAYMENT"], description="AWAITING_PAYMENT, CREDITED, EXPIRED or FAILED"
    )
    reason: str | None = Field(default=None, description="Why it FAILED", examples=[None])
    amount: Money = Field(
        description="What the wallet receives", examples=[{"amount": 100000, "currency": "INR"}]
    )
    refunded: Money = Field(
        description="Given back by an operator", examples=[{"amount": 0, "currency": "INR"}]
    )
    payment: TopupPaymentOut = Field(description="Where the customer pays")
    expires_at: datetime | None = Field(
        description="When the payment window closes (a later capture is still credited)",
        examples=["2026-12-02T10:25:30Z"],
    )
    created_at: datetime = Field(
        description="When it was created", examples=["2026-12-02T10:15:30Z"]
    )


class TopupRefundIn(Strict):
    """Body of ``POST /v1/ops/topups/{id}/refund``: why, for the audit log."""

    reason: Text = Field(
        min_length=1,
        max_length=500,
        examples=["customer asked"],
        description="Why, for the audit log",
    )


class TopupRefundOut(BaseModel):
    """The refund of a top-up: taken back from the wallet, sent back through the gateway."""

    topup_id: uuid.UUID = Field(
        description="The top-up", examples=["3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17"]
    )
    refund: CancelRefundOut = Field(description="The refund made")
