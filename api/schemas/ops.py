"""Operator views and actions (``api.routes.ops``).

Every action takes an optional or required note or reason for the audit log;
an action that refunds answers with :class:`~api.schemas.common.RefundMadeOut`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from api.schemas.common import (
    BOOKING_ID_EXAMPLE,
    CUSTOMER_ID_EXAMPLE,
    BookingId,
    BookingIdOrNone,
    CreatedAt,
    GatewayOrderId,
    Id,
    PositiveMoney,
    Reason,
    RefundMadeOut,
    Strict,
)
from api.schemas.webhooks import GatewayEventId
from api.services.commands import RefundBooking, ResendNotification
from models.domain import (
    AlertSeverity,
    AttentionKind,
    BookingStatus,
    MeetingStatus,
    NotificationKind,
    NotificationStatus,
)

AuditNote = Annotated[
    Reason | None,
    Field(description="Why, for the audit log", examples=["the provider is back"]),
]
RefundMade = Annotated[RefundMadeOut, Field(description="The refund made")]


class WebhookEventOut(BaseModel):
    """A stored gateway event, as operators see it.

    The raw body is shown for ``UNPARSEABLE`` events only (as text, undecodable
    bytes replaced): the others are mapped into the fields above.
    """

    provider: str = Field(description="The gateway", examples=["sandbox"])
    event_id: GatewayEventId
    type: str = Field(description="The engine's event type", examples=["payment.captured"])
    raw_type: str = Field(description="The gateway's own event type", examples=["payment.captured"])
    order_id: GatewayOrderId
    payment_id: str | None = Field(
        description="The gateway's payment", examples=["pay_29QQoUBi66xm2f"]
    )
    amount: int | None = Field(description="Minor units", examples=[50000])
    currency: str | None = Field(description="ISO 4217 code", examples=["INR"])
    booking_id: BookingIdOrNone = Field(description="The booking it was matched to")
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


class OutgoingEventOut(BaseModel):
    """A booking event for the host application and how its delivery went."""

    id: Id
    booking_id: BookingId
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
    created_at: CreatedAt
    delivered_at: datetime | None = Field(
        description="When the receiver answered 2xx", examples=["2026-12-02T10:15:31Z"]
    )


class AlertOut(BaseModel):
    """A condition that needs a person; open until ``resolved_at``."""

    id: Id
    kind: AttentionKind = Field(description="What needs a person", examples=["REFUND_FAILING"])
    severity: AlertSeverity = Field(
        description="critical (money at stake) or warning", examples=["critical"]
    )
    subject: str = Field(
        description="What it is about: a booking id, a provider's event id",
        examples=[BOOKING_ID_EXAMPLE],
    )
    booking_id: BookingIdOrNone
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
        examples=[f"operator:{CUSTOMER_ID_EXAMPLE}"],
    )
    resolution_note: str | None = Field(
        description="What was done", examples=["refunded by bank transfer"]
    )


class ResolveAlertIn(Strict):
    """Body of ``POST /v1/ops/alerts/{id}/resolve``: what was done, for the audit log."""

    note: Reason = Field(
        description="What was done about it", examples=["refunded by bank transfer"]
    )


class OperatorNoteIn(Strict):
    """An operator's optional note on an action, for the audit log."""

    note: AuditNote = None


class RetryMeetingIn(OperatorNoteIn):
    """Body of ``POST /v1/ops/bookings/{id}/retry-meeting`` (optional): why, for the audit log."""


class RetryMeetingOut(BaseModel):
    """The retry is queued in the booking's workflow; read the booking for the link."""

    booking_id: BookingId
    meeting_status: MeetingStatus = Field(
        description="The meeting's state now", examples=["PENDING"]
    )


class RetryPendingIn(OperatorNoteIn):
    """Body of ``POST /v1/ops/bookings/{id}/retry-pending-steps`` (optional): why, for audit."""


class RetryPendingOut(BaseModel):
    """The retry is queued in the booking's workflow; read the booking to see it settle."""

    booking_id: BookingId
    pending_steps: list[str] = Field(
        description="The steps that were pending when the retry was asked, in words",
        examples=[["the refund of 50000 INR for payment pay_8f2c41 (the money is owed)"]],
    )


class OperatorRefundIn(Strict):
    """Body of ``POST /v1/ops/bookings/{id}/refund``; without ``amount``, all that is left."""

    amount: PositiveMoney | None = Field(
        default=None,
        description="At most what was captured less what was refunded; omit for all of it",
        examples=[{"amount": 25000, "currency": "INR"}],
    )
    reason: Reason = Field(
        examples=["goodwill: late start"],
        description="Why, for the audit log and the customer's mail",
    )

    def to_command(self) -> RefundBooking:
        """The refund as the services take it."""
        amount = None if self.amount is None else self.amount.as_amount()
        return RefundBooking(reason=self.reason, amount=amount)


class OperatorRefundOut(BaseModel):
    """The refund an operator's request made (a gateway refund may still be PENDING)."""

    booking_id: BookingId
    refund: RefundMade


class ResendNotificationIn(Strict):
    """Body of ``POST /v1/ops/bookings/{id}/resend-notification``."""

    kind: NotificationKind = Field(
        description="A notification the booking was sent before", examples=["booking_confirmed"]
    )
    note: AuditNote = Field(default=None, examples=["customer lost the mail"])

    def to_command(self) -> ResendNotification:
        """The resend as the services take it."""
        return ResendNotification(kind=self.kind, note=self.note)


class ResendNotificationOut(BaseModel):
    """How the repeated notification went (``SENT``, ``FAILED``, ``SKIPPED`` without an address)."""

    booking_id: BookingId
    kind: NotificationKind = Field(
        description="The notification sent again", examples=["booking_confirmed"]
    )
    status: NotificationStatus = Field(
        description="SENT, FAILED or SKIPPED (no address)", examples=["SENT"]
    )


class TopupRefundIn(Strict):
    """Body of ``POST /v1/ops/topups/{id}/refund``: why, for the audit log."""

    reason: Reason = Field(examples=["customer asked"], description="Why, for the audit log")


class TopupRefundOut(BaseModel):
    """The refund of a top-up: taken back from the wallet, sent back through the gateway."""

    topup_id: Id = Field(description="The top-up")
    refund: RefundMade


class RecoverIn(Strict):
    """Body of ``POST /v1/ops/bookings/{id}/recover``: why, for the audit log and the alert."""

    note: str = Field(
        min_length=1,
        max_length=500,
        description="Why the booking is finished this way (audit log, alert resolution)",
        examples=["workflow terminated by mistake in the Temporal UI"],
    )


class RecoverOut(BaseModel):
    """How the booking whose workflow was gone was finished."""

    booking_id: BookingId
    status: BookingStatus = Field(
        description="CANCELLED (refunded in full), or COMPLETED when its time had passed",
        examples=["CANCELLED"],
    )
    refund: RefundMade | None = Field(
        default=None, description="What was given back, if anything was left"
    )
    already_finished: bool = Field(
        description="True when the booking had ended before: nothing was changed",
        examples=[False],
    )
