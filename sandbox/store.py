"""Orders, payments and refunds, in memory under one ``asyncio.Lock``, written through to disk.

With a :class:`~sandbox.persistence.StateFile` every change is also written to
the data directory while the lock is held, and the state is read back at
start, so a restart loses nothing (without one, state lives for the process).
Every change that a real gateway would announce emits an :class:`Event`
through the ``emit`` callback, while still holding the lock, so events leave
in the order the changes happened.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.errors import SandboxError, SandboxErrorCode
from sandbox.persistence import StateFile
from sandbox.schemas import CreateOrderIn, EventType, OrderStatus, PaymentStatus, RefundIn

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """A gateway-style id: ``<prefix>_<24 hex>``."""
    return f"{prefix}_{secrets.token_hex(12)}"


def rfc3339(moment: datetime) -> str:
    """``2025-01-31T12:00:00.000000Z``: UTC, fixed microsecond precision, so the strings sort."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class Payment:
    """One payment attempt on an order."""

    id: str
    order_id: str
    amount: int
    currency: str
    status: PaymentStatus
    created_at: datetime
    amount_refunded: int = 0


@dataclass
class Order:
    """A merchant's request to be paid, identified to the merchant by its receipt."""

    id: str
    amount: int
    currency: str
    receipt: str
    notes: dict[str, str]
    created_at: datetime
    expires_at: datetime | None
    status: OrderStatus = "created"
    amount_paid: int = 0
    amount_refunded: int = 0
    payments: list[Payment] = field(default_factory=list)
    # Where the checkout sends the browser back (orders stored before it existed: none).
    return_url: str | None = None


@dataclass(frozen=True)
class Refund:
    """A processed refund of part or all of a captured payment."""

    id: str
    payment_id: str
    order_id: str
    amount: int
    currency: str
    reason: str | None
    created_at: datetime
    status: str = "processed"


@dataclass(frozen=True)
class Event:
    """A webhook event; ``body`` is exactly what is delivered."""

    id: str
    order_id: str
    body: dict[str, Any]


class Store:
    """The sandbox's orders, payments and refunds."""

    def __init__(
        self, *, clock: Clock, emit: Callable[[Event], None], state: StateFile | None = None
    ) -> None:
        self._clock = clock
        self._emit = emit
        self._state = state
        self._lock = asyncio.Lock()
        self._orders: dict[str, Order] = {}
        self._by_receipt: dict[str, str] = {}
        self._payments: dict[str, Payment] = {}
        self._refunds: dict[str, Refund] = {}
        # Idempotency-Key -> (the request it was first used with, the refund it made).
        self._refund_keys: dict[str, tuple[RefundIn, str]] = {}
        if state is not None:
            self._load(state)

    def _load(self, state: StateFile) -> None:
        """Read back what an earlier run of the sandbox wrote."""
        for payment in state.load("payment", Payment):
            self._payments[payment.id] = payment
        for _, body in state.load_raw("order"):
            order = Order(**{**body, "payments": []})
            order.payments = sorted(
                (p for p in self._payments.values() if p.order_id == order.id),
                key=lambda p: p.created_at,
            )
            self._orders[order.id] = order
            self._by_receipt[order.receipt] = order.id
        for refund in state.load("refund", Refund):
            self._refunds[refund.id] = refund
        for key, body in state.load_raw("refund_key"):
            self._refund_keys[key] = (RefundIn(**body["request"]), body["refund_id"])

    def _save(self, order: Order, payment: Payment | None = None) -> None:
        if self._state is None:
            return
        self._state.save("order", order.id, {**dataclasses.asdict(order), "payments": []})
        if payment is not None:
            self._state.save("payment", payment.id, payment)

    async def create_order(self, request: CreateOrderIn) -> tuple[Order, bool]:
        """Create an order, or return the one already made for this receipt.

        Returns:
            The order and whether it is new.

        Raises:
            SandboxError: ``RECEIPT_CONFLICT`` when the receipt exists with another
                amount or currency.
        """
        async with self._lock:
            existing_id = self._by_receipt.get(request.receipt)
            if existing_id is not None:
                existing = self._orders[existing_id]
                if (existing.amount, existing.currency) != (request.amount, request.currency):
                    raise SandboxError(
                        SandboxErrorCode.RECEIPT_CONFLICT,
                        f"Receipt {request.receipt!r} already has an order for another amount.",
                    )
                return existing, False
            order = Order(
                id=new_id("order"),
                amount=request.amount,
                currency=request.currency,
                receipt=request.receipt,
                notes=dict(request.notes or {}),
                created_at=self._clock(),
                expires_at=request.expires_at,
                return_url=request.return_url,
            )
            self._orders[order.id] = order
            self._by_receipt[order.receipt] = order.id
            self._save(order)
            return order, True

    def find_order(self, order_id: str) -> Order | None:
        """The order, or ``None``."""
        return self._orders.get(order_id)

    def get_order(self, order_id: str) -> Order:
        """The order.

        Raises:
            SandboxError: ``NOT_FOUND``.
        """
        order = self._orders.get(order_id)
        if order is None:
            raise SandboxError(SandboxErrorCode.NOT_FOUND, f"No order {order_id!r}.")
        return order

    async def pay(self, order_id: str, *, success: bool) -> Payment:
        """Record the customer's attempt: captured or failed, and announce it.

        Orders do not expire into a refusing state: like a real gateway, a payment
        that arrives after ``expires_at`` is still captured, and the merchant
        refunds it.

        Raises:
            SandboxError: ``NOT_FOUND``; ``ALREADY_PAID`` for any attempt on a paid order.
        """
        async with self._lock:
            order = self.get_order(order_id)
            if order.status == "paid":
                raise SandboxError(SandboxErrorCode.ALREADY_PAID, "The order is already paid.")
            payment = Payment(
                id=new_id("pay"),
                order_id=order.id,
                amount=order.amount,
                currency=order.currency,
                status="captured" if success else "failed",
                created_at=self._clock(),
            )
            order.payments.append(payment)
            self._payments[payment.id] = payment
            if success:
                order.status = "paid"
                order.amount_paid += payment.amount
            self._save(order, payment)
            self._announce(
                "payment.captured" if success else "payment.failed", order, payment, None
            )
            return payment

    def payments_since(self, since: datetime | None) -> list[Payment]:
        """Payments created at or after ``since`` (all when ``None``), oldest first."""
        chosen = [p for p in self._payments.values() if since is None or p.created_at >= since]
        return sorted(chosen, key=lambda p: p.created_at)

    def refunds_since(self, since: datetime | None) -> list[Refund]:
        """Refunds created at or after ``since`` (all when ``None``), oldest first."""
        chosen = [r for r in self._refunds.values() if since is None or r.created_at >= since]
        return sorted(chosen, key=lambda r: r.created_at)

    async def refund(self, request: RefundIn, idempotency_key: str) -> tuple[Refund, bool]:
        """Refund part of a captured payment, once per idempotency key.

        Returns:
            The refund and whether it is new.

        Raises:
            SandboxError: ``IDEMPOTENCY_KEY_REUSED`` when the key came with another
                request; ``NOT_FOUND``; ``PAYMENT_NOT_CAPTURED``;
                ``REFUND_EXCEEDS_CAPTURE`` when refunds would pass the payment amount.
        """
        async with self._lock:
            seen = self._refund_keys.get(idempotency_key)
            if seen is not None:
                first_request, refund_id = seen
                if first_request != request:
                    raise SandboxError(
                        SandboxErrorCode.IDEMPOTENCY_KEY_REUSED,
                        "This Idempotency-Key was used with a different request.",
                    )
                return self._refunds[refund_id], False
            payment = self._payments.get(request.payment_id)
            if payment is None:
                raise SandboxError(
                    SandboxErrorCode.NOT_FOUND, f"No payment {request.payment_id!r}."
                )
            if payment.status != "captured":
                raise SandboxError(
                    SandboxErrorCode.PAYMENT_NOT_CAPTURED, "Only captured payments can be refunded."
                )
            if payment.amount_refunded + request.amount > payment.amount:
                raise SandboxError(
                    SandboxErrorCode.REFUND_EXCEEDS_CAPTURE,
                    f"Refunds would exceed the capture: {payment.amount_refunded} of "
                    f"{payment.amount} already refunded.",
                )
            order = self._orders[payment.order_id]
            refund = Refund(
                id=new_id("rfnd"),
                payment_id=payment.id,
                order_id=order.id,
                amount=request.amount,
                currency=payment.currency,
                reason=request.reason,
                created_at=self._clock(),
            )
            payment.amount_refunded += refund.amount
            order.amount_refunded += refund.amount
            self._refunds[refund.id] = refund
            self._refund_keys[idempotency_key] = (request, refund.id)
            self._save(order, payment)
            if self._state is not None:
                self._state.save("refund", refund.id, refund)
                self._state.save(
                    "refund_key",
                    idempotency_key,
                    {"request": request.model_dump(), "refund_id": refund.id},
                )
            self._announce("refund.processed", order, payment, refund)
            return refund, True

    def _announce(
        self, kind: EventType, order: Order, payment: Payment, refund: Refund | None
    ) -> None:
        data: dict[str, Any] = {
            "order_id": order.id,
            "payment_id": payment.id,
            "receipt": order.receipt,
            "amount": refund.amount if refund else payment.amount,
            "currency": payment.currency,
            "status": refund.status if refund else payment.status,
        }
        if refund is not None:
            data["refund_id"] = refund.id
        event_id = new_id("evt")
        body = {
            "id": event_id,
            "type": kind,
            "created": int(self._clock().timestamp()),
            "data": data,
        }
        self._emit(Event(id=event_id, order_id=order.id, body=body))
