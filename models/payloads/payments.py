"""Inputs and results of ``activities.payments``: a booking's gateway order, payment and refunds.

``create_order`` returns :class:`~models.payloads.common.CreateOrderResult` and
``refund_payment`` :class:`~models.payloads.common.RefundPaymentResult`, shapes
the top-up activities return too.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from models.payloads.common import Frozen, RefundForMove, RefundForOpsRequest


class CreateOrderInput(Frozen):
    """Create the gateway order a customer pays for a held booking."""

    booking_id: uuid.UUID
    provider: str
    amount: int
    currency: str
    expires_at: datetime
    # The page the checkout returns to (booking_id and outcome are added to it).
    return_url: str | None = None


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
    move: RefundForMove = None
    ops: RefundForOpsRequest = None


class RecordDeclineInput(Frozen):
    """A gateway reported a failed payment attempt for this booking."""

    booking_id: uuid.UUID
    provider: str
    event_id: str
    payment_id: str | None = None


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


class MarkRefundProcessedInput(Frozen):
    """A gateway reported a refund of this booking as processed."""

    booking_id: uuid.UUID
    provider: str
    payment_id: str | None


class CancelOrderInput(Frozen):
    """Stop an unpaid order where the gateway allows it."""

    booking_id: uuid.UUID
    provider: str
    order_id: str
