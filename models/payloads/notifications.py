"""Input and result of ``activities.notifications``."""

from __future__ import annotations

import uuid

from models.domain import NotificationKind, NotificationStatus
from models.payloads.common import Frozen, RefundInfo

# The ``about`` prefix of the PAYMENT_REFUNDED mail sent when an owed refund goes through.
OWED_REFUND_DONE = "owed-refund-done:"


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
