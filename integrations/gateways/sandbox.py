"""The in-project sandbox gateway: its HTTP API and its signed webhooks.

    SandboxGateway   orders and refunds through the sandbox's ``/v1`` API
    SandboxVerifier  ``Sandbox-Signature`` (core.signing's ``t=…,v1=…``), events from the body

Orders are idempotent on their receipt (the booking id): a retried create after a
lost answer gets the order the first attempt made. Sandbox orders cannot be
cancelled; they expire at ``expires_at``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from integrations.gateways._common import (
    TimestampedVerifier,
    call_json,
    decoded,
    event_object,
    integer,
    iso_time,
    list_items,
    record,
    refund_from,
    safe_code,
    text,
    unix_time,
)
from integrations.gateways.base import (
    EventType,
    GatewayError,
    GatewayEvent,
    GatewayOrder,
    GatewayRecord,
    GatewayRefund,
)

__all__ = ["REFUND_REASON", "SIGNATURE_HEADER", "SandboxGateway", "SandboxVerifier"]

SIGNATURE_HEADER = "Sandbox-Signature"
# The interface carries no reason; every engine refund is on behalf of a booking.
REFUND_REASON = "booking_refund"

_EVENT_TYPES: dict[str, EventType] = {
    "payment.captured": "payment.captured",
    "payment.failed": "payment.failed",
    "refund.processed": "refund.processed",
}


class SandboxGateway:
    """Orders and refunds on the sandbox gateway, authenticated with a Bearer API key."""

    name = "sandbox"

    def __init__(self, client: httpx.AsyncClient, base_url: str, api_key: str) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}

    async def create_order(
        self,
        *,
        booking_id: uuid.UUID,
        amount: int,
        currency: str,
        idempotency_key: str,
        expires_at: datetime,
        return_url: str | None = None,
    ) -> GatewayOrder:
        """Create the booking's order, or get back the one an earlier attempt created.

        Args:
            booking_id: The booking; its id is the order's receipt, which the sandbox
                deduplicates on (so ``idempotency_key`` is not sent).
            amount: Minor units.
            currency: ISO 4217 code.
            idempotency_key: Unused: the receipt already makes the call idempotent.
            expires_at: When the sandbox stops accepting payment (timezone-aware).
            return_url: Where the checkout sends the browser after a payment or a
                decline (with ``outcome`` added); stored with the order.

        Returns:
            The order with the sandbox's hosted checkout page.

        Raises:
            GatewayError: The call failed, or the booking's order has another amount.
        """
        if expires_at.utcoffset() is None:
            raise GatewayError("order expiry must be timezone-aware", retryable=False)
        body = {
            "amount": amount,
            "currency": currency.upper(),
            "receipt": str(booking_id),
            "expires_at": expires_at.isoformat(),
        }
        if return_url is not None:
            body["return_url"] = return_url
        order = await self._post("create_order", "/v1/orders", body)
        order_id, status = text(order, "id"), text(order, "status")
        checkout_url = text(order, "checkout_url")
        got_amount, got_currency = integer(order, "amount"), text(order, "currency")
        if (
            order_id is None
            or status is None
            or checkout_url is None
            or got_amount is None
            or got_currency is None
        ):
            raise GatewayError("sandbox create_order answered without an order", retryable=True)
        if got_amount != amount or got_currency.upper() != currency.upper():
            # The receipt found an order made for other terms: never take payment on it.
            raise GatewayError(
                "sandbox order for this booking has a different amount", retryable=False
            )
        return GatewayOrder(
            provider=self.name,
            order_id=order_id,
            amount=got_amount,
            currency=got_currency.upper(),
            checkout_url=checkout_url,
            status=status,
        )

    async def cancel_order(self, order_id: str) -> bool:
        """Return False without a call: sandbox orders cannot be cancelled, only expire.

        Args:
            order_id: The order (unused).
        """
        return False

    async def refund(
        self,
        *,
        order_id: str,
        payment_id: str,
        amount: int,
        currency: str,
        idempotency_key: str,
    ) -> GatewayRefund:
        """Refund ``amount`` of a payment, once per ``idempotency_key``.

        Args:
            order_id: The order paid (the sandbox finds it from the payment).
            payment_id: The payment to refund.
            amount: Minor units.
            currency: ISO 4217 code (the payment's; not sent).
            idempotency_key: Sent as ``Idempotency-Key``.

        Returns:
            The refund as the sandbox reports it.

        Raises:
            GatewayError: The call failed.
        """
        body = {"payment_id": payment_id, "amount": amount, "reason": REFUND_REASON}
        refund = await self._post(
            "refund", "/v1/refunds", body, headers={"Idempotency-Key": idempotency_key}
        )
        return refund_from(refund, self.name)

    async def list_transactions(self, since: datetime) -> list[GatewayRecord]:
        """Captured payments and refunds made at or after ``since`` (the sandbox's list API).

        Raises:
            GatewayError: A call failed.
        """
        params = {"since": since.isoformat()}
        payments = await self._get("list_transactions", "/v1/payments", params)
        refunds = await self._get("list_transactions", "/v1/refunds", params)
        listed = [
            record(
                "capture",
                text(p, "id"),
                text(p, "id"),
                text(p, "order_id"),
                integer(p, "amount"),
                text(p, "currency"),
                iso_time(p, "created_at"),
            )
            for p in list_items(payments)
            if p.get("status") == "captured"
        ] + [
            record(
                "refund",
                text(r, "id"),
                text(r, "payment_id"),
                text(r, "order_id"),
                integer(r, "amount"),
                text(r, "currency"),
                iso_time(r, "created_at"),
            )
            for r in list_items(refunds)
        ]
        return [r for r in listed if r is not None]

    async def _get(self, operation: str, path: str, params: dict[str, str]) -> dict[str, Any]:
        request = self._client.get(f"{self._base_url}{path}", params=params, headers=self._headers)
        return await call_json(self.name, operation, request, _error_code)

    async def _post(
        self,
        operation: str,
        path: str,
        body: dict[str, Any],
        *,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        request = self._client.post(
            f"{self._base_url}{path}", json=body, headers={**self._headers, **(headers or {})}
        )
        return await call_json(self.name, operation, request, _error_code)


class SandboxVerifier(TimestampedVerifier):
    """Verifies ``Sandbox-Signature`` against any current secret; parses sandbox events."""

    provider = "sandbox"
    signature_header = SIGNATURE_HEADER

    def parse(self, body: bytes, headers: Mapping[str, str]) -> GatewayEvent:
        """The event in a verified body.

        Args:
            body: The raw, verified body.
            headers: The request headers (unused: everything is in the body).

        Returns:
            The event, with the order's receipt (the booking id) as its reference;
            types other than the three the engine acts on become ``"other"`` with no
            order, payment or amount.

        Raises:
            ValueError: The body is not an event, or a known event lacks its fields.
        """
        event = event_object(body, self.provider)
        event_id, raw_type = text(event, "id"), text(event, "type")
        if event_id is None or raw_type is None:
            raise ValueError("sandbox webhook has no event id or type")
        occurred_at = unix_time(event, "created")
        data = event.get("data")
        reference = text(data, "receipt") if isinstance(data, dict) else None
        kind = _EVENT_TYPES.get(raw_type)
        if kind is None:
            return GatewayEvent(
                provider=self.provider,
                event_id=event_id,
                type="other",
                raw_type=raw_type,
                order_id=None,
                payment_id=None,
                amount=None,
                currency=None,
                occurred_at=occurred_at,
                reference=reference,
            )
        if not isinstance(data, dict):
            raise ValueError(f"sandbox {raw_type} event has no data")
        order_id, payment_id = text(data, "order_id"), text(data, "payment_id")
        amount, currency = integer(data, "amount"), text(data, "currency")
        if order_id is None:
            raise ValueError(f"sandbox {raw_type} event has no order id")
        if kind != "payment.failed" and (payment_id is None or amount is None or currency is None):
            raise ValueError(f"sandbox {raw_type} event lacks payment id, amount or currency")
        return GatewayEvent(
            provider=self.provider,
            event_id=event_id,
            type=kind,
            raw_type=raw_type,
            order_id=order_id,
            payment_id=payment_id,
            amount=amount,
            currency=currency.upper() if currency else None,
            occurred_at=occurred_at,
            reference=reference,
        )


def _error_code(response: httpx.Response) -> str | None:
    """The sandbox's error code: ``error.code``, a string ``error``, or a top-level ``code``."""
    body = decoded(response)
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    code = error.get("code") if isinstance(error, dict) else error
    if code is None:
        code = body.get("code")
    return safe_code(code)
