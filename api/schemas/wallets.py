"""Wallets: balances, the ledger, operator credits and top-ups (``api.routes.wallets``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.schemas.common import (
    GATEWAY_ENUM,
    GATEWAY_PATTERN,
    Amount,
    BookingIdOrNone,
    CheckoutUrl,
    CreatedAt,
    CustomerId,
    GatewayOrderId,
    Id,
    Money,
    PositiveMoney,
    Reason,
    ReturnUrl,
    SignedMoney,
    Strict,
)
from api.services.commands import CreateTopup, CreditWallet
from models.domain import TopupStatus


class WalletOut(BaseModel):
    """A customer's balances, one per currency."""

    customer_id: CustomerId = Field(description="The wallet's owner")
    balances: list[Money] = Field(
        description="One balance per currency", examples=[[{"amount": 150000, "currency": "INR"}]]
    )


class LedgerEntryOut(BaseModel):
    """One ledger entry; debits are negative."""

    id: int = Field(description="Its position in the ledger", examples=[42])
    amount: SignedMoney = Field(
        description="Signed: debits are negative", examples=[{"amount": -50000, "currency": "INR"}]
    )
    kind: str = Field(
        description="credit, debit, refund, topup or topup_refund", examples=["debit"]
    )
    booking_id: BookingIdOrNone = Field(description="The booking it belongs to, if any")
    reason: str | None = Field(description="Why", examples=["booking"])
    created_at: CreatedAt


class CreditIn(Strict):
    """Body of ``POST /v1/wallets/{customer_id}/credits``."""

    amount: PositiveMoney = Field(
        description="What to add", examples=[{"amount": 200000, "currency": "INR"}]
    )
    reason: Reason = Field(description="Why, for the ledger", examples=["welcome credit"])

    def to_command(self) -> CreditWallet:
        """The credit as the services take it."""
        return CreditWallet(amount=self.amount.as_amount(), reason=self.reason)


class CreditOut(BaseModel):
    """The credit's ledger entry and the balance after it."""

    entry: LedgerEntryOut = Field(description="The ledger entry")
    balance: Amount = Field(
        description="The balance after it", examples=[{"amount": 150000, "currency": "INR"}]
    )


class TopupIn(Strict):
    """Body of ``POST /v1/wallets/me/topups``: how much to add, paid through which gateway."""

    amount: PositiveMoney = Field(
        description="What the wallet receives once the payment is captured",
        examples=[{"amount": 100000, "currency": "INR"}],
    )
    provider: str = Field(
        pattern=GATEWAY_PATTERN,
        description="A configured gateway: sandbox, stripe, razorpay, paytm, payhere",
        examples=["sandbox"],
        json_schema_extra=GATEWAY_ENUM,
    )
    return_url: ReturnUrl = None

    def to_command(self) -> CreateTopup:
        """The top-up as the services take it."""
        return CreateTopup(
            amount=self.amount.as_amount(), provider=self.provider, return_url=self.return_url
        )


class TopupPaymentOut(BaseModel):
    """Where the customer pays the top-up."""

    provider: str = Field(
        examples=["sandbox"], description="The gateway", json_schema_extra=GATEWAY_ENUM
    )
    order_id: GatewayOrderId
    checkout_url: CheckoutUrl = Field(
        description="The gateway's checkout page, or an opaque reference for its SDK"
    )


class TopupOut(BaseModel):
    """A wallet top-up: AWAITING_PAYMENT until its capture credits the wallet (CREDITED)."""

    id: Id
    status: TopupStatus = Field(
        examples=["AWAITING_PAYMENT"], description="AWAITING_PAYMENT, CREDITED, EXPIRED or FAILED"
    )
    reason: str | None = Field(default=None, description="Why it FAILED", examples=[None])
    amount: Amount = Field(
        description="What the wallet receives", examples=[{"amount": 100000, "currency": "INR"}]
    )
    refunded: Amount = Field(
        description="Given back by an operator", examples=[{"amount": 0, "currency": "INR"}]
    )
    payment: TopupPaymentOut = Field(description="Where the customer pays")
    expires_at: datetime | None = Field(
        description="When the payment window closes (a later capture is still credited)",
        examples=["2026-12-02T10:25:30Z"],
    )
    created_at: CreatedAt
