"""What the gateway adapters share: HTTP calls and their errors, JSON getters, webhooks.

    send / raise_for_status / json_object   one call, split so an adapter can look
    call_json                               at an answer before it becomes an error
    text / integer / unix_time              typed reads from decoded JSON
    header                                  a request header, looked up case-insensitively
    safe_code / decoded / error_object      pieces for a provider's error-code extraction
    refund_from                             a refund answer as a GatewayRefund
    list_items / record                     a list answer's objects; one as a GatewayRecord
    form_fields                             a form-encoded webhook body's fields
    decimal_text / minor_units              ``50000`` INR as ``"500.00"`` and back
    require_secrets                         a verifier's secrets, at least one
    TimestampedVerifier                     core.signing's ``t=…,v1=…`` header check

Error messages name the provider, the operation, the HTTP status and a
machine-readable code at most: never an exception's text, a description from the
gateway, a secret or anything about the customer.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

import httpx
from babel.numbers import get_currency_precision

from core import bounded_json
from core.signing import TOLERANCE_SECONDS, InvalidSignature, verify_header
from integrations.gateways.base import GatewayError, GatewayRecord, GatewayRefund

# Gateways' events nest a dozen levels at most; deeper is no event of theirs.
WEBHOOK_MAX_DEPTH = 64
# A machine-readable error code; anything else from a gateway stays out of messages.
_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


async def send(provider: str, operation: str, request: Awaitable[httpx.Response]) -> httpx.Response:
    """Await an HTTP call, turning a transport failure into a retryable GatewayError.

    Args:
        provider: The gateway's name, for the message.
        operation: The interface method making the call, for the message.
        request: The not yet awaited call, e.g. ``client.post(...)``.

    Returns:
        The response, whatever its status.

    Raises:
        GatewayError: The call failed before an answer (retryable; the message has
            the exception's class name only, as its text can carry the request).
    """
    try:
        return await request
    except httpx.RequestError as exc:
        raise GatewayError(
            f"{provider} {operation} failed: {type(exc).__name__}", retryable=True
        ) from None


def raise_for_status(
    response: httpx.Response,
    provider: str,
    operation: str,
    error_code: Callable[[httpx.Response], str | None],
    *,
    also_retryable: Collection[int] = (),
) -> None:
    """Raise GatewayError for a status of 400 or more; return for anything below.

    Args:
        response: The gateway's answer.
        provider: The gateway's name, for the message.
        operation: The interface method that called, for the message.
        error_code: The provider's safe error code in an error answer, if any
            (only called for an error status).
        also_retryable: Error statuses retryable for this provider besides 429 and 5xx.

    Raises:
        GatewayError: With ``status_code``; retryable for 429, 5xx and ``also_retryable``.
    """
    status = response.status_code
    if status < 400:
        return
    raise GatewayError(
        f"{provider} {operation} answered {status} ({error_code(response) or 'no code'})",
        retryable=status == 429 or status >= 500 or status in also_retryable,
        status_code=status,
    )


def json_object(response: httpx.Response, provider: str, operation: str) -> dict[str, Any]:
    """The JSON object a successful answer carries.

    Raises:
        GatewayError: The body is not a JSON object (retryable).
    """
    body = decoded(response)
    if not isinstance(body, dict):
        raise GatewayError(f"{provider} {operation} answered without JSON", retryable=True)
    return body


async def call_json(
    provider: str,
    operation: str,
    request: Awaitable[httpx.Response],
    error_code: Callable[[httpx.Response], str | None],
) -> dict[str, Any]:
    """:func:`send`, :func:`raise_for_status` (429 and 5xx retryable), :func:`json_object`."""
    response = await send(provider, operation, request)
    raise_for_status(response, provider, operation, error_code)
    return json_object(response, provider, operation)


def decoded(response: httpx.Response) -> Any:
    """The response's decoded JSON body; None when the body is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def error_object(response: httpx.Response) -> dict[str, Any]:
    """The ``error`` object of a JSON answer; empty when there is none."""
    body = decoded(response)
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def safe_code(value: object) -> str | None:
    """``value`` when it is a short machine-readable code fit for a message, else None."""
    return value if isinstance(value, str) and _CODE.fullmatch(value) else None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The header ``name``: an exact match first, else any case of it."""
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    return value


def text(obj: Mapping[str, Any], key: str) -> str | None:
    """``obj[key]`` when it is a non-empty string, else None."""
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def integer(obj: Mapping[str, Any], key: str) -> int | None:
    """``obj[key]`` when it is an integer (not a bool), else None."""
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def unix_time(obj: Mapping[str, Any], key: str) -> datetime | None:
    """``obj[key]`` as a UTC datetime when it is an integer unix time, else None.

    A number no calendar holds (year 10,000 and on) is no unix time: None too.
    """
    seconds = integer(obj, key)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def event_object(body: bytes, provider: str) -> dict[str, Any]:
    """A webhook's body decoded to a JSON object, within :func:`core.bounded_json.loads`'s bounds.

    Raises:
        ValueError: The body is not JSON, not an object, nested deeper than
            :data:`WEBHOOK_MAX_DEPTH` or holds a number no BIGINT column takes.
    """
    event = bounded_json.loads(body, max_depth=WEBHOOK_MAX_DEPTH)
    if not isinstance(event, dict):
        raise ValueError(f"{provider} webhook body is not an object")
    return event


def refund_from(answer: Mapping[str, Any], provider: str) -> GatewayRefund:
    """A refund answer (``id``, ``amount``, ``currency``, ``status``) as a GatewayRefund.

    Raises:
        GatewayError: A field is missing (retryable: the refund may well exist).
    """
    refund_id, amount = text(answer, "id"), integer(answer, "amount")
    currency, status = text(answer, "currency"), text(answer, "status")
    if refund_id is None or amount is None or currency is None or status is None:
        raise GatewayError(f"{provider} refund answered without a refund", retryable=True)
    return GatewayRefund(
        refund_id=refund_id, amount=amount, currency=currency.upper(), status=status
    )


def list_items(answer: Mapping[str, Any], key: str = "items") -> list[dict[str, Any]]:
    """The objects of a list answer (``items``, or Stripe's ``data``); others are skipped."""
    items = answer.get(key)
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def record(
    kind: str,
    record_id: str | None,
    payment_id: str | None,
    order_id: str | None,
    amount: int | None,
    currency: str | None,
    created_at: datetime | None,
) -> GatewayRecord | None:
    """A listed capture or refund as a GatewayRecord; None when a field it needs is missing."""
    if (
        kind not in ("capture", "refund")
        or record_id is None
        or payment_id is None
        or amount is None
        or currency is None
        or created_at is None
    ):
        return None
    return GatewayRecord(
        kind="capture" if kind == "capture" else "refund",
        id=record_id,
        payment_id=payment_id,
        order_id=order_id,
        amount=amount,
        currency=currency.upper(),
        created_at=created_at,
    )


def iso_time(obj: Mapping[str, Any], key: str) -> datetime | None:
    """``obj[key]`` as a datetime when it is an RFC 3339 string with an offset, else None."""
    value = text(obj, key)
    try:
        moment = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    return moment if moment is not None and moment.utcoffset() is not None else None


def form_fields(body: bytes) -> dict[str, str]:
    """The fields of a form-encoded body (blank values kept).

    Raises:
        InvalidSignature: The body is not a form: nothing signed can be read from it.
    """
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True))
    except (UnicodeDecodeError, ValueError):
        raise InvalidSignature("not a form body") from None


def decimal_text(amount: int, currency: str) -> str:
    """Minor units as gateways that take decimals write them: ``50000`` INR is ``"500.00"``."""
    precision = get_currency_precision(currency)
    return f"{Decimal(amount).scaleb(-precision):.{precision}f}"


def minor_units(value: str, currency: str) -> int:
    """``"500.00"`` INR as ``50000``.

    Raises:
        ValueError: Not a number, or finer than the currency's minor unit.
    """
    try:
        minor = Decimal(value).scaleb(get_currency_precision(currency))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount") from None
    if not minor.is_finite() or minor != minor.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number of {currency} minor units")
    return int(minor)


def require_secrets(provider: str, secrets: Sequence[str]) -> tuple[str, ...]:
    """A webhook verifier's secrets as a tuple.

    Raises:
        ValueError: There are none.
    """
    if not secrets:
        raise ValueError(f"the {provider} webhook verifier needs at least one secret")
    return tuple(secrets)


class TimestampedVerifier:
    """The ``verify`` of a provider signing webhooks with core.signing's ``t=…,v1=…`` header.

    A subclass sets ``provider`` and ``signature_header`` and adds ``parse``.
    """

    provider: str
    signature_header: str

    def __init__(self, secrets: Sequence[str]) -> None:
        self._secrets = require_secrets(self.provider, secrets)

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: float) -> None:
        """Raise InvalidSignature unless a ``v1`` matches and ``t`` is within 300 s of now.

        Args:
            body: The raw request body.
            headers: The request headers (looked up case-insensitively).
            now: The current unix time.
        """
        verify_header(
            header(headers, self.signature_header),
            body,
            self._secrets,
            now=now,
            tolerance=TOLERANCE_SECONDS,
        )
