"""What the recovery of a booking without its workflow reads first (activities/recovery.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from models.domain import BookingStatus, MeetingStatus
from models.payloads.common import Frozen


class RecoveryPlanInput(Frozen):
    """Read the booking an operator recovers."""

    booking_id: uuid.UUID


class RecoveryPlan(Frozen):
    """The booking as its row says: what is left to finish."""

    booking_id: uuid.UUID
    status: BookingStatus
    provider: str | None
    order_id: str | None
    meeting_status: MeetingStatus
    ends_at: datetime
