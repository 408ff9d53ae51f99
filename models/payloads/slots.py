"""Inputs and results of ``activities.slots``: holding, moving and releasing a booking's time."""

from __future__ import annotations

import uuid
from datetime import datetime

from models.domain import BookingStatus
from models.payloads.common import BookingRange, Contact, Frozen, MaxActiveHolds, PaymentSpec
from models.refund_policy import RefundPolicy


class HoldSlotInput(Frozen):
    """Hold one unit of a slot's capacity, or a range of a range resource, for a booking."""

    booking_id: uuid.UUID
    customer_id: uuid.UUID
    slot_id: uuid.UUID | None = None
    range: BookingRange | None = None
    workflow_id: str
    payment: PaymentSpec
    contact: Contact | None = None
    max_active_holds: MaxActiveHolds = 3


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


class ReleaseSlotInput(Frozen):
    """Release a booking's hold and record its terminal status."""

    booking_id: uuid.UUID
    status: BookingStatus
    reason: str | None = None


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
