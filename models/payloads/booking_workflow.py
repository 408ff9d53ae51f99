"""The booking workflow's own shapes: its start input and result, updates and ``state`` query.

The operator actions it shares with the ops workflow (a refund, a repeated
notification) are in :mod:`models.payloads.ops_workflow`.
"""

from __future__ import annotations

import uuid

from models.domain import AttentionKind, BookingStatus, MeetingStatus
from models.payloads.common import (
    BookingPolicy,
    BookingRange,
    Contact,
    Frozen,
    Idle,
    PaymentSpec,
    RefundInfo,
)

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


class BookingState(Frozen):
    """What the workflow knows now; answered by the ``state`` query."""

    booking_id: uuid.UUID
    status: BookingStatus | None
    reason: str | None
    meeting_status: MeetingStatus
    idle: Idle = False
    # What needs a person now, and the must-happen steps waiting for a retry (in words).
    attention: list[AttentionKind] = []
    pending_steps: list[str] = []


class CancelInput(Frozen):
    """Cancel a booking: who asks, and (operators) why."""

    actor: str
    by_operator: bool = False
    reason: str | None = None


class CancelResult(Frozen):
    """Answer of the ``cancel`` update; the same for every caller of one cancellation."""

    booking_id: uuid.UUID
    status: BookingStatus
    refund: RefundInfo | None = None


class RescheduleInput(Frozen):
    """Move a confirmed booking to another slot, or (range bookings) to another range."""

    slot_id: uuid.UUID | None = None
    range: BookingRange | None = None
    actor: str


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
