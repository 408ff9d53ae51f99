"""Wallet top-ups: the order, the credit (once), the expiry, and giving money back.

The credit and its gateway row commit together under the top-up's row lock,
keyed ``{topup_id}:credit``: however often a capture is delivered, and
whether it comes before or after the window closed, the wallet is credited
once. A refund asks the gateway with a key written first, as booking refunds
do; an operator's refund takes the money back from the wallet first, and the
non-negative balance refuses it when the wallet no longer holds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities.payments import gateway_failure
from core.db import SessionFactory
from core.metrics import gateway_timer
from integrations.gateways.base import GatewayError, PaymentGateway
from models.db import GatewayTransaction, Topup
from models.domain import GatewayTransactionKind, RefundStatus, TopupStatus
from models.errors import ErrorCode, business_failure
from models.payloads.common import CreateOrderResult, RefundPaymentResult
from models.payloads.topups import (
    CreateTopupOrderInput,
    CreditTopupInput,
    ExpireTopupInput,
    RefundTopupInput,
)
from models.return_urls import with_query
from store import keys
from store.ledger import append_ledger_entry, is_overdraft
from store.payments import record_capture

log = structlog.get_logger(__name__)

_UNPAID = (TopupStatus.PENDING.value, TopupStatus.AWAITING_PAYMENT.value)


class TopupActivities:
    """The side effects of a top-up's workflow."""

    def __init__(self, sessions: SessionFactory, gateways: Mapping[str, PaymentGateway]) -> None:
        self._sessions = sessions
        self._gateways = gateways

    def _gateway(self, provider: str) -> PaymentGateway:
        gateway = self._gateways.get(provider)
        if gateway is None:
            raise business_failure(
                ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE, f"provider {provider!r} is not configured"
            )
        return gateway

    @activity.defn(name="create_topup_order")
    async def create_topup_order(self, request: CreateTopupOrderInput) -> CreateOrderResult:
        """Create the top-up's order (idempotent on its id) and mark it AWAITING_PAYMENT."""
        gateway = self._gateway(request.provider)
        try:
            with gateway_timer(request.provider, "create_order"):
                order = await gateway.create_order(
                    booking_id=request.topup_id,
                    amount=request.amount,
                    currency=request.currency,
                    idempotency_key=f"{request.topup_id}:order",
                    expires_at=request.expires_at,
                    return_url=request.return_url
                    and with_query(request.return_url, topup_id=str(request.topup_id)),
                )
        except GatewayError as exc:
            raise gateway_failure(exc, request.provider, "order", request.topup_id) from None
        async with self._sessions() as session:
            await session.execute(
                update(Topup)
                .where(Topup.id == request.topup_id, Topup.status == TopupStatus.PENDING.value)
                .values(
                    status=TopupStatus.AWAITING_PAYMENT.value,
                    order_id=order.order_id,
                    checkout_url=order.checkout_url,
                    expires_at=request.expires_at,
                    updated_at=datetime.now(UTC),
                )
            )
            await session.commit()
        return CreateOrderResult(order_id=order.order_id, checkout_url=order.checkout_url)

    @activity.defn(name="credit_topup")
    async def credit_topup(self, request: CreditTopupInput) -> bool:
        """Record the capture and credit the wallet, once; True when this call credited."""
        async with self._sessions() as session:
            topup = await session.get(Topup, request.topup_id, with_for_update=True)
            if topup is None:
                raise business_failure(ErrorCode.NOT_FOUND, "no such top-up")
            await record_capture(
                session,
                topup,
                request.provider,
                request.order_id,
                request.payment_id,
                request.amount,
                request.currency,
            )
            credited = await append_ledger_entry(
                session,
                customer_id=topup.customer_id,
                currency=topup.currency,
                amount=topup.amount,
                kind="topup",
                idempotency_key=keys.topup_credit(topup.id),
                reason=f"top-up via {request.provider}",
                topup_id=topup.id,
            )
            topup.status = TopupStatus.CREDITED.value
            topup.reason = None
            topup.payment_id = topup.payment_id or request.payment_id
            topup.updated_at = datetime.now(UTC)
            await session.commit()
        if credited:
            log.info("topup.credited", topup_id=str(request.topup_id), amount=request.amount)
        return credited

    @activity.defn(name="expire_topup")
    async def expire_topup(self, request: ExpireTopupInput) -> None:
        """End an unpaid top-up (EXPIRED, or FAILED with its reason); a credited one stays."""
        async with self._sessions() as session:
            await session.execute(
                update(Topup)
                .where(
                    Topup.id == request.topup_id,
                    Topup.status.in_(
                        [TopupStatus.PENDING.value, TopupStatus.AWAITING_PAYMENT.value]
                    ),
                )
                .values(
                    status=request.status.value,
                    reason=request.reason,
                    updated_at=datetime.now(UTC),
                )
            )
            await session.commit()

    @activity.defn(name="refund_topup")
    async def refund_topup(self, request: RefundTopupInput) -> RefundPaymentResult:
        """Refund one of a top-up's payments through its gateway, once per payment.

        An operator's refund (``from_wallet``) first takes the amount back from
        the wallet in the same transaction as the refund request: refused with
        INSUFFICIENT_FUNDS when the balance no longer covers it.
        """
        key = keys.topup_refund(request.topup_id, request.payment_id)
        async with self._sessions() as session:
            topup = await session.get(Topup, request.topup_id, with_for_update=True)
            if topup is None:
                raise business_failure(ErrorCode.NOT_FOUND, "no such top-up")
            await record_capture(
                session,
                topup,
                request.provider,
                request.order_id,
                request.payment_id,
                request.amount,
                request.currency,
            )
            asked = (
                await session.execute(
                    select(GatewayTransaction.amount).where(
                        GatewayTransaction.idempotency_key == key
                    )
                )
            ).scalar_one_or_none()
            if asked is None:
                asked = request.amount
                try:
                    await self._request_refund(session, topup, request, key)
                except IntegrityError as exc:
                    if is_overdraft(exc):
                        raise business_failure(
                            ErrorCode.INSUFFICIENT_FUNDS,
                            "the wallet no longer holds the top-up's amount",
                        ) from None
                    raise
            await session.commit()
        try:
            with gateway_timer(request.provider, "refund"):
                refund = await self._gateway(request.provider).refund(
                    order_id=request.order_id or "",
                    payment_id=request.payment_id,
                    amount=asked,
                    currency=request.currency,
                    idempotency_key=key,
                )
        except GatewayError as exc:
            raise gateway_failure(exc, request.provider, "refund", request.topup_id) from None
        status = (
            RefundStatus.PROCESSED
            if refund.status in ("processed", "succeeded")
            else RefundStatus.PENDING
        )
        async with self._sessions() as session:
            await session.execute(
                update(GatewayTransaction)
                .where(GatewayTransaction.idempotency_key == key)
                .values(external_id=refund.refund_id, status=status, updated_at=datetime.now(UTC))
            )
            await session.commit()
        log.info("topup.refunded", topup_id=str(request.topup_id), status=status)
        return RefundPaymentResult(refund_id=refund.refund_id, status=status, amount=asked)

    @staticmethod
    async def _request_refund(
        session: AsyncSession, topup: Topup, request: RefundTopupInput, key: str
    ) -> None:
        """The refund request row, and (an operator's refund) the wallet debit, before the call."""
        if request.from_wallet:
            await append_ledger_entry(
                session,
                customer_id=topup.customer_id,
                currency=topup.currency,
                amount=-request.amount,
                kind="topup_refund",
                idempotency_key=key,
                reason=request.reason,
                actor=request.actor,
                topup_id=topup.id,
            )
            topup.refunded_amount += request.amount
            topup.updated_at = datetime.now(UTC)
        session.add(
            GatewayTransaction(
                topup_id=topup.id,
                provider=request.provider,
                kind=GatewayTransactionKind.REFUND,
                amount=request.amount,
                currency=request.currency,
                order_id=request.order_id,
                payment_id=request.payment_id,
                status=RefundStatus.REQUESTED,
                reason=request.reason,
                idempotency_key=key,
            )
        )
        await session.flush()
