"""The booking saga's data: its state, the compensation stack's entries, its small rules.

Plain data and pure functions, kept out of :mod:`workflows.booking` so that the
workflow sandbox, which executes a workflow's module afresh for every new
workflow, executes them once per worker (the worker passes this module through;
see docs/determinism.md). Nothing here may hold state between workflows or read
the clock, the network or randomness.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from models.domain import (
    AttentionKind,
    BookingStatus,
    MeetingStatus,
    NotificationKind,
    NotificationStatus,
    PaymentMethod,
)
from models.payloads import (
    BookingInput,
    CancelResult,
    CreateResult,
    HoldSlotInput,
    PaymentEvent,
    RefundInfo,
    SlotHold,
)
from workflows.reminders import Reminder


class UndoKind(StrEnum):
    """What a compensation undoes."""

    RELEASE_SLOT = "release_slot"
    CANCEL_ORDER = "cancel_order"
    REFUND_WALLET = "refund_wallet"
    REFUND_CAPTURE = "refund_capture"
    CANCEL_MEETING = "cancel_meeting"


@dataclass(frozen=True)
class Undo:
    """One entry of the compensation stack; a capture's refund names the payment."""

    kind: UndoKind
    payment_id: str | None = None
    order_id: str | None = None
    amount: int = 0
    currency: str = ""


@dataclass(frozen=True)
class PendingStep:
    """A step that must happen, past its in-line bound: tried again later, shown to operators."""

    what: str
    attention: AttentionKind
    run: Callable[[], Awaitable[object]]


@dataclass
class SagaState:
    """Everything one booking workflow knows; handlers and steps read and write only this."""

    status: BookingStatus | None = None
    # An ErrorCode of a refusal, or a models.domain.Reason (expired, cancelled by whom).
    reason: str | None = None
    decision: CreateResult | None = None
    hold: SlotHold | None = None
    undo: list[Undo] = field(default_factory=list)
    order_id: str | None = None
    deadline: datetime | None = None
    meeting: MeetingStatus = MeetingStatus.PENDING
    meeting_retry_requested: bool = False
    # Operator retries asked through the API (each one audited under its own key).
    meeting_retries: int = 0
    # Operator requests to retry the pending steps now (numbers their audit rows).
    pending_retries: int = 0
    events: deque[PaymentEvent] = field(default_factory=deque)
    seen_events: set[str] = field(default_factory=set)
    # Gateway payments already confirmed or refunded: a repeated capture is ignored.
    payments: set[str] = field(default_factory=set)
    # Captures that did not match the order, by payment id, held while the booking waits.
    suspects: dict[str, Undo] = field(default_factory=dict)
    moves: int = 0
    # A move whose meeting link and mail are still to do (the main loop does them),
    # and what it moved: the price difference and any refund of it.
    moved_to: int | None = None
    move_money: tuple[int, RefundInfo | None] = (0, None)
    # The calendar invite's SEQUENCE, raised by every change of the event.
    calendar_sequence: int = 0
    # The confirmation mail's outcome when the decision step sent it (None: not yet tried).
    confirmation: NotificationStatus | None = None
    # Reminders sent or skipped, and since when the current set counts (confirm, move).
    reminders_done: set[Reminder] = field(default_factory=set)
    reminders_since: datetime | None = None
    cancelling: bool = False
    cancel_result: CancelResult | None = None
    # True while nothing is in flight: the saga's steps are done and it waits for events.
    idle: bool = False
    # When the workflow may close: the end of the slot, or of the late-payment window.
    close_at: datetime | None = None
    # The current details in words (without the pending-steps suffix).
    details: str = ""
    # What needs a person (the BookingAttention search attribute), and why, in words.
    attention: set[AttentionKind] = field(default_factory=set)
    attention_note: str = ""
    # Must-happen steps past their bound; the workflow stays open until they are done.
    pending: list[PendingStep] = field(default_factory=list)
    pending_rounds: int = 0
    next_retry_at: datetime | None = None
    retry_pending_requested: bool = False

    def current_hold(self) -> SlotHold:
        """The hold, once the hold (or the wallet decision) has made it."""
        assert self.hold is not None
        return self.hold


# What the customer is told when the booking ends this way.
ENDING_NOTICE = {
    BookingStatus.FAILED: NotificationKind.BOOKING_FAILED,
    BookingStatus.EXPIRED: NotificationKind.BOOKING_EXPIRED,
    BookingStatus.CANCELLED: NotificationKind.BOOKING_CANCELLED,
}


REFUNDS = (UndoKind.REFUND_WALLET, UndoKind.REFUND_CAPTURE)


def not_movable(status: BookingStatus | None) -> str:
    """Why a booking in ``status`` cannot move."""
    return f"only a CONFIRMED booking can be moved; this one is {status}"


def hold_request(request: BookingInput, workflow_id: str) -> HoldSlotInput:
    """What the hold step (or the wallet decision) is asked for this booking."""
    return HoldSlotInput(
        booking_id=request.booking_id,
        customer_id=request.customer_id,
        slot_id=request.slot_id,
        range=request.range,
        workflow_id=workflow_id,
        payment=request.payment,
        contact=request.contact,
        max_active_holds=request.policy.max_active_holds,
    )


def late_payment_window(request: BookingInput) -> timedelta:
    """How long a booking that ended listens for late money: only gateway money can come late."""
    if request.payment.method != PaymentMethod.GATEWAY:
        return timedelta(0)
    return timedelta(seconds=request.policy.late_payment_window_seconds)


def provider_of(request: BookingInput) -> str:
    """The gateway a booking pays through (the sandbox when none is named)."""
    return request.payment.provider or "sandbox"
