"""PayHere (Sri Lanka): a hosted checkout, ``md5sig`` notifications, refunds by its Merchant API.

    PayHereGateway   the checkout's hash (PayHere has no server-side order); refunds
                     through ``/merchant/v1/payment/refund`` with an OAuth token
    PayHereVerifier  the ``md5sig`` of a form-encoded payment notification

PayHere's documented formulas (uppercase hex MD5, the secret itself hashed):

    checkout hash = MD5(merchant_id + order_id + amount + currency + MD5(secret))
    md5sig        = MD5(merchant_id + order_id + payhere_amount + payhere_currency
                        + status_code + MD5(secret))

Amounts are written with two decimals (``"1000.00"``). The order id is the
merchant reference (the booking's or top-up's id). A checkout cannot be
cancelled, and PayHere's refund call takes no idempotency key: the engine
writes each refund request first, keyed, and asks once per key.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from integrations.gateways._common import (
    decimal_text,
    form_fields,
    json_object,
    minor_units,
    raise_for_status,
    safe_code,
    send,
    text,
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
from models.return_urls import with_query

__all__ = ["PayHereGateway", "PayHereVerifier", "checkout_hash", "md5sig"]

# status_code of a notification: 2 success, 0 pending, -1 cancelled, -2 failed, -3 chargeback.
_STATUS: dict[str, EventType] = {
    "2": "payment.captured",
    "-2": "payment.failed",
    "-1": "payment.failed",
}


def _md5(value: str) -> str:
    return hashlib.md5(value.encode()).hexdigest().upper()  # noqa: S324 - PayHere's scheme


def checkout_hash(merchant_id: str, order_id: str, amount: str, currency: str, secret: str) -> str:
    """The ``hash`` a PayHere checkout form carries."""
    return _md5(merchant_id + order_id + amount + currency + _md5(secret))


def md5sig(
    merchant_id: str, order_id: str, amount: str, currency: str, status_code: str, secret: str
) -> str:
    """The ``md5sig`` PayHere signs a payment notification with."""
    return _md5(merchant_id + order_id + amount + currency + status_code + _md5(secret))


def checkout_reference(
    order_id: str, amount: str, currency: str, hash_: str, return_url: str | None = None
) -> str:
    """What a PayHere order carries as ``checkout_url``: its checkout form's fields.

    The order id, amount, currency and hash the form posts to ``/pay/checkout``
    besides the merchant's own (merchant id, notify URL). With a ``return_url``,
    the form's ``return_url`` and ``cancel_url`` follow as a query
    (``?return_url=…&cancel_url=…``, ``outcome`` added to each).
    """
    reference = f"payhere:order:{order_id}:{amount}:{currency}:{hash_}"
    if return_url is None:
        return reference
    return with_query(
        reference,
        return_url=with_query(return_url, outcome="paid"),
        cancel_url=with_query(return_url, outcome="declined"),
    )


class PayHereGateway:
    """The checkout hash, and refunds through the Merchant API (OAuth client credentials)."""

    name = "payhere"

    def __init__(
        self,
        client: httpx.AsyncClient,
        api_base: str,
        merchant_id: str,
        merchant_secret: str,
        app_id: str | None,
        app_secret: str | None,
    ) -> None:
        self._client = client
        self._api_base = api_base.rstrip("/")
        self._merchant_id = merchant_id
        self._secret = merchant_secret
        self._app = (app_id, app_secret)
        self._token: tuple[str, float] | None = None

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
        """The checkout for the booking's (or top-up's) id: no call, PayHere has no order API.

        ``return_url`` becomes the checkout form's ``return_url`` and ``cancel_url``
        (see :func:`checkout_reference`).
        """
        order_id, wire = str(booking_id), decimal_text(amount, currency)
        hash_ = checkout_hash(self._merchant_id, order_id, wire, currency.upper(), self._secret)
        return GatewayOrder(
            provider=self.name,
            order_id=order_id,
            amount=amount,
            currency=currency.upper(),
            checkout_url=checkout_reference(order_id, wire, currency.upper(), hash_, return_url),
            status="created",
        )

    async def cancel_order(self, order_id: str) -> bool:
        """Return False without a call: a PayHere checkout cannot be cancelled."""
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
        """Refund ``amount`` of payment ``payment_id`` (PayHere queues it).

        Raises:
            GatewayError: No Merchant API credentials, the call failed, or PayHere refused.
        """
        token = await self._access_token()
        request = self._client.post(
            f"{self._api_base}/merchant/v1/payment/refund",
            json={
                "payment_id": payment_id,
                "amount": float(decimal_text(amount, currency)),
                "description": f"refund {idempotency_key[-36:]}",
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        answer = await self._json("refund", request)
        if answer.get("status") != 1:
            raise GatewayError(
                f"payhere refund answered status {safe_code(str(answer.get('status')))}",
                retryable=False,
            )
        return GatewayRefund(
            refund_id=text(answer, "data") or f"{payment_id}:{idempotency_key[-36:]}",
            amount=amount,
            currency=currency.upper(),
            status="pending",
        )

    async def list_transactions(self, since: datetime) -> list[GatewayRecord] | None:
        """None: PayHere lists payments per order only, not by time."""
        return None

    async def _access_token(self) -> str:
        app_id, app_secret = self._app
        if not app_id or not app_secret:
            raise GatewayError(
                "payhere refunds need the Merchant API app id and secret", retryable=False
            )
        if self._token is not None and self._token[1] > time.monotonic():
            return self._token[0]
        request = self._client.post(
            f"{self._api_base}/merchant/v1/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=httpx.BasicAuth(app_id, app_secret),
        )
        answer = await self._json("refund", request)
        token = text(answer, "access_token")
        if token is None:
            raise GatewayError("payhere oauth answered without a token", retryable=True)
        expires_in = answer.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int) else 60.0
        self._token = (token, time.monotonic() + max(lifetime - 30, 0))
        return token

    async def _json(self, operation: str, request: Any) -> dict[str, Any]:
        response = await send(self.name, operation, request)
        raise_for_status(response, self.name, operation, lambda _: None)
        return json_object(response, self.name, operation)


class PayHereVerifier:
    """Verifies the ``md5sig`` of PayHere's form-encoded notifications; maps them."""

    provider = "payhere"

    def __init__(self, merchant_id: str, merchant_secret: str) -> None:
        if not merchant_id or not merchant_secret:
            raise ValueError("the payhere webhook verifier needs the merchant id and secret")
        self._merchant_id = merchant_id
        self._secret = merchant_secret

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: float) -> None:
        """Raise InvalidSignature unless ``md5sig`` matches (and the merchant is ours).

        Args:
            body: The raw form body.
            headers: Unused.
            now: Unused: PayHere signs no timestamp (a replay is stored once and ignored).
        """
        fields = form_fields(body)
        given = fields.get("md5sig", "")
        expected = md5sig(
            fields.get("merchant_id", ""),
            fields.get("order_id", ""),
            fields.get("payhere_amount", ""),
            fields.get("payhere_currency", ""),
            fields.get("status_code", ""),
            self._secret,
        )
        if not given or not hmac.compare_digest(given.upper().encode(), expected.encode()):
            raise InvalidSignature("md5sig does not match")
        if fields.get("merchant_id") != self._merchant_id:
            raise InvalidSignature("another merchant's notification")

    def parse(self, body: bytes, headers: Mapping[str, str]) -> GatewayEvent:
        """The engine's event for a verified notification.

        ``status_code`` 2 is a capture, -1 and -2 a failed attempt, the rest
        (pending, chargeback) ``"other"``. The event id is the order, the payment
        and its status, so each change is stored once.

        Raises:
            ValueError: A field the engine needs is missing or not an amount.
        """
        fields = form_fields(body)
        order_id, status = fields.get("order_id"), fields.get("status_code")
        if not order_id or status is None:
            raise ValueError("payhere notification has no order_id or status_code")
        payment_id = fields.get("payment_id") or None
        currency = (fields.get("payhere_currency") or "").upper()
        raw_amount = fields.get("payhere_amount")
        amount = minor_units(raw_amount, currency) if raw_amount and currency else None
        kind = _STATUS.get(status, "other")
        if kind == "payment.captured" and (payment_id is None or amount is None):
            raise ValueError("payhere success without payment_id or amount")
        return GatewayEvent(
            provider=self.provider,
            event_id=f"{order_id}:{payment_id or '-'}:{status}",
            type=kind,
            raw_type=f"status_code:{status}",
            order_id=order_id,
            payment_id=payment_id,
            amount=amount,
            currency=currency or None,
            occurred_at=None,
            reference=order_id,
        )
