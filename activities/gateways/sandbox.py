"""The in-project sandbox gateway: its HTTP API and its signed webhooks.

    SandboxGateway   orders and refunds through the sandbox's ``/v1`` API
    SandboxVerifier  ``Sandbox-Signature`` (core.signing's ``t=…,v1=…``), events from the body

Orders are idempotent on their receipt (the booking id): a retried create after a
lost answer gets the order the first attempt made. Sandbox orders cannot be
cancelled; they expire at ``expires_at``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from activities.gateways.base import (
    EventType,
    GatewayError,
    GatewayEvent,
    GatewayOrder,
    GatewayRefund,
)
from core.signing import TOLERANCE_SECONDS, verify_header

__all__ = ["REFUND_REASON", "SIGNATURE_HEADER", "SandboxGateway", "SandboxVerifier"]

SIGNATURE_HEADER = "Sandbox-Signature"
# The interface carries no reason; every engine refund is on behalf of a booking.
REFUND_REASON = "booking_refund"

_EVENT_TYPES: dict[str, EventType] = {
    "payment.captured": "payment.captured",
    "payment.failed": "payment.failed",
    "refund.processed": "refund.processed",
}
# A machine-readable error code; anything else from the gateway stays out of messages.
_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


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
    ) -> GatewayOrder:
        """Create the booking's order, or get back the one an earlier attempt created.

        Args:
            booking_id: The booking; its id is the order's receipt, which the sandbox
                deduplicates on (so ``idempotency_key`` is not sent).
            amount: Minor units.
            currency: ISO 4217 code.
            idempotency_key: Unused: the receipt already makes the call idempotent.
            expires_at: When the sandbox stops accepting payment (timezone-aware).

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
        order = await self._post("create_order", "/v1/orders", body)
        order_id, status = _text(order, "id"), _text(order, "status")
        checkout_url = _text(order, "checkout_url")
        got_amount, got_currency = _integer(order, "amount"), _text(order, "currency")
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
        refund_id, got_amount = _text(refund, "id"), _integer(refund, "amount")
        got_currency, status = _text(refund, "currency"), _text(refund, "status")
        if refund_id is None or got_amount is None or got_currency is None or status is None:
            raise GatewayError("sandbox refund answered without a refund", retryable=True)
        return GatewayRefund(
            refund_id=refund_id, amount=got_amount, currency=got_currency.upper(), status=status
        )

    async def _post(
        self,
        operation: str,
        path: str,
        body: dict[str, Any],
        *,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        try:
            response = await self._client.post(
                f"{self._base_url}{path}", json=body, headers={**self._headers, **(headers or {})}
            )
        except httpx.RequestError as exc:
            # The class name only: an exception's text can carry the request.
            raise GatewayError(
                f"sandbox {operation} failed: {type(exc).__name__}", retryable=True
            ) from None
        status = response.status_code
        if status >= 400:
            raise GatewayError(
                f"sandbox {operation} answered {status} ({_error_code(response) or 'no code'})",
                retryable=status == 429 or status >= 500,
                status_code=status,
            )
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise GatewayError(f"sandbox {operation} answered without JSON", retryable=True)
        return answer


class SandboxVerifier:
    """Verifies ``Sandbox-Signature`` against any current secret; parses sandbox events."""

    provider = "sandbox"

    def __init__(self, secrets: Sequence[str]) -> None:
        if not secrets:
            raise ValueError("the sandbox webhook verifier needs at least one secret")
        self._secrets = tuple(secrets)

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: float) -> None:
        """Raise InvalidSignature unless a ``v1`` matches and ``t`` is within 300 s of now.

        Args:
            body: The raw request body.
            headers: The request headers (looked up case-insensitively).
            now: The current unix time.
        """
        verify_header(
            _header(headers, SIGNATURE_HEADER),
            body,
            self._secrets,
            now=now,
            tolerance=TOLERANCE_SECONDS,
        )

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
        event = json.loads(body)
        if not isinstance(event, dict):
            raise ValueError("sandbox webhook body is not an object")
        event_id, raw_type = _text(event, "id"), _text(event, "type")
        if event_id is None or raw_type is None:
            raise ValueError("sandbox webhook has no event id or type")
        created = _integer(event, "created")
        occurred_at = datetime.fromtimestamp(created, tz=UTC) if created is not None else None
        data = event.get("data")
        reference = _text(data, "receipt") if isinstance(data, dict) else None
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
        order_id, payment_id = _text(data, "order_id"), _text(data, "payment_id")
        amount, currency = _integer(data, "amount"), _text(data, "currency")
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


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    return value


def _text(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def _integer(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    code = error.get("code") if isinstance(error, dict) else error
    if code is None:
        code = body.get("code")
    return code if isinstance(code, str) and _CODE.fullmatch(code) else None
