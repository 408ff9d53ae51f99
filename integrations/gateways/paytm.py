"""Paytm: transactions and refunds over its JSON APIs, and its checksummed webhooks.

    PaytmGateway   Initiate Transaction (``/theia/api/v1/initiateTransaction``) and
                   Refund (``/refund/apply``), each signed in ``head.signature``
    PaytmVerifier  the ``CHECKSUMHASH`` of a form-encoded payment notification

Paytm's checksum, as its ``paytmchecksum`` package computes it: the parameters'
values ordered by name and joined with ``|`` (a null is empty), then ``|`` and a
four-character salt; the SHA-256 hex of that, followed by the salt, encrypted
with AES-CBC under the merchant key (IV ``@@@@&&&&####$$$$``, PKCS#7), base64.
Verifying decrypts the checksum, takes its salt and compares the hash. A JSON
API signs the body's JSON text the same way. Amounts are rupees with two
decimals on the wire (``"500.00"``) and minor units here.

The order id is the merchant reference (the booking's or top-up's id), so a
webhook names it directly. A Paytm order cannot be cancelled; the engine
stops waiting at its deadline and refunds a late payment.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

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

__all__ = ["CHECKSUM_FIELD", "PaytmGateway", "PaytmVerifier", "checksum", "verify_checksum"]

CHECKSUM_FIELD = "CHECKSUMHASH"
_IV = b"@@@@&&&&####$$$$"
_SALT_CHARS = string.ascii_letters + string.digits
_STATUS: dict[str, EventType] = {"TXN_SUCCESS": "payment.captured", "TXN_FAILURE": "payment.failed"}


def _params_string(params: Mapping[str, str | None]) -> str:
    """The values ordered by name, ``|``-joined; None or ``"null"`` count as empty."""
    values = []
    for name in sorted(params):
        value = params[name]
        values.append("" if value is None or value.lower() == "null" else value)
    return "|".join(values)


def _hash(params: str, salt: str) -> str:
    return hashlib.sha256(f"{params}|{salt}".encode()).hexdigest() + salt


def _cipher(key: str) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(key.encode()), modes.CBC(_IV))


def checksum(params: Mapping[str, str | None] | str, key: str, salt: str | None = None) -> str:
    """Paytm's checksum of ``params`` (a mapping, or a JSON body's text) under ``key``."""
    text_ = params if isinstance(params, str) else _params_string(params)
    salt = salt or "".join(secrets.choice(_SALT_CHARS) for _ in range(4))
    padder = padding.PKCS7(128).padder()
    plain = padder.update(_hash(text_, salt).encode()) + padder.finalize()
    encryptor = _cipher(key).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def verify_checksum(params: Mapping[str, str | None] | str, key: str, given: str) -> bool:
    """Whether ``given`` is Paytm's checksum of ``params`` under ``key`` (constant-time)."""
    text_ = params if isinstance(params, str) else _params_string(params)
    try:
        decryptor = _cipher(key).decryptor()
        padded = decryptor.update(base64.b64decode(given, validate=True)) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        decrypted = (unpadder.update(padded) + unpadder.finalize()).decode()
    except (ValueError, UnicodeDecodeError):
        return False
    return hmac.compare_digest(decrypted.encode(), _hash(text_, decrypted[-4:]).encode())


def checkout_reference(order_id: str, txn_token: str) -> str:
    """What a Paytm order carries as ``checkout_url``: the order and its transaction token.

    The frontend opens Paytm's JS checkout (``Paytm.CheckoutJS``) with them.
    """
    return f"paytm:order:{order_id}:{txn_token}"


class PaytmGateway:
    """Transactions and refunds on Paytm's JSON APIs, signed with the merchant key."""

    name = "paytm"

    def __init__(
        self,
        client: httpx.AsyncClient,
        api_base: str,
        mid: str,
        merchant_key: str,
        website: str,
        callback_url: str | None = None,
    ) -> None:
        self._client = client
        self._api_base = api_base.rstrip("/")
        self._mid = mid
        self._key = merchant_key
        self._website = website
        self._callback_url = callback_url

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
        """Initiate the transaction whose order id is the booking's (or top-up's) id.

        Paytm answers the same order id again with ``0002`` (success, idempotent).

        Raises:
            GatewayError: The call failed or Paytm refused it.
        """
        order_id = str(booking_id)
        body: dict[str, Any] = {
            "requestType": "Payment",
            "mid": self._mid,
            "websiteName": self._website,
            "orderId": order_id,
            "txnAmount": {"value": decimal_text(amount, currency), "currency": currency.upper()},
            "userInfo": {"custId": order_id},
        }
        # Paytm posts the result to one URL after a payment or a failure (no outcome added).
        callback_url = return_url or self._callback_url
        if callback_url:
            body["callbackUrl"] = callback_url
        answer = await self._post(
            "create_order",
            "/theia/api/v1/initiateTransaction",
            body,
            params={"mid": self._mid, "orderId": order_id},
        )
        result = answer.get("resultInfo") or {}
        token = text(answer, "txnToken")
        if result.get("resultCode") not in ("0000", "0002") or token is None:
            raise GatewayError(
                f"paytm create_order answered {safe_code(result.get('resultCode')) or 'no code'}",
                retryable=False,
            )
        return GatewayOrder(
            provider=self.name,
            order_id=order_id,
            amount=amount,
            currency=currency.upper(),
            checkout_url=checkout_reference(order_id, token),
            status="created",
        )

    async def cancel_order(self, order_id: str) -> bool:
        """Return False without a call: Paytm transactions cannot be cancelled."""
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
        """Refund ``amount`` of the transaction ``payment_id`` once per ``idempotency_key``.

        Paytm takes a refund reference (``refId``) of at most 50 characters, unique
        per refund: a digest of the key, so a retry is the same refund.

        Raises:
            GatewayError: The call failed or Paytm refused the refund.
        """
        body = {
            "mid": self._mid,
            "txnType": "REFUND",
            "orderId": order_id,
            "txnId": payment_id,
            "refId": hashlib.sha256(idempotency_key.encode()).hexdigest()[:40],
            "refundAmount": decimal_text(amount, currency),
        }
        answer = await self._post("refund", "/refund/apply", body)
        result = answer.get("resultInfo") or {}
        status = result.get("resultStatus")
        if status == "TXN_FAILURE":
            raise GatewayError(
                f"paytm refund answered {safe_code(result.get('resultCode')) or 'no code'}",
                retryable=False,
            )
        return GatewayRefund(
            refund_id=text(answer, "refundId") or body["refId"],
            amount=amount,
            currency=currency.upper(),
            status="processed" if status == "TXN_SUCCESS" else "pending",
        )

    async def list_transactions(self, since: datetime) -> list[GatewayRecord] | None:
        """None: Paytm has no list of transactions by time (status is asked per order)."""
        return None

    async def _post(
        self,
        operation: str,
        path: str,
        body: dict[str, Any],
        *,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        # Signed over the body's JSON text exactly as sent inside the request.
        body_text = json.dumps(body)
        content = (
            f'{{"body": {body_text}, "head": {{"signature": "{checksum(body_text, self._key)}"}}}}'
        )
        request = self._client.post(
            f"{self._api_base}{path}",
            params=params,
            content=content.encode(),
            headers={"Content-Type": "application/json"},
        )
        response = await send(self.name, operation, request)
        raise_for_status(response, self.name, operation, lambda _: None)
        answer = json_object(response, self.name, operation).get("body")
        if not isinstance(answer, dict):
            raise GatewayError(f"paytm {operation} answered without a body", retryable=True)
        return answer


class PaytmVerifier:
    """Verifies the ``CHECKSUMHASH`` of Paytm's form-encoded notifications; maps them."""

    provider = "paytm"

    def __init__(self, merchant_key: str) -> None:
        if not merchant_key:
            raise ValueError("the paytm webhook verifier needs the merchant key")
        self._key = merchant_key

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: float) -> None:
        """Raise InvalidSignature unless the checksum matches the other fields.

        Args:
            body: The raw form body.
            headers: Unused: everything is in the body.
            now: Unused: Paytm signs no timestamp (a replay is stored once and ignored).
        """
        fields = form_fields(body)
        given = fields.pop(CHECKSUM_FIELD, None)
        if not given:
            raise InvalidSignature("missing CHECKSUMHASH")
        if not verify_checksum(fields, self._key, given):
            raise InvalidSignature("checksum does not match")

    def parse(self, body: bytes, headers: Mapping[str, str]) -> GatewayEvent:
        """The engine's event for a verified notification.

        ``TXN_SUCCESS`` is a capture and ``TXN_FAILURE`` a failed attempt, of
        transaction ``TXNID`` for order ``ORDERID`` (our reference);
        anything else (``PENDING``) is ``"other"``. The event id is the order,
        the transaction and its status, so each change is stored once.

        Raises:
            ValueError: A field the engine needs is missing or not an amount.
        """
        fields = form_fields(body)
        order_id, status = fields.get("ORDERID"), fields.get("STATUS")
        if not order_id or not status:
            raise ValueError("paytm notification has no ORDERID or STATUS")
        txn_id = fields.get("TXNID") or None
        currency = (fields.get("CURRENCY") or "INR").upper()
        amount = minor_units(fields["TXNAMOUNT"], currency) if fields.get("TXNAMOUNT") else None
        kind = _STATUS.get(status, "other")
        if kind == "payment.captured" and (txn_id is None or amount is None):
            raise ValueError("paytm success without TXNID or TXNAMOUNT")
        return GatewayEvent(
            provider=self.provider,
            event_id=f"{order_id}:{txn_id or '-'}:{status}",
            type=kind,
            raw_type=status,
            order_id=order_id,
            payment_id=txn_id,
            amount=amount,
            currency=currency,
            occurred_at=None,
            reference=order_id,
        )
