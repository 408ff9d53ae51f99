"""Inputs and results of ``activities.meetings``: a booking's meeting link and its state."""

from __future__ import annotations

import uuid
from datetime import datetime

from models.domain import MeetingStatus
from models.payloads.common import Frozen


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


class RecordMeetingAlertInput(Frozen):
    """Record a meeting's state on the booking."""

    booking_id: uuid.UUID
    status: MeetingStatus
    alert: str | None = None


class CancelMeetingInput(Frozen):
    """Cancel a booking's meeting at its provider."""

    booking_id: uuid.UUID
