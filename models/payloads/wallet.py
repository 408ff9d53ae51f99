"""Inputs of ``activities.wallet``: a booking's debit, and giving it back."""

from __future__ import annotations

import uuid

from models.payloads.common import Frozen, RefundForMove, RefundForOpsRequest


class ChargeWalletInput(Frozen):
    """Debit the customer's wallet for a held booking and confirm it."""

    booking_id: uuid.UUID
    customer_id: uuid.UUID
    amount: int
    currency: str


class RefundWalletInput(Frozen):
    """Give back what a booking's wallet debit took (nothing when there was no debit)."""

    booking_id: uuid.UUID
    # None: the whole debit (compensation); otherwise what the refund policy grants.
    amount: int | None = None
    reason: str = "booking compensation"
    move: RefundForMove = None
    ops: RefundForOpsRequest = None
