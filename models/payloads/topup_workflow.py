"""The top-up workflow's own shapes: start input, ``create`` and ``refund`` updates, ``state``."""

from __future__ import annotations

import uuid

from models.domain import TopupStatus
from models.payloads.common import BookingPolicy, Frozen, Idle


class TopupInput(Frozen):
    """Start input of :class:`workflows.topup.TopupWorkflow`."""

    topup_id: uuid.UUID
    customer_id: uuid.UUID
    amount: int
    currency: str
    provider: str
    policy: BookingPolicy = BookingPolicy()
    # The frontend page the checkout sends the browser back to.
    return_url: str | None = None


class TopupDecision(Frozen):
    """Answer of a top-up's ``create`` update: its order to pay, or why there is none."""

    topup_id: uuid.UUID
    status: TopupStatus
    reason: str | None = None


class TopupRefundRequest(Frozen):
    """An operator refunds a credited top-up (the wallet must still hold the amount)."""

    actor: str
    reason: str


class TopupState(Frozen):
    """What a top-up's workflow knows now; answered by its ``state`` query."""

    topup_id: uuid.UUID
    status: TopupStatus
    idle: Idle = False
