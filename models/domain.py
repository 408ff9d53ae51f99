"""The booking domain's vocabulary: statuses and kinds shared by every layer.

These are the values stored in PostgreSQL, shown by the API and carried in
Temporal payloads; each is a ``StrEnum`` so it serialises as its plain value.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class BookingStatus(StrEnum):
    """Lifecycle statuses of a booking."""

    HELD = "HELD"
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    CONFIRMED = "CONFIRMED"
    # The booked time has passed; the seat is given back.
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


ACTIVE_STATUSES = frozenset(
    {BookingStatus.HELD, BookingStatus.AWAITING_PAYMENT, BookingStatus.CONFIRMED}
)
TERMINAL_STATUSES = frozenset(
    {
        BookingStatus.COMPLETED,
        BookingStatus.FAILED,
        BookingStatus.EXPIRED,
        BookingStatus.CANCELLED,
    }
)


class Reason(StrEnum):
    """Why a booking ended, besides the error codes of a refusal (``INSUFFICIENT_FUNDS`` ...)."""

    PAYMENT_WINDOW_EXPIRED = "PAYMENT_WINDOW_EXPIRED"
    CANCELLED_BY_CUSTOMER = "CANCELLED_BY_CUSTOMER"
    CANCELLED_BY_OPERATOR = "CANCELLED_BY_OPERATOR"


class PaymentMethod(StrEnum):
    """How a booking is paid."""

    WALLET = "wallet"
    GATEWAY = "gateway"


class PaymentStatus(StrEnum):
    """State of a booking's payment, separate from the booking status."""

    PENDING = "PENDING"
    # The last attempt failed; the customer may try again while the payment window is open.
    DECLINED = "DECLINED"
    CAPTURED = "CAPTURED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    # A payment was attempted and nothing was or ever will be taken: declined until the
    # window closed, refused (the wallet did not cover it), or voided by its compensation.
    FAILED = "FAILED"
    # The booking ended before any payment was attempted (refused at the hold, expired or
    # cancelled unpaid): nothing was asked for, nothing was taken.
    NOT_TAKEN = "NOT_TAKEN"


def status_after_refund(captured: int, refunded: int) -> PaymentStatus:
    """What a payment is once ``refunded`` of its ``captured`` money has been given back."""
    if refunded <= 0:
        return PaymentStatus.CAPTURED
    return PaymentStatus.REFUNDED if refunded >= captured else PaymentStatus.PARTIALLY_REFUNDED


class RefundStatus(StrEnum):
    """State of one refund.

    ``REQUESTED`` is written before the gateway is asked; ``OWED`` is what a
    refund that could not be made is reported as (operators are flagged).
    """

    REQUESTED = "REQUESTED"
    PENDING = "PENDING"
    PROCESSED = "PROCESSED"
    OWED = "OWED"


OPEN_REFUND_STATUSES = (RefundStatus.REQUESTED.value, RefundStatus.PENDING.value)


class MeetingStatus(StrEnum):
    """State of a booking's meeting link, separate from the booking status."""

    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"
    # The booking ended (cancelled, failed, expired): there is no meeting.
    CANCELLED = "CANCELLED"


class NotificationKind(StrEnum):
    """What a notification tells the customer; also the name of its template."""

    BOOKING_CONFIRMED = "booking_confirmed"
    BOOKING_RESCHEDULED = "booking_rescheduled"
    BOOKING_FAILED = "booking_failed"
    BOOKING_EXPIRED = "booking_expired"
    BOOKING_CANCELLED = "booking_cancelled"
    BOOKING_REMINDER = "booking_reminder"
    PAYMENT_REFUNDED = "payment_refunded"
    PAYMENT_DECLINED = "payment_declined"
    MEETING_READY = "meeting_ready"


class AttentionKind(StrEnum):
    """What needs a person: the kinds of alerts and of the ``BookingAttention`` attribute."""

    MEETING_LINK_FAILING = "MEETING_LINK_FAILING"
    REFUND_FAILING = "REFUND_FAILING"
    PAYMENT_MISMATCH = "PAYMENT_MISMATCH"
    WEBHOOK_UNMATCHED = "WEBHOOK_UNMATCHED"
    WEBHOOK_UNPARSEABLE = "WEBHOOK_UNPARSEABLE"
    NOTIFICATION_FAILED = "NOTIFICATION_FAILED"
    EVENT_DELIVERY_FAILED = "EVENT_DELIVERY_FAILED"
    BALANCE_MISMATCH = "BALANCE_MISMATCH"
    WORKFLOW_MISSING = "WORKFLOW_MISSING"
    STATUS_MISMATCH = "STATUS_MISMATCH"
    GATEWAY_MISMATCH = "GATEWAY_MISMATCH"
    RECONCILIATION_FAILED = "RECONCILIATION_FAILED"
    CREDIT_SPIKE = "CREDIT_SPIKE"
    # A step that must happen (release, confirm, audit...) is past its bound and waits for a retry.
    STEP_FAILING = "STEP_FAILING"


class AlertSeverity(StrEnum):
    """How soon a person must look: money at stake (critical) or not (warning)."""

    CRITICAL = "critical"
    WARNING = "warning"


# Money at stake, or the books disagree: someone must look today.
CRITICAL_KINDS = frozenset(
    {
        AttentionKind.REFUND_FAILING,
        AttentionKind.PAYMENT_MISMATCH,
        AttentionKind.BALANCE_MISMATCH,
        AttentionKind.GATEWAY_MISMATCH,
        AttentionKind.STEP_FAILING,
        AttentionKind.CREDIT_SPIKE,
    }
)


def severity_of(kind: AttentionKind) -> AlertSeverity:
    """The severity an alert of ``kind`` opens with."""
    return AlertSeverity.CRITICAL if kind in CRITICAL_KINDS else AlertSeverity.WARNING


class TopupStatus(StrEnum):
    """Lifecycle of a wallet top-up."""

    PENDING = "PENDING"
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    CREDITED = "CREDITED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"


class ReconcileJob(StrEnum):
    """A reconciliation job; each runs on a Temporal Schedule of the same name."""

    LEDGER = "ledger"
    # The ledger job over every wallet (the 15-minute one judges those written since its last run).
    LEDGER_FULL = "ledger-full"
    WORKFLOWS = "workflows"
    # Booking workflows closed (terminated) while their booking is active: found within a minute.
    CLOSED_WORKFLOWS = "closed-workflows"
    GATEWAYS = "gateways"
    PURGE = "purge"


class NotificationStatus(StrEnum):
    """Delivery state of one notification in the outbox."""

    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


class GatewayTransactionKind(StrEnum):
    """What a ``gateway_transactions`` row records."""

    CAPTURE = "capture"
    REFUND = "refund"


def has_started(starts_at: datetime, now: datetime) -> bool:
    """Whether a slot (or booking) starting at ``starts_at`` can no longer be taken.

    The one rule for "the slot has started": the API's early refusal, the hold
    and the move all use it.
    """
    return starts_at <= now
