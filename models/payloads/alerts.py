"""Inputs of ``activities.alerts``: what puts a booking in front of operators, and takes it off."""

from __future__ import annotations

import uuid

from models.domain import AttentionKind
from models.payloads.common import Frozen


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
