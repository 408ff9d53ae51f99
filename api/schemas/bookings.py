"""Bookings: create, read, list, cancel and reschedule (``api.routes.bookings``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    EmailStr,
    Field,
    computed_field,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict

from api.schemas.common import (
    GATEWAY_OR_NULL_ENUM,
    GATEWAY_PATTERN,
    REFUND_WORDS_DESCRIPTION,
    REFUND_WORDS_EXAMPLE,
    RESOURCE_ID_EXAMPLE,
    Amount,
    CheckoutUrl,
    CreatedAt,
    CustomerId,
    End,
    GatewayOrderId,
    Id,
    Price,
    Reason,
    RefundMadeOut,
    RefundMethod,
    ResourceId,
    ReturnUrl,
    SignedMoney,
    SlotIdOrNone,
    Start,
    Strict,
    refund_in_words,
)
from api.services.commands import ContactDetails, CreateBooking, MoveBooking, PaymentChoice
from api.validation import Instant, Text
from models.domain import (
    BookingStatus,
    MeetingStatus,
    PaymentMethod,
    PaymentStatus,
    RefundStatus,
)
from models.domain import Reason as EndReason
from models.errors import ErrorCode

# A booking's reason: how it ended, or the code of the refusal that failed it (a closed set).
REASON_ENUM: JsonDict = {
    "enum": [*(r.value for r in EndReason), *(c.value for c in ErrorCode), None]
}

# A range booking's new times, in a create or a move.
RangeStart = Annotated[
    Instant | None,
    Field(description="Range bookings: the start", examples=["2026-12-04T07:00:00Z"]),
]
RangeEnd = Annotated[
    Instant | None,
    Field(description="Range bookings: the end", examples=["2026-12-07T07:00:00Z"]),
]
At = Annotated[datetime, Field(description="When", examples=["2026-12-02T10:15:30Z"])]
RefundMade = Annotated[RefundMadeOut | None, Field(description="The refund made, if any")]


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
        pattern=GATEWAY_PATTERN,
        description="Gateway payments: sandbox, stripe, razorpay, paytm or payhere",
        examples=["sandbox"],
        json_schema_extra=GATEWAY_OR_NULL_ENUM,
    )


class ContactIn(Strict):
    """Where to send notifications (kept out of logs and search attributes)."""

    email: EmailStr | None = Field(
        default=None, description="Where notifications go", examples=["asha@example.com"]
    )
    name: Text | None = Field(
        default=None, max_length=200, description="How mails greet the customer", examples=["Asha"]
    )
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="The customer's IANA time zone: mails give times in it, the resource's"
        " beside them",
        examples=["Europe/Berlin"],
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value


class BookingIn(Strict):
    """Body of ``POST /v1/bookings``: a slot, or a range of a range resource.

    The price is never sent: the server takes it from the slot, or computes it
    from the resource's rate.
    """

    slot_id: SlotIdOrNone = Field(
        default=None, description="The slot to book (or resource_id with starts_at and ends_at)"
    )
    resource_id: uuid.UUID | None = Field(
        default=None,
        description="A range resource to book from starts_at to ends_at",
        examples=[RESOURCE_ID_EXAMPLE],
    )
    starts_at: RangeStart = None
    ends_at: RangeEnd = None
    payment: PaymentIn = Field(description="How the booking is paid, and the payment's state")
    contact: ContactIn | None = Field(
        default=None, description="Where to send notifications (kept out of logs and Temporal)"
    )
    return_url: ReturnUrl = None

    @model_validator(mode="after")
    def _slot_or_range(self) -> BookingIn:
        check_slot_or_range(self.slot_id, self.resource_id, self.starts_at, self.ends_at)
        return self

    def to_command(self) -> CreateBooking:
        """The create as the services take it."""
        contact = self.contact
        return CreateBooking(
            payment=PaymentChoice(self.payment.method, self.payment.provider),
            slot_id=self.slot_id,
            resource_id=self.resource_id,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            contact=None
            if contact is None
            else ContactDetails(contact.email, contact.name, contact.timezone),
            return_url=self.return_url,
        )


class BookingPaymentOut(BaseModel):
    """Payment state of a booking; gateway bookings carry their order and checkout page."""

    method: PaymentMethod = Field(description="How it was paid or refunded", examples=["gateway"])
    provider: str | None = Field(
        description="The gateway (null for wallet payments)",
        examples=["sandbox"],
        json_schema_extra=GATEWAY_OR_NULL_ENUM,
    )
    status: PaymentStatus = Field(
        description="PENDING, DECLINED, CAPTURED, PARTIALLY_REFUNDED, REFUNDED, FAILED (a"
        " payment was attempted and none was taken) or NOT_TAKEN (the booking ended before"
        " any payment was attempted)",
        examples=["CAPTURED"],
    )
    captured: Amount = Field(description="What was taken")
    refunded: Amount = Field(
        description="What was given back", examples=[{"amount": 0, "currency": "INR"}]
    )
    order_id: GatewayOrderId
    checkout_url: CheckoutUrl


class MeetingOut(BaseModel):
    """Meeting link state, separate from the booking status."""

    status: MeetingStatus = Field(
        description="PENDING, READY, FAILED or CANCELLED", examples=["READY"]
    )
    provider: Literal["jitsi", "google"] = Field(description="jitsi or google", examples=["jitsi"])
    url: str | None = Field(
        description="The meeting link", examples=["https://meet.jit.si/booking-5f1d0c9a2b"]
    )


class TimelineEventOut(BaseModel):
    """One entry of a booking's timeline."""

    type: str = Field(description="What happened", examples=["booking.confirmed"])
    at: At
    data: dict[str, Any] = Field(
        description="Details, without personal data",
        examples=[{"method": "wallet", "amount": 50000}],
    )


class BookingRefundOut(BaseModel):
    """A refund of this booking, as its history shows it (gateway refunds may still be PENDING)."""

    amount: Amount
    method: RefundMethod
    status: RefundStatus = Field(
        description="REQUESTED, PENDING, PROCESSED or OWED", examples=["PROCESSED"]
    )
    reason: str | None = Field(description="Why", examples=["cancellation"])
    at: At

    @computed_field(  # type: ignore[prop-decorator]
        description=REFUND_WORDS_DESCRIPTION, examples=[REFUND_WORDS_EXAMPLE]
    )
    @property
    def words(self) -> str:
        """The refund as the customer's mails say it."""
        return refund_in_words(self.amount, self.method, self.status)


class BookingOut(BaseModel):
    """A booking as its owner and operators see it."""

    id: Id
    customer_id: CustomerId
    status: BookingStatus = Field(
        description="HELD, AWAITING_PAYMENT, CONFIRMED, COMPLETED, FAILED, EXPIRED or CANCELLED",
        examples=["CONFIRMED"],
    )
    reason: str | None = Field(
        description="Why it ended: PAYMENT_WINDOW_EXPIRED, CANCELLED_BY_CUSTOMER,"
        " CANCELLED_BY_OPERATOR, or the code of the refusal (INSUFFICIENT_FUNDS, ...)",
        examples=[None],
        json_schema_extra=REASON_ENUM,
    )
    slot_id: SlotIdOrNone
    resource_id: ResourceId
    starts_at: Start[datetime]
    ends_at: End[datetime]
    amount: Price = Field(description="The price, computed by the server")
    payment: BookingPaymentOut = Field(
        description="How the booking is paid, and the payment's state"
    )
    refunds: list[BookingRefundOut] = Field(description="Every refund of this booking")
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
    created_at: CreatedAt
    updated_at: datetime = Field(
        description="When it last changed", examples=["2026-12-02T10:16:02Z"]
    )
    timeline: list[TimelineEventOut] = Field(description="What happened, oldest first")


class BookingSummaryOut(BaseModel):
    """A booking in a list."""

    id: Id
    customer_id: CustomerId
    status: BookingStatus = Field(description="The booking's status", examples=["CONFIRMED"])
    reason: str | None = Field(
        description="Why it ended, if it did",
        examples=["PAYMENT_WINDOW_EXPIRED"],
        json_schema_extra=REASON_ENUM,
    )
    slot_id: SlotIdOrNone
    starts_at: Start[datetime]
    amount: Price = Field(description="The price")
    created_at: CreatedAt


class CancelIn(Strict):
    """Body of ``POST /v1/bookings/{id}/cancel`` (optional); operators should give a reason."""

    reason: Reason | None = Field(
        default=None,
        description="Why (operators should say)",
        examples=["customer asked by phone"],
    )


class CancellationOut(BaseModel):
    """The cancelled booking's status and its refund (none when the policy grants none)."""

    id: Id
    status: BookingStatus = Field(description="CANCELLED", examples=["CANCELLED"])
    refund: RefundMade


class RescheduleIn(Strict):
    """Body of ``POST /v1/bookings/{id}/reschedule``: another slot, or a new range."""

    slot_id: SlotIdOrNone = Field(default=None, description="Slot bookings: the slot to move to")
    starts_at: RangeStart = Field(default=None, description="Range bookings: the new start")
    ends_at: RangeEnd = Field(default=None, description="Range bookings: the new end")

    @model_validator(mode="after")
    def _slot_or_range(self) -> RescheduleIn:
        if (self.slot_id is None) == (self.starts_at is None and self.ends_at is None):
            raise ValueError("give slot_id, or starts_at and ends_at")
        if self.slot_id is None and (self.starts_at is None or self.ends_at is None):
            raise ValueError("give both starts_at and ends_at")
        return self

    def to_command(self) -> MoveBooking:
        """The move as the services take it."""
        return MoveBooking(slot_id=self.slot_id, starts_at=self.starts_at, ends_at=self.ends_at)


class RescheduleOut(BaseModel):
    """The moved booking, the price difference (positive: paid from the wallet), any refund."""

    booking: BookingOut = Field(description="The booking as it is now")
    difference: SignedMoney = Field(
        description="What the move cost (positive) or saved (negative)",
        examples=[{"amount": -10000, "currency": "INR"}],
    )
    refund: RefundMade
