"""Input of ``activities.audit``."""

from __future__ import annotations

import uuid

from models.payloads.common import Frozen


class RecordAuditInput(Frozen):
    """One audit record: who did what to which booking, and why."""

    booking_id: uuid.UUID
    actor: str
    action: str
    reason: str | None = None
