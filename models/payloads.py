"""Inputs and results of the booking workflow and its activities.

Small frozen pydantic models carried by the pydantic data converter. Each
workflow, activity and update has its own ``<Verb>Input`` so fields can be
added compatibly. ORM objects never cross into Temporal.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from models.domain import (
    AttentionKind,
    BookingStatus,
    MeetingStatus,
    NotificationKind,
    NotificationStatus,
    PaymentMethod,
    ReconcileJob,
    RefundStatus,
    TopupStatus,
)
from models.refund_policy import RefundPolicy


class Frozen(BaseModel):
    """Base for every Temporal payload: immutable, unknown fields ignored on decode."""

    model_config = ConfigDict(frozen=True)


class Contact(Frozen):
    """Where to notify the customer. PII: never logged, never a search attribute."""

    email: str | None = None
    name: str | None = None


class PaymentSpec(Frozen):
    """How the customer pays."""

    method: PaymentMethod
    provider: str | None = None


class BookingPolicy(Frozen):
    """Operator-tunable bounds, fixed when the booking starts (workflows read no settings)."""

    hold_ttl_seconds: int = 600
    max_active_holds: int = 3
    meeting_alert_after_seconds: int = 1800
    gateway_max_attempts: int = 5
    # How long a closed gateway booking keeps listening for late payments to refund.
    late_payment_window_seconds: int = 7 * 86400
    # The bound of a step the create call waits for (the hold, the debit): the create timeout.
    decision_timeout_seconds: float = 30.0
    # The bound of one notification hand-off (retries included); the outbox retries later.
    notify_timeout_seconds: float = 300.0
    # How long a must-happen step (release, refund, confirm, audit) is retried in line
    # before it is kept pending for later rounds and shown to operators. Longer than
    # one attempt's timeout, so an attempt lost with its worker is retried in line.
    step_bound_seconds: float = 25.0
    # Reminders before the start (BOOKING_REMINDER_OFFSETS), in seconds.
    reminder_offsets_seconds: list[int] = [86400, 3600]


class BookingRange(Frozen):
    """A range of a range resource: what a booking without a slot holds."""

    resource_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime


# The saga's shape a new booking runs (BookingInput.saga_version; docs/determinism.md).
# 1: the hold and the wallet debit as two steps, the meeting link after them.
# 2: a wallet booking's hold, debit and (for providers that need no network) meeting
#    link decided in one step, ``decide_wallet``.
SAGA_VERSION = 2


class BookingInput(Frozen):
    """Start input of :class:`workflows.booking.BookingWorkflow`: a slot, or a range."""

    booking_id: uuid.UUID
    customer_id: uuid.UUID
    slot_id: uuid.UUID | None = None
    range: BookingRange | None = None
    payment: PaymentSpec
    contact: Contact | None = None
    policy: BookingPolicy = BookingPolicy()
    # Fixed at the start, so a workflow replays the shape it began with. Workflows
    # started before the field existed decode as 1; whoever starts one sets SAGA_VERSION.
    saga_version: int = 1


class CreateResult(Frozen):
    """Answer of the ``create`` update: the hold (and, for wallets, payment) decision."""

    booking_id: uuid.UUID
    status: BookingStatus
    reason: str | None = None


class BookingResult(Frozen):
    """What a finished booking workflow returns."""

    booking_id: uuid.UUID
    status: BookingStatus
    reason: str | None = None
    create: CreateResult


class HoldSlotInput(Frozen):
    """Hold one unit of a slot's capacity, or a range of a range resource, for a booking."""

    booking_id: uuid.UUID
    customer_id: uuid.UUID
    slot_id: uuid.UUID | None = None
    range: BookingRange | None = None
    workflow_id: str
    payment: PaymentSpec
    contact: Contact | None = None
    # How many unpaid (HELD, AWAITING_PAYMENT) bookings the customer may hold.
    max_active_holds: int = 3


class SlotHold(Frozen):
    """A held slot or range, with the server-side price."""

    booking_id: uuid.UUID
    # None for a range booking.
    slot_id: uuid.UUID | None
    resource_id: uuid.UUID
    amount: int
    currency: str
    starts_at: datetime
    ends_at: datetime
    meeting_provider: str
    refund_policy: RefundPolicy = RefundPolicy()
    # Words for operators (the Temporal UI's details): no personal data.
    resource_name: str = ""
    price_text: str = ""
    starts_text: str = ""


class ChargeWalletInput(Frozen):
    """Debit the customer's wallet for a held booking and confirm it."""

    booking_id: uuid.UUID
    customer_id: uuid.UUID
    amount: int
    currency: str


class ReleaseSlotInput(Frozen):
    """Release a booking's hold and record its terminal status."""

    booking_id: uuid.UUID
    status: BookingStatus
    reason: str | None = None


class CreateMeetingInput(Frozen):
    """Create (or find again) the meeting link of a confirmed booking."""

    booking_id: uuid.UUID
    provider: str
    starts_at: datetime
    ends_at: datetime


class MeetingLink(Frozen):
    """A created meeting."""

    url: str
    external_id: str


class WalletDecision(Frozen):
    """What ``decide_wallet`` decided: held and paid, and the link when it needed no network."""

    hold: SlotHold
    meeting: MeetingLink | None = None
    # The confirmation mail's outcome when this step sent it (None: the workflow sends it).
    confirmation: NotificationStatus | None = None


class RecordMeetingAlertInput(Frozen):
    """Record a meeting's state on the booking."""

    booking_id: uuid.UUID
    status: MeetingStatus
    alert: str | None = None


class RefundWalletInput(Frozen):
    """Give back what a booking's wallet debit took (nothing when there was no debit)."""

    booking_id: uuid.UUID
    # None: the whole debit (compensation); otherwise what the refund policy grants.
    amount: int | None = None
    reason: str = "booking compensation"
    # None: the booking's own refund; n: what its n-th move saved. Keys the ledger row.
    move: int | None = None
    # An operator's refund: the id of their request (keys the ledger row instead of ``move``).
    ops: uuid.UUID | None = None


class BookingState(Frozen):
    """What the workflow knows now; answered by the ``state`` query."""

    booking_id: uuid.UUID
    status: BookingStatus | None
    reason: str | None
    meeting_status: MeetingStatus
    # Nothing in flight: every step so far is done and the workflow waits for events.
    idle: bool = False
    # What needs a person now, and the must-happen steps waiting for a retry (in words).
    attention: list[AttentionKind] = []
    pending_steps: list[str] = []


class SendNotificationInput(Frozen):
    """Send one notification about a booking; ``kind`` names the template."""

    booking_id: uuid.UUID
    kind: NotificationKind
    # Tells apart the notifications of a kind that can repeat: the move number
    # of a reschedule, the payment id of a refund. Part of the outbox key.
    about: str | None = None
    # The calendar invite's SEQUENCE: it rises with every change of the event.
    sequence: int = 0
    # The money this change moved, as the mail tells it: a refund, or what a move charged.
    refund: RefundInfo | None = None
    charged: int | None = None


class SendNotificationResult(Frozen):
    """Delivery status of one notification."""

    status: NotificationStatus


class CreateOrderInput(Frozen):
    """Create the gateway order a customer pays for a held booking."""

    booking_id: uuid.UUID
    provider: str
    amount: int
    currency: str
    expires_at: datetime


class CreateOrderResult(Frozen):
    """The created order and where the customer pays it."""

    order_id: str
    checkout_url: str


class PaymentEvent(Frozen):
    """A verified gateway webhook, as signalled to the booking's workflow."""

    provider: str
    event_id: str
    type: Literal["payment.captured", "payment.failed", "refund.processed", "other"]
    order_id: str | None = None
    payment_id: str | None = None
    amount: int | None = None
    currency: str | None = None


class RecordDeclineInput(Frozen):
    """A gateway reported a failed payment attempt for this booking."""

    booking_id: uuid.UUID
    provider: str
    event_id: str
    payment_id: str | None = None


class ConfirmPaymentInput(Frozen):
    """Record a captured gateway payment and confirm the booking."""

    booking_id: uuid.UUID
    provider: str
    order_id: str
    payment_id: str
    amount: int
    currency: str


class RefundPaymentInput(Frozen):
    """Refund a captured gateway payment once (late, duplicate or mismatched)."""

    booking_id: uuid.UUID
    provider: str
    order_id: str | None
    payment_id: str
    amount: int
    currency: str
    reason: str
    # None: the booking's own refund of this payment; n: what its n-th move saved.
    move: int | None = None
    # An operator's refund: the id of their request.
    ops: uuid.UUID | None = None


class RefundPaymentResult(Frozen):
    """What the gateway said of a refund."""

    refund_id: str | None
    status: RefundStatus
    amount: int


class CancelOrderInput(Frozen):
    """Stop an unpaid order where the gateway allows it."""

    booking_id: uuid.UUID
    provider: str
    order_id: str


class MarkRefundProcessedInput(Frozen):
    """A gateway reported a refund of this booking as processed."""

    booking_id: uuid.UUID
    provider: str
    payment_id: str | None


class OpenAlertInput(Frozen):
    """Put a booking in front of operators: an alert of ``kind``, the reason in words."""

    booking_id: uuid.UUID
    kind: AttentionKind
    details: str


class SettleAlertInput(Frozen):
    """The condition behind the booking's open ``kind`` alert has cleared."""

    booking_id: uuid.UUID
    kind: AttentionKind
    note: str


class CancelInput(Frozen):
    """Cancel a booking: who asks, and (operators) why."""

    actor: str
    by_operator: bool = False
    reason: str | None = None


class RefundInfo(Frozen):
    """A refund a cancellation made (gateway refunds may still be PENDING)."""

    amount: int
    currency: str
    method: str
    status: RefundStatus


class CancelResult(Frozen):
    """Answer of the ``cancel`` update; the same for every caller of one cancellation."""

    booking_id: uuid.UUID
    status: BookingStatus
    refund: RefundInfo | None = None


class CancelMeetingInput(Frozen):
    """Cancel a booking's meeting at its provider."""

    booking_id: uuid.UUID


class RecordAuditInput(Frozen):
    """One audit record: who did what to which booking, and why."""

    booking_id: uuid.UUID
    actor: str
    action: str
    reason: str | None = None


class RescheduleInput(Frozen):
    """Move a confirmed booking to another slot, or (range bookings) to another range."""

    slot_id: uuid.UUID | None = None
    range: BookingRange | None = None
    actor: str


class MoveBookingInput(Frozen):
    """Move the booking's hold to a new slot or range in one transaction (new held first)."""

    booking_id: uuid.UUID
    customer_id: uuid.UUID
    slot_id: uuid.UUID | None = None
    range: BookingRange | None = None
    allow_wallet_topup: bool
    # The booking's move number (1 for its first reschedule): keys the move's money.
    move: int


class MoveBookingResult(Frozen):
    """The booking's new hold and what the move cost (positive) or saved (negative)."""

    hold: SlotHold
    difference: int


class RescheduleResult(Frozen):
    """Answer of the ``reschedule`` update."""

    booking_id: uuid.UUID
    slot_id: uuid.UUID | None
    difference: int
    refund: RefundInfo | None = None


class RetryMeetingInput(Frozen):
    """An operator asks the workflow to create the missing meeting link again."""

    actor: str
    note: str | None = None


class RetryMeetingResult(Frozen):
    """The retry is queued; the meeting's status as it is now."""

    booking_id: uuid.UUID
    meeting_status: MeetingStatus


class RetryPendingInput(Frozen):
    """An operator asks the workflow to try its pending must-happen steps again now."""

    actor: str
    note: str | None = None


class RetryPendingResult(Frozen):
    """The retry is queued; the steps that were pending when it was asked."""

    booking_id: uuid.UUID
    pending_steps: list[str]


class FindRefundableInput(Frozen):
    """Ask what is left to refund of a booking's payment."""

    booking_id: uuid.UUID


class Refundable(Frozen):
    """What of a booking's payment can still be given back, and how.

    ``method`` is ``wallet`` or the gateway; a gateway refund names the
    payment it comes from (the one with the most left).
    """

    method: str
    currency: str
    remaining: int
    payment_id: str | None = None
    order_id: str | None = None


class OpsRefundInput(Frozen):
    """An operator refunds some (``amount``) or all of what is left of a booking's payment."""

    # The id of the operator's idempotent request: keys the refund, so a retry refunds once.
    request_id: uuid.UUID
    actor: str
    reason: str
    amount: int | None = None


class OpsRefundResult(Frozen):
    """The refund an operator's request made."""

    booking_id: uuid.UUID
    refund: RefundInfo


class ResendNotificationInput(Frozen):
    """An operator sends one of a booking's notifications again."""

    request_id: uuid.UUID
    actor: str
    kind: NotificationKind
    note: str | None = None


class ResendNotificationResult(Frozen):
    """How the repeated notification went."""

    booking_id: uuid.UUID
    kind: NotificationKind
    status: NotificationStatus


class BookingOpsInput(Frozen):
    """Start input of the workflow that serves operator actions on a closed booking."""

    booking_id: uuid.UUID
    policy: BookingPolicy = BookingPolicy()


class ReconcileInput(Frozen):
    """One run of a reconciliation job, with the bounds it judges by (set by its schedule)."""

    job: ReconcileJob
    # What changed more recently than this is still settling and is not judged.
    grace_seconds: int = 600
    # How far back the gateways job compares the gateway's list with the engine's books.
    lookback_hours: int = 48
    # A customer credited more than this (minor units, one currency) in a day is a spike.
    credit_spike_amount: int = 10_000_000


class ReconcileResult(Frozen):
    """What a reconciliation run looked at and found (each finding also opened an alert)."""

    job: ReconcileJob
    checked: int
    findings: list[str] = []


class ReconcileFailedInput(Frozen):
    """A reconciliation job could not finish: open (or settle) its RECONCILIATION_FAILED alert."""

    job: ReconcileJob
    error: str | None = None


class TopupInput(Frozen):
    """Start input of :class:`workflows.topup.TopupWorkflow`."""

    topup_id: uuid.UUID
    customer_id: uuid.UUID
    amount: int
    currency: str
    provider: str
    policy: BookingPolicy = BookingPolicy()


class CreateTopupOrderInput(Frozen):
    """Create the gateway order a customer pays to top up their wallet."""

    topup_id: uuid.UUID
    provider: str
    amount: int
    currency: str
    expires_at: datetime


class TopupDecision(Frozen):
    """Answer of a top-up's ``create`` update: its order to pay, or why there is none."""

    topup_id: uuid.UUID
    status: TopupStatus
    reason: str | None = None


class CreditTopupInput(Frozen):
    """A capture of a top-up's order: credit the wallet once (key ``{topup_id}:credit``)."""

    topup_id: uuid.UUID
    provider: str
    order_id: str | None
    payment_id: str
    amount: int
    currency: str


class ExpireTopupInput(Frozen):
    """The top-up's payment window closed unpaid."""

    topup_id: uuid.UUID
    status: TopupStatus = TopupStatus.EXPIRED
    reason: str | None = None


class RefundTopupInput(Frozen):
    """Give a top-up's payment back through the gateway.

    ``from_wallet``: an operator's refund of a credited top-up, which first
    takes the amount back from the wallet (refused unless the balance covers
    it); otherwise money the top-up did not need (a second or mismatched
    capture), which never reached the wallet.
    """

    topup_id: uuid.UUID
    provider: str
    order_id: str | None
    payment_id: str
    amount: int
    currency: str
    reason: str
    from_wallet: bool = False
    actor: str | None = None


class TopupState(Frozen):
    """What a top-up's workflow knows now; answered by its ``state`` query."""

    topup_id: uuid.UUID
    status: TopupStatus
    idle: bool = False


class TopupRefundRequest(Frozen):
    """An operator refunds a credited top-up (the wallet must still hold the amount)."""

    actor: str
    reason: str
