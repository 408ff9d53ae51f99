"""Razorpay: order and refund calls as Razorpay documents them, and its signed webhooks.

Answers and webhook payloads are shaped like Razorpay's API and webhook docs;
signatures are hex HMAC-SHA256 of the raw body with the webhook secret, as
Razorpay documents, computed here independently.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import razorpay

from integrations.gateways.base import GatewayError, GatewayOrder, InvalidSignature
from integrations.gateways.razorpay import RazorpayGateway, RazorpayVerifier, checkout_reference

from support.http import ScriptedHTTP, json_fixture

FIXTURES = Path(__file__).parent / "fixtures" / "razorpay"
API_BASE = "https://api.razorpay.test"
KEY_ID = "rzp_test_1DP5mmOlF5G5ag"
KEY_SECRET = "thisisasecretkey_do_not_log"
BOOKING_ID = uuid.UUID("3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17")
ORDER_ID = "order_EKwxwAgItmmXdp"
PAYMENT_ID = "pay_29QQoUBi66xm2f"
SECRET = "razorpay_webhook_secret"
EVENT_ID = "KEwdeMzQ0tKuBp"


def fixture(name: str) -> dict[str, Any]:
    """Load one Razorpay answer or webhook payload."""
    return json_fixture(FIXTURES, name)


class Razorpay(ScriptedHTTP):
    """A scripted Razorpay API: answers requests in order and records them."""

    def gateway(self) -> RazorpayGateway:
        return RazorpayGateway(self.client(), API_BASE, KEY_ID, KEY_SECRET)


def basic_auth() -> str:
    return "Basic " + base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()


async def create(gateway: RazorpayGateway, currency: str = "INR") -> GatewayOrder:
    return await gateway.create_order(
        booking_id=BOOKING_ID,
        amount=50_000,
        currency=currency,
        idempotency_key=f"{BOOKING_ID}:order",
        expires_at=datetime(2025, 3, 10, 9, 40, tzinfo=UTC),
    )


async def test_create_order_looks_up_receipt_then_posts_json_order() -> None:
    """With no order for the receipt, create_order POSTs amount, currency, receipt and notes."""
    razorpay = Razorpay(
        httpx.Response(200, json=fixture("orders_none")),
        httpx.Response(200, json=fixture("order_created")),
    )

    order = await create(razorpay.gateway(), currency="inr")

    lookup, post = razorpay.requests
    assert lookup.method == "GET"
    assert lookup.url.path == "/v1/orders"
    assert lookup.url.params["receipt"] == str(BOOKING_ID)
    assert post.method == "POST"
    assert str(post.url) == f"{API_BASE}/v1/orders"
    assert json.loads(post.content) == {
        "amount": 50_000,
        "currency": "INR",
        "receipt": str(BOOKING_ID),
        "notes": {"booking_id": str(BOOKING_ID)},
    }
    for request in razorpay.requests:
        assert request.headers["Authorization"] == basic_auth()
    assert order == GatewayOrder(
        provider="razorpay",
        order_id=ORDER_ID,
        amount=50_000,
        currency="INR",
        checkout_url=f"razorpay:order:{ORDER_ID}",
        status="created",
    )


async def test_create_order_again_finds_the_first_order() -> None:
    """A retry finds the booking's order by exact receipt and terms, and creates nothing."""
    razorpay = Razorpay(httpx.Response(200, json=fixture("orders_by_receipt")))

    order = await create(razorpay.gateway())

    assert [r.method for r in razorpay.requests] == ["GET"]
    assert (order.order_id, order.status) == (ORDER_ID, "attempted")
    assert order.checkout_url == checkout_reference(ORDER_ID)


async def test_create_order_ignores_orders_for_other_terms() -> None:
    """An order with the receipt but another amount is not reused: a new one is created."""
    listed = fixture("orders_by_receipt")
    listed["items"] = [{**item, "amount": 1} for item in listed["items"]]
    razorpay = Razorpay(
        httpx.Response(200, json=listed), httpx.Response(200, json=fixture("order_created"))
    )

    order = await create(razorpay.gateway())

    assert [r.method for r in razorpay.requests] == ["GET", "POST"]
    assert order.order_id == ORDER_ID


async def test_receipt_is_cut_to_razorpay_limit() -> None:
    """Receipts never exceed Razorpay's 40 characters (a uuid is 36)."""
    razorpay = Razorpay(
        httpx.Response(200, json=fixture("orders_none")),
        httpx.Response(200, json=fixture("order_created")),
    )

    await create(razorpay.gateway())

    assert len(json.loads(razorpay.requests[1].content)["receipt"]) <= 40


@pytest.mark.parametrize(
    ("answer", "retryable", "status"),
    [
        (httpx.ConnectError("connection refused"), True, None),
        (httpx.ReadTimeout("timed out"), True, None),
        (httpx.Response(429, json={"error": {"code": "BAD_REQUEST_ERROR"}}), True, 429),
        (httpx.Response(500, json=fixture("error_server")), True, 500),
        (httpx.Response(400, json=fixture("error_bad_request")), False, 400),
        (httpx.Response(401, json={"error": {"code": "BAD_REQUEST_ERROR"}}), False, 401),
    ],
)
async def test_create_order_error_mapping(
    answer: httpx.Response | Exception, retryable: bool, status: int | None
) -> None:
    """Transport, 429 and 5xx retry; other 4xx do not; messages hold no keys or customer data."""
    razorpay = Razorpay(answer)

    with pytest.raises(GatewayError) as caught:
        await create(razorpay.gateway())

    error = caught.value
    assert (error.retryable, error.status_code) == (retryable, status)
    for secret in (KEY_ID, KEY_SECRET, str(BOOKING_ID), "gaurav", "@"):
        assert secret not in str(error)
    assert error.__cause__ is None


async def test_error_message_has_code_and_reason_not_description() -> None:
    """A refusal names Razorpay's code and reason, never its description (which quotes input)."""
    razorpay = Razorpay(httpx.Response(400, json=fixture("error_bad_request")))

    with pytest.raises(GatewayError) as caught:
        await create(razorpay.gateway())

    assert "BAD_REQUEST_ERROR/input_validation_failed" in str(caught.value)
    assert "atleast" not in str(caught.value)


async def test_cancel_order_is_false_without_a_call() -> None:
    """Razorpay orders cannot be cancelled: cancel_order answers False and sends nothing."""
    razorpay = Razorpay()

    assert await razorpay.gateway().cancel_order(ORDER_ID) is False
    assert razorpay.requests == []


async def test_refund_posts_amount_with_refund_idempotency_header() -> None:
    """Refund POSTs the amount to the payment's refund endpoint with X-Refund-Idempotency."""
    razorpay = Razorpay(httpx.Response(200, json=fixture("refund")))

    refund = await razorpay.gateway().refund(
        order_id=ORDER_ID,
        payment_id=PAYMENT_ID,
        amount=20_000,
        currency="INR",
        idempotency_key=f"{BOOKING_ID}:refund:{PAYMENT_ID}",
    )

    [request] = razorpay.requests
    assert str(request.url) == f"{API_BASE}/v1/payments/{PAYMENT_ID}/refund"
    assert json.loads(request.content) == {"amount": 20_000}
    assert request.headers["X-Refund-Idempotency"] == f"{BOOKING_ID}:refund:{PAYMENT_ID}"
    assert request.headers["Authorization"] == basic_auth()
    assert (refund.refund_id, refund.amount, refund.currency, refund.status) == (
        "rfnd_FP8QHiV938haTz",
        20_000,
        "INR",
        "processed",
    )


async def test_refund_server_error_is_retryable() -> None:
    """A 502 from the refund call is retryable."""
    razorpay = Razorpay(httpx.Response(502))

    with pytest.raises(GatewayError) as caught:
        await razorpay.gateway().refund(
            order_id=ORDER_ID, payment_id=PAYMENT_ID, amount=1, currency="INR", idempotency_key="k"
        )

    assert (caught.value.retryable, caught.value.status_code) == (True, 502)


def razorpay_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    """Headers as Razorpay sends them: hex HMAC-SHA256(secret, raw body) and the event id."""
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Razorpay-Signature": signature, "X-Razorpay-Event-Id": EVENT_ID}


def payload(name: str = "event_payment_captured") -> bytes:
    return json.dumps(fixture(name)).encode()


# The epoch, the fixtures' own time, and a date far past any window a timestamp could have.
NOWS = (0, 1_741_598_000, 10**12)


def verdict(body: bytes, headers: dict[str, str], now: float) -> str:
    """What ``RazorpayVerifier([SECRET])`` makes of a delivery: accepted or refused."""
    try:
        RazorpayVerifier([SECRET]).verify(body, headers, now=now)
    except InvalidSignature:
        return "refused"
    return "accepted"


def test_verify_accepts_documented_signature() -> None:
    """The hex HMAC-SHA256 of the raw body with the webhook secret verifies; another's does not."""
    body = payload()
    documented, other_key = razorpay_headers(body), razorpay_headers(body, "another_secret")

    assert (verdict(body, documented, 0), verdict(body, other_key, 0)) == ("accepted", "refused")


def test_verify_has_no_freshness_window() -> None:
    """Razorpay signs no timestamp: verification does not depend on now (dedupe does that)."""
    body = payload()
    signed, forged = razorpay_headers(body), razorpay_headers(body, "another_secret")

    verdicts = {now: (verdict(body, signed, now), verdict(body, forged, now)) for now in NOWS}

    assert verdicts == dict.fromkeys(NOWS, ("accepted", "refused"))


def test_verify_accepts_any_rotated_secret_case_insensitive_header() -> None:
    """Any configured secret verifies, and lower-cased header names are found."""
    body = payload()
    headers = {k.lower(): v for k, v in razorpay_headers(body, "old_secret").items()}

    RazorpayVerifier([SECRET, "old_secret"]).verify(body, headers, now=0)


@pytest.mark.parametrize(
    ("headers", "received"),
    [
        ({}, payload()),
        ({"X-Razorpay-Signature": ""}, payload()),
        (razorpay_headers(payload(), "wrong_secret"), payload()),
        (razorpay_headers(payload()), payload().replace(b"50000", b"50001")),
        ({"X-Razorpay-Signature": "zz" * 32}, payload()),
    ],
    ids=["absent", "empty", "wrong-secret", "tampered-body", "not-hex"],
)
def test_verify_rejects(headers: dict[str, str], received: bytes) -> None:
    """Absent, empty, wrongly keyed or body-mismatched signatures fail verification."""
    with pytest.raises(InvalidSignature):
        RazorpayVerifier([SECRET]).verify(received, headers, now=0)


def test_verifier_needs_a_secret() -> None:
    """A verifier without secrets is a configuration error."""
    with pytest.raises(ValueError, match="secret"):
        RazorpayVerifier([])


def test_parse_payment_captured() -> None:
    """payment.captured comes from the payment entity, with the event id from its header."""
    event = RazorpayVerifier([SECRET]).parse(payload(), razorpay_headers(payload()))

    assert event.provider == "razorpay"
    assert event.event_id == EVENT_ID
    assert (event.type, event.raw_type) == ("payment.captured", "payment.captured")
    assert (event.order_id, event.payment_id) == (ORDER_ID, PAYMENT_ID)
    assert (event.amount, event.currency) == (50_000, "INR")
    assert event.occurred_at == datetime.fromtimestamp(1741599300, tz=UTC)


def test_parse_payment_failed() -> None:
    """payment.failed names the order and the failed payment."""
    body = payload("event_payment_failed")

    event = RazorpayVerifier([SECRET]).parse(body, razorpay_headers(body))

    assert (event.type, event.order_id, event.payment_id) == (
        "payment.failed",
        ORDER_ID,
        "pay_DESlfW9H8K9uqM",
    )


def test_parse_refund_processed() -> None:
    """refund.processed takes payment, amount and currency from the refund entity."""
    body = payload("event_refund_processed")

    event = RazorpayVerifier([SECRET]).parse(body, razorpay_headers(body))

    assert event.type == "refund.processed"
    assert (event.payment_id, event.amount, event.currency) == (PAYMENT_ID, 20_000, "INR")
    assert event.order_id == ORDER_ID


def test_parse_order_paid_is_other() -> None:
    """order.paid is "other" so one payment is not counted twice alongside payment.captured."""
    body = payload("event_order_paid")

    event = RazorpayVerifier([SECRET]).parse(body, razorpay_headers(body))

    assert (event.type, event.raw_type) == ("other", "order.paid")
    assert (event.order_id, event.payment_id, event.amount) == (None, None, None)
    assert event.reference == str(BOOKING_ID)


def test_parse_requires_event_id_header() -> None:
    """Without X-Razorpay-Event-Id there is nothing to deduplicate on: ValueError."""
    with pytest.raises(ValueError, match="Event-Id"):
        RazorpayVerifier([SECRET]).parse(payload(), {"X-Razorpay-Signature": "ab"})


def test_parse_event_id_header_case_insensitive() -> None:
    """The event id header is found whatever its case."""
    event = RazorpayVerifier([SECRET]).parse(payload(), {"x-razorpay-event-id": EVENT_ID})

    assert event.event_id == EVENT_ID


@pytest.mark.parametrize(
    "body",
    [
        b"nope",
        json.dumps({"payload": {}}).encode(),
        json.dumps({"event": "payment.captured", "payload": {}}).encode(),
        json.dumps(
            {
                "event": "payment.captured",
                "payload": {"payment": {"entity": {"id": PAYMENT_ID, "order_id": ORDER_ID}}},
            }
        ).encode(),
    ],
    ids=["not-json", "no-type", "no-payment", "capture-without-amount"],
)
def test_parse_rejects_unusable_bodies(body: bytes) -> None:
    """Bodies without a type, a payment entity, or a capture's amount raise ValueError."""
    with pytest.raises(ValueError):  # noqa: PT011
        RazorpayVerifier([SECRET]).parse(body, {"X-Razorpay-Event-Id": EVENT_ID})


async def test_list_transactions_counts_refunded_payments_as_captured() -> None:
    """Captured and since-refunded payments are captures; failed ones are not; refunds listed."""
    razorpay = Razorpay(
        httpx.Response(200, json=fixture("payments_list")),
        httpx.Response(200, json=fixture("refunds_list")),
    )
    since = datetime.fromtimestamp(1_741_598_000, tz=UTC)

    records = await razorpay.gateway().list_transactions(since)

    payments, refunds = razorpay.requests
    assert payments.url.params["from"] == "1741598000"
    assert (payments.url.params["count"], payments.url.params["skip"]) == ("100", "0")
    assert refunds.url.path == "/v1/refunds"
    assert payments.headers["Authorization"] == basic_auth()
    assert [(r.kind, r.id, r.payment_id, r.amount) for r in records] == [
        ("capture", "pay_29QQoUBi66xm2f", "pay_29QQoUBi66xm2f", 50_000),
        ("capture", "pay_29QQoUBi66xm2g", "pay_29QQoUBi66xm2g", 30_000),
        ("refund", "rfnd_FP8QHiV938haTz", "pay_29QQoUBi66xm2g", 30_000),
    ]


def test_razorpays_own_library_agrees_with_our_verifier_both_ways() -> None:
    """The official ``razorpay`` package is the oracle: it and we agree on both signatures.

    Its ``Utility`` accepts the signature our verifier accepts, and refuses the
    one our verifier refuses.
    """
    body = payload()
    headers = razorpay_headers(body)
    utility = razorpay.Utility(razorpay.Client(auth=(KEY_ID, KEY_SECRET)))
    forged = {
        **headers,
        "X-Razorpay-Signature": razorpay_headers(body, "another")["X-Razorpay-Signature"],
    }

    RazorpayVerifier([SECRET]).verify(body, headers, now=0)
    assert utility.verify_webhook_signature(body.decode(), headers["X-Razorpay-Signature"], SECRET)
    with pytest.raises(InvalidSignature):
        RazorpayVerifier([SECRET]).verify(body, forged, now=0)
    with pytest.raises(razorpay.errors.SignatureVerificationError):
        utility.verify_webhook_signature(body.decode(), forged["X-Razorpay-Signature"], SECRET)
