"""The gateway interface every adapter implements, and the shapes it speaks.

    GatewayError            a call to the gateway failed
    ├── retryable=True      transport error, timeout, 429, 5xx: try again later
    └── retryable=False     the gateway refused (4xx): retrying cannot help
    InvalidSignature        a webhook failed verification (never acted on)

Amounts are integer minor units everywhere. Adapters never log secrets,
signatures, card data or customer contact details.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from core.signing import InvalidSignature

__all__ = [
    "EventType",
    "GatewayError",
    "GatewayEvent",
    "GatewayOrder",
    "GatewayRecord",
    "GatewayRefund",
    "InvalidSignature",
    "PaymentGateway",
    "WebhookVerifier",
    "secrets_list",
]

EventType = Literal["payment.captured", "payment.failed", "refund.processed", "other"]


class GatewayError(Exception):
    """A gateway call failed; ``retryable`` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool, status_code: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code


@dataclass(frozen=True)
class GatewayOrder:
    """An order (Stripe: a PaymentIntent) the customer pays at ``checkout_url``."""

    provider: str
    order_id: str
    amount: int
    currency: str
    checkout_url: str
    status: str


@dataclass(frozen=True)
class GatewayRefund:
    """A refund as the gateway reports it (``status`` may still be pending)."""

    refund_id: str
    amount: int
    currency: str
    status: str


@dataclass(frozen=True)
class GatewayRecord:
    """A capture or a refund as the gateway lists it, for reconciliation.

    ``id`` is the gateway's own id of the record (the payment, or the refund);
    ``payment_id`` is the payment it belongs to, as the engine stores it.
    """

    kind: Literal["capture", "refund"]
    id: str
    payment_id: str
    order_id: str | None
    amount: int
    currency: str
    created_at: datetime


@dataclass(frozen=True)
class GatewayEvent:
    """A verified webhook event in the engine's terms."""

    provider: str
    event_id: str
    type: EventType
    raw_type: str
    order_id: str | None
    payment_id: str | None
    amount: int | None
    currency: str | None
    occurred_at: datetime | None
    # The merchant reference the order was created with (our booking id), if the event has it.
    reference: str | None = None


class PaymentGateway(Protocol):
    """What the payment activities need from a gateway."""

    name: str

    async def create_order(
        self,
        *,
        booking_id: uuid.UUID,
        amount: int,
        currency: str,
        idempotency_key: str,
        expires_at: datetime,
        return_url: str | None = None,
    ) -> GatewayOrder:
        """Create (or, for the same booking, find again) the order to pay.

        ``return_url`` is the page the checkout sends the browser back to, with
        the booking (or top-up) already in its query; the gateway adds
        ``outcome=paid`` or ``outcome=declined`` where it tells the two apart.
        """
        ...

    async def cancel_order(self, order_id: str) -> bool:
        """Stop further payment where the gateway allows; False where it cannot."""
        ...

    async def refund(
        self,
        *,
        order_id: str,
        payment_id: str,
        amount: int,
        currency: str,
        idempotency_key: str,
    ) -> GatewayRefund:
        """Refund ``amount`` of a captured payment, once per ``idempotency_key``."""
        ...

    async def list_transactions(self, since: datetime) -> list[GatewayRecord] | None:
        """Captures and refunds made at or after ``since``, for reconciliation.

        None when the gateway has no such list (reconciliation then skips it).
        """
        ...


class WebhookVerifier(Protocol):
    """Verifies a provider's webhooks over the raw body and turns them into events."""

    provider: str

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: float) -> None:
        """Raise :class:`InvalidSignature` unless the body is authentic and fresh."""
        ...

    def parse(self, body: bytes, headers: Mapping[str, str]) -> GatewayEvent:
        """The event in a verified body (raise ValueError when it has no usable shape)."""
        ...


def secrets_list(value: str | None) -> Sequence[str]:
    """Secrets from a setting; several, comma-separated, during a rotation."""
    return [s.strip() for s in (value or "").split(",") if s.strip()]
