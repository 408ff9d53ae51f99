"""Operator actions on a booking: the booking workflow serves them, then the ops workflow.

:class:`BookingOpsInput` starts the workflow that serves them once the booking
has closed; the refund and the repeated notification are updates of both.
"""

from __future__ import annotations

import uuid

from models.domain import BookingStatus, NotificationKind, NotificationStatus
from models.payloads.common import BookingPolicy, Frozen, OpsRequestId, RefundInfo


class BookingOpsInput(Frozen):
    """Start input of the workflow that serves operator actions on a closed booking."""

    booking_id: uuid.UUID
    policy: BookingPolicy = BookingPolicy()


class OpsRefundInput(Frozen):
    """An operator refunds some (``amount``) or all of what is left of a booking's payment."""

    request_id: OpsRequestId
    actor: str
    reason: str
    amount: int | None = None


class OpsRefundResult(Frozen):
    """The refund an operator's request made."""

    booking_id: uuid.UUID
    refund: RefundInfo


class ResendNotificationInput(Frozen):
    """An operator sends one of a booking's notifications again."""

    request_id: OpsRequestId
    actor: str
    kind: NotificationKind
    note: str | None = None


class ResendNotificationResult(Frozen):
    """How the repeated notification went."""

    booking_id: uuid.UUID
    kind: NotificationKind
    status: NotificationStatus


class RecoverInput(Frozen):
    """An operator finishes a booking whose workflow was terminated (or otherwise lost)."""

    request_id: OpsRequestId
    actor: str
    note: str


class RecoverResult(Frozen):
    """How the booking was finished: its status now, and the refund it was given."""

    booking_id: uuid.UUID
    status: BookingStatus
    refund: RefundInfo | None = None
    already: bool = False
