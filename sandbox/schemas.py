"""Request and response bodies of the sandbox's merchant API."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from models.return_urls import MAX_LENGTH, origin_of

PaymentStatus = Literal["captured", "failed"]
OrderStatus = Literal["created", "paid"]
EventType = Literal["payment.captured", "payment.failed", "refund.processed"]


class CreateOrderIn(BaseModel):
    """``POST /v1/orders``: an amount in minor units and the merchant's reference."""

    amount: int = Field(gt=0, strict=True, description="Minor units (paise for INR).")
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["INR"])
    receipt: str = Field(min_length=1, max_length=64, description="Merchant reference.")
    expires_at: AwareDatetime | None = None
    notes: dict[str, str] | None = None
    return_url: str | None = Field(
        default=None,
        max_length=MAX_LENGTH,
        description="Where the checkout sends the browser after a payment or a decline,"
        " with outcome=paid or outcome=declined added.",
    )

    @field_validator("return_url")
    @classmethod
    def _web_page(cls, value: str | None) -> str | None:
        if value is not None and origin_of(value) is None:
            raise ValueError("must be an absolute http or https URL without user information")
        return value


class PayIn(BaseModel):
    """``POST /v1/orders/{id}/pay``: what the customer did at the checkout."""

    outcome: Literal["success", "failure"]


class RefundIn(BaseModel):
    """``POST /v1/refunds``: part or all of a captured payment."""

    payment_id: str = Field(min_length=1, max_length=64)
    amount: int = Field(gt=0, strict=True)
    reason: str | None = Field(default=None, max_length=255)


class Faults(BaseModel):
    """The fault modes; all off by default.

    Attributes:
        duplicate: Extra copies of each delivery, all with the same event id.
        delay_ms: Hold each delivery this long before its first attempt.
        reorder: Buffer an order's events for ``delay_ms`` and send the newest first.
        refunds_unavailable: Answer every refund request 503 (a gateway outage).
    """

    model_config = ConfigDict(frozen=True)

    duplicate: int = Field(default=0, ge=0, le=20, strict=True)
    delay_ms: int = Field(default=0, ge=0, le=600_000, strict=True)
    reorder: bool = Field(default=False, strict=True)
    refunds_unavailable: bool = Field(default=False, strict=True)


class PaymentOut(BaseModel):
    """A payment attempt on an order."""

    id: str
    order_id: str
    amount: int
    currency: str
    status: PaymentStatus
    created_at: str


class OrderOut(BaseModel):
    """An order and every payment attempt on it."""

    id: str
    amount: int
    currency: str
    receipt: str
    status: OrderStatus
    amount_paid: int
    amount_refunded: int
    checkout_url: str
    created_at: str
    expires_at: str | None
    notes: dict[str, str]
    return_url: str | None
    payments: list[PaymentOut]


class RefundOut(BaseModel):
    """A processed refund."""

    id: str
    payment_id: str
    order_id: str
    amount: int
    currency: str
    status: Literal["processed"]
    reason: str | None
    created_at: str


class PaymentList(BaseModel):
    """Payments, oldest first."""

    items: list[PaymentOut]


class RefundList(BaseModel):
    """Refunds, oldest first."""

    items: list[RefundOut]


class EventData(BaseModel):
    """What a webhook is about."""

    order_id: str
    payment_id: str
    receipt: str
    amount: int
    currency: str
    status: str
    refund_id: str | None = None


class EventOut(BaseModel):
    """A webhook event exactly as delivered."""

    id: str
    type: EventType
    created: int
    data: EventData


class EventList(BaseModel):
    """Every event emitted, oldest first."""

    items: list[EventOut]


class DeliveryOut(BaseModel):
    """One HTTP attempt to deliver one copy of one event.

    Attributes:
        retry_in: Seconds until the next attempt, or ``None`` when this one
            succeeded or was the last allowed.
    """

    event_id: str
    copy_index: int
    attempt: int
    status_code: int | None
    error: str | None
    retry_in: float | None
    at: str


class DeliveryList(BaseModel):
    """Every delivery attempt, in the order they finished."""

    items: list[DeliveryOut]
