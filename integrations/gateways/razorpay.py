"""Razorpay: orders and refunds over the REST API, and ``X-Razorpay-Signature`` webhooks.

    RazorpayGateway   JSON calls with HTTP Basic auth (key id, key secret)
    RazorpayVerifier  hex HMAC-SHA256 of the raw body, events mapped to the engine's

Razorpay orders take no idempotency key and are not documented to refuse a
repeated receipt, so :meth:`RazorpayGateway.create_order` first looks the
booking's order up by receipt (the booking id) and only creates one when there
is none: a retry after a lost answer finds the first order instead of making a
second one the customer could also pay.

Razorpay's checkout is Checkout.js (or a hosted form reached by a POST), opened
with the key id and the order id; there is no page to link to. ``checkout_url``
is therefore the opaque reference ``razorpay:order:{id}`` (see
:func:`checkout_reference`) that the frontend hands to Checkout.js with its
(public) key id.

Razorpay's webhook signature has no timestamp, so there is no freshness check:
replays are stopped by deduplicating on ``X-Razorpay-Event-Id``, which
:meth:`RazorpayVerifier.parse` returns as the event id. That header is not
covered by the signature, so whoever acts on events must also be idempotent on
the payment (a captured payment confirms a booking once, whatever its event id).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from integrations.gateways._common import (
    call_json,
    error_object,
    event_object,
    header,
    integer,
    list_items,
    record,
    refund_from,
    require_secrets,
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
    InvalidSignature,
)

__all__ = [
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "RazorpayGateway",
    "RazorpayVerifier",
    "checkout_reference",
]

SIGNATURE_HEADER = "X-Razorpay-Signature"
EVENT_ID_HEADER = "X-Razorpay-Event-Id"
# Razorpay's documented maximum receipt length.
_RECEIPT_MAX = 40
# Reconciliation lists 100 a page, at most this many pages per list.
PAGE = 100
MAX_PAGES = 50


def checkout_reference(order_id: str) -> str:
    """What a Razorpay order carries as ``checkout_url``: the order to open Checkout.js with.

    Args:
        order_id: The Razorpay order id (``order_…``).

    Returns:
        ``"razorpay:order:"`` followed by the id.
    """
    return f"razorpay:order:{order_id}"


class RazorpayGateway:
    """Orders and refunds, authenticated with HTTP Basic auth."""

    name = "razorpay"

    def __init__(
        self, client: httpx.AsyncClient, api_base: str, key_id: str, key_secret: str
    ) -> None:
        self._client = client
        self._api_base = api_base.rstrip("/")
        self._auth = httpx.BasicAuth(key_id, key_secret)

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
        """Find the booking's order by receipt, or create it.

        Args:
            booking_id: The receipt (and ``notes.booking_id``).
            amount: Minor units.
            currency: ISO 4217 code.
            idempotency_key: Unused: Razorpay orders take none; the receipt lookup
                makes the call idempotent instead.
            expires_at: Unused: Razorpay orders do not expire; the booking stops
                waiting for payment at its deadline.
            return_url: Sent as ``notes.callback_url``, for Checkout.js's
                ``callback_url`` (Razorpay calls it after a payment or a failure, so
                no ``outcome`` is added).

        Returns:
            The order, with :func:`checkout_reference` as its ``checkout_url``.

        Raises:
            GatewayError: A call failed.
        """
        receipt = str(booking_id)[:_RECEIPT_MAX]
        currency = currency.upper()
        found = await self._call("create_order", "GET", "/v1/orders", params={"receipt": receipt})
        items = found.get("items")
        for item in items if isinstance(items, list) else []:
            if (
                isinstance(item, dict)
                and item.get("receipt") == receipt
                and integer(item, "amount") == amount
                and item.get("currency") == currency
            ):
                return self._order(item)
        notes = {"booking_id": str(booking_id)}
        if return_url is not None:
            notes["callback_url"] = return_url
        body = {"amount": amount, "currency": currency, "receipt": receipt, "notes": notes}
        return self._order(await self._call("create_order", "POST", "/v1/orders", json=body))

    async def cancel_order(self, order_id: str) -> bool:
        """Return False without a call: Razorpay orders cannot be cancelled.

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
        """Refund ``amount`` of a captured payment, once per ``idempotency_key``.

        Args:
            order_id: The order paid (unused: the refund is on the payment).
            payment_id: The payment (``pay_…``) to refund.
            amount: Minor units.
            currency: ISO 4217 code (the payment's; not sent).
            idempotency_key: Sent as ``X-Refund-Idempotency``.

        Returns:
            The refund; Razorpay's status may be ``pending`` before ``processed``.

        Raises:
            GatewayError: The call failed.
        """
        refund = await self._call(
            "refund",
            "POST",
            f"/v1/payments/{quote(payment_id, safe='')}/refund",
            json={"amount": amount},
            headers={"X-Refund-Idempotency": idempotency_key},
        )
        return refund_from(refund, self.name)

    async def list_transactions(self, since: datetime) -> list[GatewayRecord]:
        """Captured payments and refunds created at or after ``since``, for reconciliation.

        ``GET /v1/payments`` and ``GET /v1/refunds``, 100 a page (``count``/``skip``)
        up to :data:`MAX_PAGES`. A payment fully refunded since is ``refunded``
        but was captured all the same.

        Raises:
            GatewayError: A call failed.
        """
        start = str(int(since.timestamp()))
        payments = await self._list("/v1/payments", start)
        refunds = await self._list("/v1/refunds", start)
        listed = [
            record(
                "capture",
                text(p, "id"),
                text(p, "id"),
                text(p, "order_id"),
                integer(p, "amount"),
                text(p, "currency"),
                unix_time(p, "created_at"),
            )
            for p in payments
            if p.get("status") in ("captured", "refunded")
        ] + [
            record(
                "refund",
                text(r, "id"),
                text(r, "payment_id"),
                None,
                integer(r, "amount"),
                text(r, "currency"),
                unix_time(r, "created_at"),
            )
            for r in refunds
            if r.get("status") in ("processed", "pending")
        ]
        return [r for r in listed if r is not None]

    async def _list(self, path: str, start: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for page in range(MAX_PAGES):
            params = {"from": start, "count": str(PAGE), "skip": str(page * PAGE)}
            items = list_items(await self._call("list_transactions", "GET", path, params=params))
            found += items
            if len(items) < PAGE:
                break
        return found

    def _order(self, order: Mapping[str, Any]) -> GatewayOrder:
        order_id, status = text(order, "id"), text(order, "status")
        amount, currency = integer(order, "amount"), text(order, "currency")
        if order_id is None or status is None or amount is None or currency is None:
            raise GatewayError("razorpay create_order answered without an order", retryable=True)
        return GatewayOrder(
            provider=self.name,
            order_id=order_id,
            amount=amount,
            currency=currency.upper(),
            checkout_url=checkout_reference(order_id),
            status=status,
        )

    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        request = self._client.request(
            method,
            f"{self._api_base}{path}",
            params=params,
            json=json,
            headers=headers,
            auth=self._auth,
        )
        return await call_json(self.name, operation, request, _error_code)


class RazorpayVerifier:
    """Verifies ``X-Razorpay-Signature`` against any webhook secret; maps Razorpay events."""

    provider = "razorpay"

    def __init__(self, secrets: Sequence[str]) -> None:
        self._secrets = tuple(secret.encode() for secret in require_secrets(self.provider, secrets))

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: float) -> None:
        """Raise InvalidSignature unless the header is the body's HMAC under some secret.

        Args:
            body: The raw request body.
            headers: The request headers (looked up case-insensitively).
            now: Unused: the scheme has no timestamp (see the module docstring).
        """
        signature = (header(headers, SIGNATURE_HEADER) or "").strip()
        if not signature:
            raise InvalidSignature("missing signature")
        matched = False
        # Compare against every secret so the time taken does not say which one matched.
        for secret in self._secrets:
            expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
            matched |= hmac.compare_digest(signature.encode(), expected.encode())
        if not matched:
            raise InvalidSignature("signature does not match")

    def parse(self, body: bytes, headers: Mapping[str, str]) -> GatewayEvent:
        """The engine's event for a verified Razorpay webhook.

        ``payment.captured`` and ``payment.failed`` come from ``payload.payment.entity``;
        ``refund.processed`` from ``payload.refund.entity`` (order id from the payment
        entity Razorpay sends alongside). ``order.paid`` is ``"other"``: it accompanies
        ``payment.captured`` and would count the same payment twice. The reference is
        the order's receipt where the payload has the order, else the payment's
        ``notes.booking_id`` if checkout set it.

        Args:
            body: The raw, verified body.
            headers: Where the event id comes from (``X-Razorpay-Event-Id``).

        Returns:
            The event.

        Raises:
            ValueError: No event id header, the body is not an event, or a mapped
                event lacks its fields.
        """
        event_id = (header(headers, EVENT_ID_HEADER) or "").strip()
        if not event_id:
            raise ValueError("razorpay webhook has no X-Razorpay-Event-Id")
        event = event_object(body, self.provider)
        raw_type = text(event, "event")
        if raw_type is None:
            raise ValueError("razorpay webhook has no event type")
        occurred = unix_time(event, "created_at")
        payload = event.get("payload")
        payload = payload if isinstance(payload, dict) else {}
        payment = _entity(payload, "payment")
        notes = payment.get("notes")
        reference = text(_entity(payload, "order"), "receipt") or (
            text(notes, "booking_id") if isinstance(notes, dict) else None
        )
        kind: EventType
        order_id = payment_id = currency = None
        amount = None
        if raw_type in ("payment.captured", "payment.failed"):
            kind = "payment.captured" if raw_type == "payment.captured" else "payment.failed"
            order_id, payment_id = text(payment, "order_id"), text(payment, "id")
            amount, currency = integer(payment, "amount"), text(payment, "currency")
            if order_id is None or payment_id is None:
                raise ValueError(f"razorpay {raw_type} event lacks its order or payment id")
        elif raw_type == "refund.processed":
            kind = "refund.processed"
            refund = _entity(payload, "refund")
            order_id, payment_id = text(payment, "order_id"), text(refund, "payment_id")
            amount, currency = integer(refund, "amount"), text(refund, "currency")
            if payment_id is None:
                raise ValueError("razorpay refund.processed event lacks its payment id")
        else:
            kind = "other"
        if kind != "other" and (amount is None or currency is None):
            raise ValueError(f"razorpay {raw_type} event lacks its amount or currency")
        return GatewayEvent(
            provider=self.provider,
            event_id=event_id,
            type=kind,
            raw_type=raw_type,
            order_id=order_id,
            payment_id=payment_id,
            amount=amount,
            currency=currency.upper() if currency else None,
            occurred_at=occurred,
            reference=reference,
        )


def _entity(payload: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    wrapper = payload.get(name)
    entity = wrapper.get("entity") if isinstance(wrapper, dict) else None
    return entity if isinstance(entity, dict) else {}


def _error_code(response: httpx.Response) -> str | None:
    """``code/reason`` from Razorpay's error body; never its description, which can quote input."""
    error = error_object(response)
    parts = [
        code for code in (safe_code(error.get("code")), safe_code(error.get("reason"))) if code
    ]
    return "/".join(parts) or None
