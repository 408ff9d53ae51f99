"""The sandbox gateway: its order and refund calls and its signed webhooks.

Answers are shaped like the sandbox's contract (orders idempotent on the receipt,
``Sandbox-Signature`` in core.signing's ``t=…,v1=…`` scheme).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.signing import sign_header
from integrations.gateways.base import GatewayError, InvalidSignature
from integrations.gateways.sandbox import REFUND_REASON, SandboxGateway, SandboxVerifier

from support.http import ScriptedHTTP, json_fixture

FIXTURES = Path(__file__).parent / "fixtures" / "sandbox"
BASE_URL = "http://sandbox.test:8090"
API_KEY = "sbx_key_do_not_log"
BOOKING_ID = uuid.UUID("3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17")
EXPIRES_AT = datetime(2025, 3, 10, 9, 40, tzinfo=UTC)
SECRET = "whsec_sandbox_current"
NOW = 1_741_599_000


def fixture(name: str) -> dict[str, Any]:
    """Load one sandbox answer or event."""
    return json_fixture(FIXTURES, name)


class Sandbox(ScriptedHTTP):
    """A scripted sandbox: answers requests in order and records them."""

    def gateway(self) -> SandboxGateway:
        return SandboxGateway(self.client(), BASE_URL + "/", API_KEY)


async def create(gateway: SandboxGateway, amount: int = 50_000) -> Any:
    return await gateway.create_order(
        booking_id=BOOKING_ID,
        amount=amount,
        currency="INR",
        idempotency_key=f"{BOOKING_ID}:order",
        expires_at=EXPIRES_AT,
    )


async def test_create_order_posts_receipt_and_returns_checkout_page() -> None:
    """create_order POSTs amount, currency, the booking id as receipt and an RFC 3339 expiry."""
    sandbox = Sandbox(httpx.Response(201, json=fixture("order_created")))

    order = await create(sandbox.gateway())

    assert order.provider == "sandbox"
    assert order.order_id == "order_sbx_7f3a1c"
    assert order.checkout_url == "http://127.0.0.1:8090/checkout/order_sbx_7f3a1c"
    assert (order.amount, order.currency, order.status) == (50_000, "INR", "created")
    [request] = sandbox.requests
    assert request.method == "POST"
    assert str(request.url) == f"{BASE_URL}/v1/orders"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert json.loads(request.content) == {
        "amount": 50_000,
        "currency": "INR",
        "receipt": str(BOOKING_ID),
        "expires_at": "2025-03-10T09:40:00+00:00",
    }


async def test_create_order_again_returns_the_same_paid_order() -> None:
    """A retried create gets the receipt's existing order back, with the sandbox's status."""
    sandbox = Sandbox(httpx.Response(200, json={**fixture("order_created"), "status": "paid"}))

    order = await create(sandbox.gateway())

    assert (order.order_id, order.status) == ("order_sbx_7f3a1c", "paid")


async def test_create_order_refuses_existing_order_with_other_amount() -> None:
    """An order found by receipt for another amount is refused, not returned for payment."""
    sandbox = Sandbox(httpx.Response(200, json=fixture("order_created")))

    with pytest.raises(GatewayError) as caught:
        await create(sandbox.gateway(), amount=40_000)

    assert caught.value.retryable is False


async def test_create_order_rejects_naive_expiry_without_calling() -> None:
    """A naive expires_at is refused before any request is sent."""
    sandbox = Sandbox()

    with pytest.raises(GatewayError) as caught:
        await sandbox.gateway().create_order(
            booking_id=BOOKING_ID,
            amount=1,
            currency="INR",
            idempotency_key="k",
            expires_at=datetime(2025, 3, 10, 9, 40),
        )

    assert caught.value.retryable is False
    assert sandbox.requests == []


@pytest.mark.parametrize(
    ("answer", "retryable", "status"),
    [
        (httpx.ConnectError("connection refused"), True, None),
        (httpx.ReadTimeout("timed out"), True, None),
        (httpx.Response(429, json={"error": {"code": "rate_limited"}}), True, 429),
        (httpx.Response(503, text="upstream unavailable"), True, 503),
        (httpx.Response(401, json={"error": {"code": "invalid_api_key"}}), False, 401),
        (httpx.Response(422, json={"error": {"code": "invalid_amount"}}), False, 422),
    ],
)
async def test_create_order_error_mapping(
    answer: httpx.Response | Exception, retryable: bool, status: int | None
) -> None:
    """Transport errors, 429 and 5xx are retryable; other 4xx are not; nothing secret leaks."""
    sandbox = Sandbox(answer)

    with pytest.raises(GatewayError) as caught:
        await create(sandbox.gateway())

    assert caught.value.retryable is retryable
    assert caught.value.status_code == status
    assert API_KEY not in str(caught.value)
    assert str(BOOKING_ID) not in str(caught.value)
    assert caught.value.__cause__ is None
    if status is not None:
        assert str(status) in str(caught.value)


async def test_error_message_carries_machine_code_only() -> None:
    """A 4xx message names the sandbox's code and never free text from the answer."""
    answer = httpx.Response(
        400, json={"error": {"code": "order_expired", "message": "for jane@example.com"}}
    )
    sandbox = Sandbox(answer)

    with pytest.raises(GatewayError) as caught:
        await create(sandbox.gateway())

    assert "order_expired" in str(caught.value)
    assert "jane" not in str(caught.value)


async def test_create_order_2xx_without_order_is_retryable() -> None:
    """A 2xx that is not an order (a proxy's page, say) is worth a retry."""
    sandbox = Sandbox(httpx.Response(200, text="<html>ok</html>"))

    with pytest.raises(GatewayError) as caught:
        await create(sandbox.gateway())

    assert caught.value.retryable is True


async def test_cancel_order_is_false_without_a_call() -> None:
    """Sandbox orders cannot be cancelled: cancel_order answers False and sends nothing."""
    sandbox = Sandbox()

    assert await sandbox.gateway().cancel_order("order_sbx_7f3a1c") is False
    assert sandbox.requests == []


async def test_refund_posts_with_idempotency_key() -> None:
    """Refund POSTs payment id, amount and reason with the caller's Idempotency-Key."""
    sandbox = Sandbox(httpx.Response(200, json=fixture("refund_processed")))

    refund = await sandbox.gateway().refund(
        order_id="order_sbx_7f3a1c",
        payment_id="pay_sbx_44d0",
        amount=20_000,
        currency="INR",
        idempotency_key=f"{BOOKING_ID}:refund",
    )

    assert (refund.refund_id, refund.amount, refund.currency, refund.status) == (
        "rfnd_sbx_91b2",
        20_000,
        "INR",
        "processed",
    )
    [request] = sandbox.requests
    assert str(request.url) == f"{BASE_URL}/v1/refunds"
    assert request.headers["Idempotency-Key"] == f"{BOOKING_ID}:refund"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert json.loads(request.content) == {
        "payment_id": "pay_sbx_44d0",
        "amount": 20_000,
        "reason": REFUND_REASON,
    }


async def test_refund_server_error_is_retryable() -> None:
    """A 500 from the refund call is retryable."""
    sandbox = Sandbox(httpx.Response(500))

    with pytest.raises(GatewayError) as caught:
        await sandbox.gateway().refund(
            order_id="o", payment_id="p", amount=1, currency="INR", idempotency_key="k"
        )

    assert (caught.value.retryable, caught.value.status_code) == (True, 500)


def signed(body: bytes, *secrets: str, timestamp: int = NOW) -> dict[str, str]:
    """The headers the sandbox sends, computed independently of core.signing."""
    parts = [f"t={timestamp}"]
    for secret in secrets:
        mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
        parts.append(f"v1={mac.hexdigest()}")
    return {"Sandbox-Signature": ",".join(parts)}


def test_verify_accepts_fresh_signature() -> None:
    """A header signed with the secret over "{t}.{body}" within 300 s verifies."""
    body = json.dumps(fixture("event_payment_captured")).encode()

    SandboxVerifier([SECRET]).verify(body, signed(body, SECRET), now=NOW + 299)


def test_verify_matches_core_signing() -> None:
    """The sandbox header is exactly what core.signing.sign_header produces."""
    body = b'{"id":"evt_1"}'

    assert signed(body, SECRET)["Sandbox-Signature"] == sign_header([SECRET], NOW, body)


def test_verify_looks_header_up_case_insensitively() -> None:
    """Lower-cased header names (as ASGI servers pass them) still verify."""
    body = b'{"id":"evt_1"}'
    headers = {"sandbox-signature": signed(body, SECRET)["Sandbox-Signature"]}

    SandboxVerifier([SECRET]).verify(body, headers, now=NOW)


def test_verify_accepts_any_rotated_secret() -> None:
    """During a rotation a body signed with the old secret verifies against both."""
    body = b'{"id":"evt_1"}'

    SandboxVerifier(["whsec_new", SECRET]).verify(body, signed(body, SECRET), now=NOW)


@pytest.mark.parametrize(
    ("headers", "now"),
    [
        ({}, NOW),
        ({"Sandbox-Signature": "v1=abc"}, NOW),
        (signed(b'{"id":"evt_1"}', "whsec_wrong"), NOW),
        (signed(b'{"id":"evt_1"}', SECRET), NOW + 301),
        (signed(b'{"id":"evt_1"}', SECRET), NOW - 301),
        (signed(b'{"id":"evt_2"}', SECRET), NOW),
    ],
    ids=["missing", "malformed", "wrong-secret", "stale", "future", "other-body"],
)
def test_verify_rejects(headers: dict[str, str], now: int) -> None:
    """Missing, malformed, wrongly keyed, stale, future or body-mismatched signatures fail."""
    with pytest.raises(InvalidSignature):
        SandboxVerifier([SECRET]).verify(b'{"id":"evt_1"}', headers, now=now)


def test_verifier_needs_a_secret() -> None:
    """A verifier without secrets is a configuration error, not one that rejects everything."""
    with pytest.raises(ValueError, match="secret"):
        SandboxVerifier([])


def test_parse_payment_captured() -> None:
    """payment.captured carries event id, order, payment, amount, currency, time and receipt."""
    body = json.dumps(fixture("event_payment_captured")).encode()

    event = SandboxVerifier([SECRET]).parse(body, {})

    assert event.provider == "sandbox"
    assert event.event_id == "evt_sbx_0001"
    assert (event.type, event.raw_type) == ("payment.captured", "payment.captured")
    assert (event.order_id, event.payment_id) == ("order_sbx_7f3a1c", "pay_sbx_44d0")
    assert (event.amount, event.currency) == (50_000, "INR")
    assert event.occurred_at == datetime.fromtimestamp(1741599000, tz=UTC)
    assert event.reference == str(BOOKING_ID)


@pytest.mark.parametrize("kind", ["payment.failed", "refund.processed"])
def test_parse_other_known_types(kind: str) -> None:
    """payment.failed and refund.processed keep their type and the data's ids."""
    event_body = {**fixture("event_payment_captured"), "type": kind}

    event = SandboxVerifier([SECRET]).parse(json.dumps(event_body).encode(), {})

    assert event.type == kind
    assert event.order_id == "order_sbx_7f3a1c"
    assert event.payment_id == "pay_sbx_44d0"


def test_parse_failed_payment_without_payment_id() -> None:
    """A failure need not name a payment: only the order is required."""
    body = {"id": "evt_2", "type": "payment.failed", "created": NOW, "data": {"order_id": "o1"}}

    event = SandboxVerifier([SECRET]).parse(json.dumps(body).encode(), {})

    assert (event.type, event.order_id, event.payment_id, event.amount) == (
        "payment.failed",
        "o1",
        None,
        None,
    )


def test_parse_unknown_type_is_other() -> None:
    """Unknown event types become "other" with the raw type kept and nothing to act on."""
    body = {**fixture("event_payment_captured"), "type": "order.expired"}

    event = SandboxVerifier([SECRET]).parse(json.dumps(body).encode(), {})

    assert (event.type, event.raw_type) == ("other", "order.expired")
    assert (event.order_id, event.payment_id, event.amount) == (None, None, None)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"type": "payment.captured", "data": {}}).encode(),
        json.dumps({"id": "evt_3", "type": "payment.captured"}).encode(),
        json.dumps(
            {"id": "evt_3", "type": "payment.captured", "data": {"order_id": "o1"}}
        ).encode(),
    ],
    ids=["not-json", "not-object", "no-id", "no-data", "capture-without-amount"],
)
def test_parse_rejects_unusable_bodies(body: bytes) -> None:
    """Bodies without an id, data or a capture's amount raise ValueError."""
    with pytest.raises(ValueError):  # noqa: PT011
        SandboxVerifier([SECRET]).parse(body, {})
