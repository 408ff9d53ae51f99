"""Shapes several activity modules or workflows carry, and the base of every payload.

The fields that repeat across payloads are ``Annotated`` aliases here, so each
description is written once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.domain import PaymentMethod, RefundStatus


class Frozen(BaseModel):
    """Base for every Temporal payload: immutable, unknown fields ignored on decode."""

    model_config = ConfigDict(frozen=True)


MaxActiveHolds = Annotated[
    int,
    Field(description="How many unpaid (HELD, AWAITING_PAYMENT) bookings the customer may hold."),
]
OpsRequestId = Annotated[
    uuid.UUID,
    Field(
        description="The id of the operator's idempotent request: keys what it does, "
        "so a retry does it once."
    ),
]
RefundForMove = Annotated[
    int | None,
    Field(
        description="None: the booking's own refund; n: what its n-th move saved. "
        "Keys the refund's ledger row."
    ),
]
RefundForOpsRequest = Annotated[
    uuid.UUID | None,
    Field(
        description="An operator's refund: the id of their request "
        "(keys the ledger row instead of ``move``)."
    ),
]
Idle = Annotated[
    bool,
    Field(description="Nothing in flight: every step so far is done and the workflow waits."),
]


class Contact(Frozen):
    """Where to notify the customer. PII: never logged, never a search attribute."""

    email: str | None = None
    name: str | None = None
    # The customer's IANA time zone: mails give times in it, the resource's beside them.
    timezone: str | None = None


class PaymentSpec(Frozen):
    """How the customer pays."""

    method: PaymentMethod
    provider: str | None = None
    # Gateway payments: the frontend page the checkout sends the browser back to.
    return_url: str | None = None


class BookingPolicy(Frozen):
    """Operator-tunable bounds, fixed when the booking starts (workflows read no settings)."""

    hold_ttl_seconds: int = 600
    max_active_holds: MaxActiveHolds = 3
    meeting_alert_after_seconds: int = 1800
    gateway_max_attempts: int = 5
    # How long a closed gateway booking keeps listening for late payments to refund.
    late_payment_window_seconds: int = 7 * 86400
    # The bound of a step the create call waits for (the hold, the debit): the create timeout.
    decision_timeout_seconds: float = 30.0
    # The bound of one notification hand-off (retries included); the outbox retries later.
    notify_timeout_seconds: float = 300.0
    # How long a must-happen step (release, refund, confirm, audit) is retried in line
    # before it is kept pending for later rounds and shown to operators: long enough
    # to ride out a database or worker restart of two minutes (an attempt lost with
    # its worker is retried in line). Bookings started earlier keep the 25 s they
    # were started with.
    step_bound_seconds: float = 180.0
    # Reminders before the start (BOOKING_REMINDER_OFFSETS), in seconds.
    reminder_offsets_seconds: list[int] = [86400, 3600]


class BookingRange(Frozen):
    """A range of a range resource: what a booking without a slot holds."""

    resource_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime


class RefundInfo(Frozen):
    """A refund a cancellation made (gateway refunds may still be PENDING)."""

    amount: int
    currency: str
    method: str
    status: RefundStatus
    # Made before, for another reason (an earlier run of the workflow, as after a
    # Reset): nothing new was given back and the customer has been told.
    earlier: bool = False


class PaymentEvent(Frozen):
    """A verified gateway webhook, as signalled to a booking's or a top-up's workflow."""

    provider: str
    event_id: str
    type: Literal["payment.captured", "payment.failed", "refund.processed", "other"]
    order_id: str | None = None
    payment_id: str | None = None
    amount: int | None = None
    currency: str | None = None


class CreateOrderResult(Frozen):
    """The created order (a booking's or a top-up's) and where the customer pays it."""

    order_id: str
    checkout_url: str


class RefundPaymentResult(Frozen):
    """What the gateway said of a refund (a booking's payment or a top-up's)."""

    refund_id: str | None
    status: RefundStatus
    amount: int
    # The key's refund was asked for another reason before this call (see RefundInfo).
    earlier: bool = False
