"""Inputs of ``activities.topups``: a wallet top-up's gateway order, credit, expiry and refund.

``create_topup_order`` returns :class:`~models.payloads.common.CreateOrderResult`
and ``refund_topup`` :class:`~models.payloads.common.RefundPaymentResult`, as
the booking's payment activities do.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from models.domain import TopupStatus
from models.payloads.common import Frozen


class CreateTopupOrderInput(Frozen):
    """Create the gateway order a customer pays to top up their wallet."""

    topup_id: uuid.UUID
    provider: str
    amount: int
    currency: str
    expires_at: datetime
    # The page the checkout returns to (topup_id and outcome are added to it).
    return_url: str | None = None


class CreditTopupInput(Frozen):
    """A capture of a top-up's order: credit the wallet once (key ``{topup_id}:credit``)."""

    topup_id: uuid.UUID
    provider: str
    order_id: str | None
    payment_id: str
    amount: int
    currency: str


class ExpireTopupInput(Frozen):
    """The top-up's payment window closed unpaid."""

    topup_id: uuid.UUID
    status: TopupStatus = TopupStatus.EXPIRED
    reason: str | None = None


class RefundTopupInput(Frozen):
    """Give a top-up's payment back through the gateway.

    ``from_wallet``: an operator's refund of a credited top-up, which first
    takes the amount back from the wallet (refused unless the balance covers
    it); otherwise money the top-up did not need (a second or mismatched
    capture), which never reached the wallet.
    """

    topup_id: uuid.UUID
    provider: str
    order_id: str | None
    payment_id: str
    amount: int
    currency: str
    reason: str
    from_wallet: bool = False
    actor: str | None = None
