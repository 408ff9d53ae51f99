"""Shapes every route shares, and the fields that repeat across the API's shapes.

A field that repeats is an ``Annotated`` alias here, so its description and
example are written once. A use that means something narrower overrides the
description (``= Field(description=...)``) and keeps the example; pydantic
merges the two. Nullable fields have aliases of their own (``...OrNone``):
an alias inside ``X | None`` would document its example on the non-null branch
only, where a frontend's generator does not look.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, computed_field
from pydantic.config import JsonDict

from api.services.commands import MoneyAmount
from api.validation import Currency, Text
from integrations.mail_content import refund_sentence
from models.domain import RefundStatus
from models.payloads.common import RefundInfo

# One example value per kind of id, so the examples in the document agree with each other.
BOOKING_ID_EXAMPLE = "3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17"
CUSTOMER_ID_EXAMPLE = "6b1f0c5e-2d4a-4e8b-9f3c-1a2b3c4d5e6f"
RESOURCE_ID_EXAMPLE = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
SLOT_ID_EXAMPLE = "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"
ORDER_ID_EXAMPLE = "order_9a8b7c6d5e4f3a2b1c0d9e8f"
CHECKOUT_URL_EXAMPLE = f"http://127.0.0.1:8090/checkout/{ORDER_ID_EXAMPLE}"
GATEWAY_PATTERN = r"^[a-z]{1,32}$"
# The gateways the engine has adapters for (a deployment enables some of them).
GATEWAYS = ("sandbox", "stripe", "razorpay", "paytm", "payhere")
# The schema names the closed set; the API answers 422 for one not configured here.
GATEWAY_ENUM: JsonDict = {"enum": list(GATEWAYS)}
GATEWAY_OR_NULL_ENUM: JsonDict = {"enum": [*GATEWAYS, None]}

Id = Annotated[uuid.UUID, Field(description="Its id", examples=[BOOKING_ID_EXAMPLE])]
BookingId = Annotated[uuid.UUID, Field(description="The booking", examples=[BOOKING_ID_EXAMPLE])]
BookingIdOrNone = Annotated[
    uuid.UUID | None,
    Field(description="The booking, when it is about one", examples=[BOOKING_ID_EXAMPLE]),
]
CustomerId = Annotated[
    uuid.UUID,
    Field(description="The customer (the token's sub)", examples=[CUSTOMER_ID_EXAMPLE]),
]
ResourceId = Annotated[uuid.UUID, Field(description="The resource", examples=[RESOURCE_ID_EXAMPLE])]
SlotIdOrNone = Annotated[
    uuid.UUID | None,
    Field(description="The slot (none for a range booking)", examples=[SLOT_ID_EXAMPLE]),
]

CreatedAt = Annotated[
    datetime, Field(description="When it was created", examples=["2026-12-02T10:15:30Z"])
]
T = TypeVar("T")
# Generic over the type, so a request's validated ``Instant`` and a response's
# ``datetime`` share the words: ``Start[Instant]``, ``Start[datetime]``.
Start = Annotated[
    T, Field(description="Start, RFC 3339 with offset", examples=["2026-12-04T07:00:00Z"])
]
End = Annotated[
    T, Field(description="End, RFC 3339 with offset", examples=["2026-12-04T07:30:00Z"])
]

CurrencyCode = Annotated[str, Field(description="ISO 4217 code", examples=["INR"])]
GatewayOrderId = Annotated[
    str | None, Field(description="The gateway's order", examples=[ORDER_ID_EXAMPLE])
]
CheckoutUrl = Annotated[
    str | None,
    Field(
        description="Where the customer pays (or an opaque reference for the gateway's SDK)",
        examples=[CHECKOUT_URL_EXAMPLE],
    ),
]
ReturnUrl = Annotated[
    str | None,
    Field(
        max_length=2048,
        description="Gateway payments: the page of yours the checkout sends the browser back to,"
        " under one of the allowed origins (BOOKING_CORS_ORIGINS: same scheme, host and port),"
        " with booking_id (or topup_id) and outcome (paid or declined) added to its query",
        examples=["https://shop.example.com/booked?lang=en"],
    ),
]
RefundMethod = Annotated[str, Field(description="wallet, or the gateway", examples=["wallet"])]
# What a person writes about an action: for the audit log, the ledger, a customer's mail.
Reason = Annotated[Text, Field(min_length=1, max_length=500)]


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
    currency: Currency = Field(description="ISO 4217 code")

    def as_amount(self) -> MoneyAmount:
        """The amount as the services take it."""
        return MoneyAmount(self.amount, self.currency)


class SignedMoney(BaseModel):
    """A signed amount in minor units, as ledger entries carry (debits are negative)."""

    amount: int = Field(
        description="Minor units; negative when money left the wallet", examples=[-50000]
    )
    currency: CurrencyCode


Amount = Annotated[
    Money,
    Field(description="Money, in minor units", examples=[{"amount": 50000, "currency": "INR"}]),
]
Price = Annotated[
    Money,
    Field(description="The price of one booking", examples=[{"amount": 50000, "currency": "INR"}]),
]


class Page(BaseModel, Generic[T]):
    """A page of a cursor-paginated list; pass ``next_cursor`` back as ``cursor``."""

    items: list[T] = Field(description="This page's items")
    next_cursor: str | None = Field(
        description="Pass back as cursor for the next page; null on the last",
        examples=["MjAyNi0xMi0wMlQxMDoxNTozMHw5"],
    )


REFUND_WORDS_DESCRIPTION = (
    "The refund in a customer's words, true to its status (the sentence the mails use):"
    " made, on its way, or owed"
)
REFUND_WORDS_EXAMPLE = "₹250.00 was refunded to your wallet."


def refund_in_words(amount: Money, method: str, status: RefundStatus) -> str:
    """``₹250.00 was refunded to your wallet.``: one sentence, as the mails word it."""
    return refund_sentence(
        RefundInfo(amount=amount.amount, currency=amount.currency, method=method, status=status)
    )


class RefundMadeOut(BaseModel):
    """A refund an action just made; a gateway refund may still be PENDING.

    A cancellation, a move to a cheaper slot and an operator's refund of a
    booking or of a top-up all answer with one.
    """

    amount: Amount = Field(
        description="What was given back", examples=[{"amount": 25000, "currency": "INR"}]
    )
    method: RefundMethod
    status: RefundStatus = Field(
        description="PROCESSED, PENDING (at the gateway) or OWED (being retried)",
        examples=["PROCESSED"],
    )

    @computed_field(  # type: ignore[prop-decorator]
        description=REFUND_WORDS_DESCRIPTION, examples=[REFUND_WORDS_EXAMPLE]
    )
    @property
    def words(self) -> str:
        """The refund as the customer's mails say it."""
        return refund_in_words(self.amount, self.method, self.status)


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
