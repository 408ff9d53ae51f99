"""Stripe: PaymentIntents and refunds over the REST API, and ``Stripe-Signature`` webhooks.

    StripeGateway   form-encoded calls with ``Idempotency-Key`` on every create
    StripeVerifier  Stripe's documented ``t=…,v1=…`` scheme (core.signing), events
                    mapped to the engine's

The order is a PaymentIntent. A bare PaymentIntent has no hosted page: the
customer pays in the frontend, which confirms the intent with Stripe.js using the
intent's client secret. That secret must not be logged or put in URLs, so it is
not returned here; ``checkout_url`` is the opaque reference
``stripe:payment_intent:{id}`` (see :func:`checkout_reference`), from which the
frontend's backend fetches the client secret to confirm with.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from integrations.gateways._common import (
    TimestampedVerifier,
    error_object,
    event_object,
    integer,
    json_object,
    list_items,
    raise_for_status,
    record,
    refund_from,
    safe_code,
    send,
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
from models.return_urls import with_query

__all__ = ["SIGNATURE_HEADER", "StripeGateway", "StripeVerifier", "checkout_reference"]

SIGNATURE_HEADER = "Stripe-Signature"
# Reconciliation reads at most this many pages of 100 per list.
MAX_PAGES = 50


def checkout_reference(payment_intent_id: str) -> str:
    """What a Stripe order carries as ``checkout_url``: not a page, the intent to confirm.

    Args:
        payment_intent_id: The PaymentIntent id (``pi_…``).

    Returns:
        ``"stripe:payment_intent:"`` followed by the id.
    """
    return f"stripe:payment_intent:{payment_intent_id}"


class StripeGateway:
    """PaymentIntents and refunds, authenticated with the secret key as a Bearer token."""

    name = "stripe"

    def __init__(self, client: httpx.AsyncClient, api_base: str, api_key: str) -> None:
        self._client = client
        self._api_base = api_base.rstrip("/")
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
        """Create the booking's PaymentIntent; a retry with the same key gets the same one.

        Args:
            booking_id: Recorded as ``metadata[booking_id]``.
            amount: Minor units.
            currency: ISO 4217 code (sent lowercased, as Stripe expects).
            idempotency_key: Sent as ``Idempotency-Key`` (Stripe keeps keys 24 hours).
            expires_at: Unused: PaymentIntents do not expire; the booking cancels the
                intent when its payment window closes.
            return_url: Recorded as ``metadata[success_url]`` and ``metadata[cancel_url]``
                (``outcome`` added): a PaymentIntent is confirmed in the browser,
                which passes its page to ``stripe.confirmPayment`` as ``return_url``.

        Returns:
            The order, with :func:`checkout_reference` as its ``checkout_url``.

        Raises:
            GatewayError: The call failed.
        """
        form = {
            "amount": str(amount),
            "currency": currency.lower(),
            "metadata[booking_id]": str(booking_id),
            "automatic_payment_methods[enabled]": "true",
        }
        if return_url is not None:
            form["metadata[success_url]"] = with_query(return_url, outcome="paid")
            form["metadata[cancel_url]"] = with_query(return_url, outcome="declined")
        response = await self._post("create_order", "/v1/payment_intents", form, idempotency_key)
        _raise_for_status(response, "create_order")
        intent = json_object(response, self.name, "create_order")
        intent_id, status = text(intent, "id"), text(intent, "status")
        got_amount, got_currency = integer(intent, "amount"), text(intent, "currency")
        if intent_id is None or status is None or got_amount is None or got_currency is None:
            raise GatewayError("stripe create_order answered without an intent", retryable=True)
        return GatewayOrder(
            provider=self.name,
            order_id=intent_id,
            amount=got_amount,
            currency=got_currency.upper(),
            checkout_url=checkout_reference(intent_id),
            status=status,
        )

    async def cancel_order(self, order_id: str) -> bool:
        """Cancel the PaymentIntent so it can no longer be paid.

        Args:
            order_id: The PaymentIntent id.

        Returns:
            True when the intent is (now or already) canceled; False when Stripe
            refuses because it has succeeded or is processing, so payment may arrive.

        Raises:
            GatewayError: The call failed for another reason.
        """
        path = f"/v1/payment_intents/{quote(order_id, safe='')}/cancel"
        response = await self._post("cancel_order", path, {}, None)
        if response.status_code == 400:
            error = error_object(response)
            if error.get("code") == "payment_intent_unexpected_state":
                # Stripe's error carries the intent: a retry after a lost answer finds
                # it canceled, which is the outcome we wanted.
                intent = error.get("payment_intent")
                return isinstance(intent, dict) and intent.get("status") == "canceled"
        _raise_for_status(response, "cancel_order")
        return True

    async def refund(
        self,
        *,
        order_id: str,
        payment_id: str,
        amount: int,
        currency: str,
        idempotency_key: str,
    ) -> GatewayRefund:
        """Refund ``amount`` of the PaymentIntent's charge, once per ``idempotency_key``.

        Args:
            order_id: The PaymentIntent id, sent as ``payment_intent``.
            payment_id: The charge (unused: Stripe finds it from the intent).
            amount: Minor units.
            currency: ISO 4217 code (the charge's; not sent).
            idempotency_key: Sent as ``Idempotency-Key``.

        Returns:
            The refund; Stripe's status may be ``pending`` before ``succeeded``.

        Raises:
            GatewayError: The call failed.
        """
        form = {"payment_intent": order_id, "amount": str(amount)}
        response = await self._post("refund", "/v1/refunds", form, idempotency_key)
        _raise_for_status(response, "refund")
        return refund_from(json_object(response, self.name, "refund"), self.name)

    async def list_transactions(self, since: datetime) -> list[GatewayRecord]:
        """Captured charges and refunds created at or after ``since``, for reconciliation.

        ``GET /v1/charges`` and ``GET /v1/refunds``, every page up to
        :data:`MAX_PAGES`. A charge's id is the payment id the engine stores (an intent's
        ``latest_charge``); its order is the PaymentIntent.

        Raises:
            GatewayError: A call failed.
        """
        created = str(int(since.timestamp()))
        charges = await self._list("/v1/charges", created)
        refunds = await self._list("/v1/refunds", created)
        listed = [
            record(
                "capture",
                text(c, "id"),
                text(c, "id"),
                text(c, "payment_intent"),
                integer(c, "amount_captured"),
                text(c, "currency"),
                unix_time(c, "created"),
            )
            for c in charges
            if c.get("captured") is True and c.get("status") == "succeeded"
        ] + [
            record(
                "refund",
                text(r, "id"),
                text(r, "charge"),
                text(r, "payment_intent"),
                integer(r, "amount"),
                text(r, "currency"),
                unix_time(r, "created"),
            )
            for r in refunds
            if r.get("status") in ("succeeded", "pending")
        ]
        return [r for r in listed if r is not None]

    async def _list(self, path: str, created_gte: str) -> list[dict[str, Any]]:
        """Every object of a Stripe list, following ``has_more`` / ``starting_after``."""
        found: list[dict[str, Any]] = []
        params = {"created[gte]": created_gte, "limit": "100"}
        for _ in range(MAX_PAGES):
            request = self._client.get(
                f"{self._api_base}{path}", params=params, headers=self._headers
            )
            response = await send(self.name, "list_transactions", request)
            _raise_for_status(response, "list_transactions")
            page = json_object(response, self.name, "list_transactions")
            items = list_items(page, "data")
            found += items
            last = text(items[-1], "id") if items else None
            if page.get("has_more") is not True or last is None:
                break
            params = {**params, "starting_after": last}
        return found

    async def _post(
        self, operation: str, path: str, form: dict[str, str], idempotency_key: str | None
    ) -> httpx.Response:
        headers = dict(self._headers)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        request = self._client.post(f"{self._api_base}{path}", data=form, headers=headers)
        return await send(self.name, operation, request)


class StripeVerifier(TimestampedVerifier):
    """Verifies ``Stripe-Signature`` against any endpoint secret; maps Stripe events."""

    provider = "stripe"
    signature_header = SIGNATURE_HEADER

    def parse(self, body: bytes, headers: Mapping[str, str]) -> GatewayEvent:
        """The engine's event for a verified Stripe event.

        ``payment_intent.succeeded`` is a capture (payment id: the intent's
        ``latest_charge``, else the intent id; amount: ``amount_received``);
        ``payment_intent.payment_failed`` a failure; ``charge.refunded`` (amount: the
        charge's ``amount_refunded``, a running total) and ``refund.updated`` with
        status ``succeeded`` a refund. Everything else is ``"other"``. The reference is
        the object's ``metadata.booking_id`` (PaymentIntents carry it; charges and
        refunds only if it was copied there).

        Args:
            body: The raw, verified body.
            headers: The request headers (unused).

        Returns:
            The event.

        Raises:
            ValueError: The body is not an event, or a mapped event lacks its fields.
        """
        event = event_object(body, self.provider)
        event_id, raw_type = text(event, "id"), text(event, "type")
        if event_id is None or raw_type is None:
            raise ValueError("stripe webhook has no event id or type")
        occurred = unix_time(event, "created")
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict):
            raise ValueError("stripe webhook has no data.object")

        metadata = obj.get("metadata")
        reference = text(metadata, "booking_id") if isinstance(metadata, dict) else None
        kind, order_id, payment_id, amount = _mapped(raw_type, obj)
        currency = text(obj, "currency")
        if kind == "other":
            order_id = payment_id = currency = None
            amount = None
        elif order_id is None or amount is None or currency is None:
            raise ValueError(f"stripe {raw_type} event lacks an id, amount or currency")
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


def _mapped(
    raw_type: str, obj: Mapping[str, Any]
) -> tuple[EventType, str | None, str | None, int | None]:
    """The engine's type, order id, payment id and amount for a Stripe event's object."""
    if raw_type in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        intent_id = text(obj, "id")
        payment_id = text(obj, "latest_charge") or intent_id
        if raw_type == "payment_intent.succeeded":
            return "payment.captured", intent_id, payment_id, integer(obj, "amount_received")
        return "payment.failed", intent_id, payment_id, integer(obj, "amount")
    if raw_type == "charge.refunded":
        return (
            "refund.processed",
            text(obj, "payment_intent"),
            text(obj, "id"),
            integer(obj, "amount_refunded"),
        )
    if raw_type == "refund.updated" and obj.get("status") == "succeeded":
        return (
            "refund.processed",
            text(obj, "payment_intent"),
            text(obj, "charge"),
            integer(obj, "amount"),
        )
    return "other", None, None, None


def _raise_for_status(response: httpx.Response, operation: str) -> None:
    # 409: another request with the same Idempotency-Key is still in flight; Stripe's
    # own libraries retry it.
    raise_for_status(response, "stripe", operation, _error_code, also_retryable=(409,))


def _error_code(response: httpx.Response) -> str | None:
    """The first safe one of Stripe's ``error.code`` and ``error.type``."""
    error = error_object(response)
    return safe_code(error.get("code")) or safe_code(error.get("type"))
