"""Stripe: PaymentIntent and refund calls as Stripe documents them, and its signed webhooks.

Answers and events are shaped like Stripe's API reference; signatures follow
Stripe's documented scheme (HMAC-SHA256 of ``"{t}.{payload}"`` with the endpoint
secret, hex, in ``Stripe-Signature: t=…,v1=…``), computed here independently.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import stripe

from integrations.gateways.base import GatewayError, GatewayOrder, InvalidSignature
from integrations.gateways.stripe import StripeGateway, StripeVerifier, checkout_reference

from support.http import ScriptedHTTP, json_fixture

FIXTURES = Path(__file__).parent / "fixtures" / "stripe"
API_BASE = "https://api.stripe.test"
API_KEY = "sk_test_51Hx_do_not_log_secret"
BOOKING_ID = uuid.UUID("3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17")
INTENT_ID = "pi_3MtwBwLkdIwHu7ix28a3tqPa"
CHARGE_ID = "ch_3MtwBwLkdIwHu7ix0snN0B15"
SECRET = "whsec_test_stripe_endpoint_secret"
NOW = 1_741_599_300


def fixture(name: str) -> dict[str, Any]:
    """Load one Stripe answer or event."""
    return json_fixture(FIXTURES, name)


def form(request: httpx.Request) -> dict[str, str]:
    """A form-encoded request body as a flat dict (every key once)."""
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    return {key: values[0] for key, values in parse_qs(request.content.decode()).items()}


class Stripe(ScriptedHTTP):
    """A scripted Stripe API: answers requests in order and records them."""

    def gateway(self) -> StripeGateway:
        return StripeGateway(self.client(), API_BASE, API_KEY)


async def create(gateway: StripeGateway) -> GatewayOrder:
    return await gateway.create_order(
        booking_id=BOOKING_ID,
        amount=50_000,
        currency="INR",
        idempotency_key=f"{BOOKING_ID}:order",
        expires_at=datetime(2025, 3, 10, 9, 40, tzinfo=UTC),
    )


async def test_create_order_posts_form_encoded_payment_intent() -> None:
    """create_order POSTs a form with amount, lowercase currency, metadata and automatic methods."""
    stripe = Stripe(httpx.Response(200, json=fixture("payment_intent_created")))

    order = await create(stripe.gateway())

    [request] = stripe.requests
    assert request.method == "POST"
    assert str(request.url) == f"{API_BASE}/v1/payment_intents"
    assert form(request) == {
        "amount": "50000",
        "currency": "inr",
        "metadata[booking_id]": str(BOOKING_ID),
        "automatic_payment_methods[enabled]": "true",
    }
    assert request.headers["Idempotency-Key"] == f"{BOOKING_ID}:order"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert order == GatewayOrder(
        provider="stripe",
        order_id=INTENT_ID,
        amount=50_000,
        currency="INR",
        checkout_url=f"stripe:payment_intent:{INTENT_ID}",
        status="requires_payment_method",
    )


async def test_create_order_never_exposes_client_secret() -> None:
    """The intent's client secret appears nowhere in the order returned."""
    stripe = Stripe(httpx.Response(200, json=fixture("payment_intent_created")))

    order = await create(stripe.gateway())

    assert "_secret_" not in repr(order)
    assert order.checkout_url == checkout_reference(INTENT_ID)


@pytest.mark.parametrize(
    ("answer", "retryable", "status", "code"),
    [
        (httpx.ConnectError("connection refused"), True, None, None),
        (httpx.ReadTimeout("timed out"), True, None, None),
        (httpx.Response(429, json=fixture("error_rate_limit")), True, 429, "rate_limit"),
        (httpx.Response(500, json={"error": {"type": "api_error"}}), True, 500, "api_error"),
        (httpx.Response(502, text="Bad Gateway"), True, 502, None),
        (httpx.Response(409, json={"error": {"type": "idempotency_error"}}), True, 409, None),
        (
            httpx.Response(400, json=fixture("error_idempotency")),
            False,
            400,
            "idempotency_error",
        ),
        (
            httpx.Response(401, json=fixture("error_invalid_api_key")),
            False,
            401,
            "invalid_request_error",
        ),
    ],
    ids=["connect", "timeout", "429", "500", "502", "409-in-flight", "400-key-reuse", "401"],
)
async def test_create_order_error_mapping(
    answer: httpx.Response | Exception, retryable: bool, status: int | None, code: str | None
) -> None:
    """Transport, 409 (same key in flight), 429 and 5xx retry; other 4xx do not; no secrets."""
    stripe = Stripe(answer)

    with pytest.raises(GatewayError) as caught:
        await create(stripe.gateway())

    error = caught.value
    assert (error.retryable, error.status_code) == (retryable, status)
    assert API_KEY not in str(error)
    assert "sk_test" not in str(error)
    assert str(BOOKING_ID) not in str(error)
    assert error.__cause__ is None
    if code is not None:
        assert code in str(error)


async def test_cancel_order_posts_cancel() -> None:
    """cancel_order POSTs to the intent's cancel endpoint and answers True."""
    stripe = Stripe(httpx.Response(200, json=fixture("payment_intent_canceled")))

    assert await stripe.gateway().cancel_order(INTENT_ID) is True
    [request] = stripe.requests
    assert str(request.url) == f"{API_BASE}/v1/payment_intents/{INTENT_ID}/cancel"
    assert request.method == "POST"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"


async def test_cancel_order_of_succeeded_intent_is_false() -> None:
    """Stripe refusing to cancel a succeeded intent means payment cannot be stopped: False."""
    stripe = Stripe(httpx.Response(400, json=fixture("error_cancel_succeeded")))

    assert await stripe.gateway().cancel_order(INTENT_ID) is False


async def test_cancel_order_of_already_canceled_intent_is_true() -> None:
    """A retried cancel that finds the intent canceled has stopped payment: True."""
    stripe = Stripe(httpx.Response(400, json=fixture("error_cancel_canceled")))

    assert await stripe.gateway().cancel_order(INTENT_ID) is True


async def test_cancel_order_other_errors_raise() -> None:
    """Other refusals raise (404 for good, 503 to retry) instead of answering False."""
    missing = {"error": {"code": "resource_missing", "type": "invalid_request_error"}}
    stripe = Stripe(httpx.Response(404, json=missing), httpx.Response(503))

    with pytest.raises(GatewayError) as gone:
        await stripe.gateway().cancel_order("pi_missing")
    with pytest.raises(GatewayError) as down:
        await stripe.gateway().cancel_order(INTENT_ID)

    assert (gone.value.retryable, "resource_missing" in str(gone.value)) == (False, True)
    assert down.value.retryable is True


async def test_cancel_order_quotes_the_id_into_the_path() -> None:
    """An id with a slash cannot reach another endpoint."""
    stripe = Stripe(httpx.Response(200, json=fixture("payment_intent_canceled")))

    await stripe.gateway().cancel_order("pi_1/../../v1/refunds")

    assert (
        stripe.requests[0].url.raw_path
        == b"/v1/payment_intents/pi_1%2F..%2F..%2Fv1%2Frefunds/cancel"
    )


async def test_refund_posts_payment_intent_amount_and_key() -> None:
    """Refund POSTs payment_intent and amount with the caller's Idempotency-Key."""
    stripe = Stripe(httpx.Response(200, json=fixture("refund")))

    refund = await stripe.gateway().refund(
        order_id=INTENT_ID,
        payment_id=CHARGE_ID,
        amount=20_000,
        currency="INR",
        idempotency_key=f"{BOOKING_ID}:refund:{CHARGE_ID}",
    )

    [request] = stripe.requests
    assert str(request.url) == f"{API_BASE}/v1/refunds"
    assert form(request) == {"payment_intent": INTENT_ID, "amount": "20000"}
    assert request.headers["Idempotency-Key"] == f"{BOOKING_ID}:refund:{CHARGE_ID}"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert (refund.refund_id, refund.amount, refund.currency, refund.status) == (
        "re_3MtwBwLkdIwHu7ix0q9pxDz1",
        20_000,
        "INR",
        "succeeded",
    )


async def test_refund_refused_is_not_retryable() -> None:
    """A refund Stripe refuses (already refunded) is final, carrying Stripe's code."""
    body = {"error": {"code": "charge_already_refunded", "type": "invalid_request_error"}}
    stripe = Stripe(httpx.Response(400, json=body))

    with pytest.raises(GatewayError) as caught:
        await stripe.gateway().refund(
            order_id=INTENT_ID, payment_id=CHARGE_ID, amount=1, currency="INR", idempotency_key="k"
        )

    assert caught.value.retryable is False
    assert "charge_already_refunded" in str(caught.value)


def stripe_signature(body: bytes, secret: str, timestamp: int) -> str:
    """One v1 signature, per Stripe's docs: hex HMAC-SHA256(secret, f"{t}.{payload}")."""
    signed_payload = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed_payload, hashlib.sha256).hexdigest()


def event_body(name: str = "evt_payment_intent_succeeded") -> bytes:
    return json.dumps(fixture(name)).encode()


def test_verify_accepts_stripe_documented_signature() -> None:
    """A header built per Stripe's docs for a known secret, body and timestamp verifies."""
    body = event_body()
    header = f"t={NOW},v1={stripe_signature(body, SECRET, NOW)}"

    StripeVerifier([SECRET]).verify(body, {"Stripe-Signature": header}, now=NOW + 10)


def test_verify_ignores_v0_and_accepts_any_v1() -> None:
    """With several v1 values (Stripe rolling a secret) one match suffices; v0 is ignored."""
    body = event_body()
    header = (
        f"t={NOW},v1={stripe_signature(body, 'whsec_rolled', NOW)},"
        f"v1={stripe_signature(body, SECRET, NOW)},v0=6ffbb59b2300aae63f272406069a9788598b792a"
    )

    StripeVerifier([SECRET]).verify(body, {"stripe-signature": header}, now=NOW)


def test_verify_accepts_either_configured_secret() -> None:
    """During our own rotation, a body signed with the old endpoint secret still verifies."""
    body = event_body()
    header = f"t={NOW},v1={stripe_signature(body, SECRET, NOW)}"

    StripeVerifier(["whsec_new_one", SECRET]).verify(body, {"Stripe-Signature": header}, now=NOW)


@pytest.mark.parametrize(
    ("secret", "timestamp", "now", "tamper"),
    [
        ("whsec_wrong", NOW, NOW, False),
        (SECRET, NOW, NOW + 301, False),
        (SECRET, NOW + 301, NOW, False),
        (SECRET, NOW, NOW, True),
    ],
    ids=["wrong-secret", "stale", "future", "tampered-body"],
)
def test_verify_rejects(secret: str, timestamp: int, now: int, tamper: bool) -> None:
    """A wrong secret, a timestamp over 300 s off, or a changed body fails verification."""
    body = event_body()
    header = f"t={timestamp},v1={stripe_signature(body, secret, timestamp)}"
    received = body.replace(b"50000", b"50001") if tamper else body

    with pytest.raises(InvalidSignature):
        StripeVerifier([SECRET]).verify(received, {"Stripe-Signature": header}, now=now)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Stripe-Signature": ""}, {"Stripe-Signature": f"t={NOW}"}, {"Stripe-Signature": "v1=ab"}],
    ids=["absent", "empty", "no-v1", "no-t"],
)
def test_verify_rejects_missing_or_malformed_header(headers: dict[str, str]) -> None:
    """An absent, empty or incomplete Stripe-Signature fails verification."""
    with pytest.raises(InvalidSignature):
        StripeVerifier([SECRET]).verify(event_body(), headers, now=NOW)


def test_parse_payment_intent_succeeded() -> None:
    """A succeeded intent is a capture: intent id, latest charge, amount_received, booking ref."""
    event = StripeVerifier([SECRET]).parse(event_body(), {})

    assert event.provider == "stripe"
    assert event.event_id == "evt_3MtwBwLkdIwHu7ix1Hk0iT7b"
    assert (event.type, event.raw_type) == ("payment.captured", "payment_intent.succeeded")
    assert (event.order_id, event.payment_id) == (INTENT_ID, CHARGE_ID)
    assert (event.amount, event.currency) == (50_000, "INR")
    assert event.occurred_at == datetime.fromtimestamp(NOW, tz=UTC)
    assert event.reference == str(BOOKING_ID)


def test_parse_captured_uses_amount_received_not_amount() -> None:
    """The captured amount is what Stripe received, not what the intent asked for."""
    body = fixture("evt_payment_intent_succeeded")
    body["data"]["object"]["amount_received"] = 30_000

    event = StripeVerifier([SECRET]).parse(json.dumps(body).encode(), {})

    assert event.amount == 30_000


def test_parse_captured_without_latest_charge_uses_intent_id() -> None:
    """Without latest_charge (older API versions) the payment id is the intent id."""
    body = fixture("evt_payment_intent_succeeded")
    del body["data"]["object"]["latest_charge"]

    event = StripeVerifier([SECRET]).parse(json.dumps(body).encode(), {})

    assert event.payment_id == INTENT_ID


def test_parse_payment_failed() -> None:
    """payment_intent.payment_failed is a failure on the intent."""
    event = StripeVerifier([SECRET]).parse(event_body("evt_payment_intent_payment_failed"), {})

    assert (event.type, event.order_id) == ("payment.failed", INTENT_ID)
    assert event.payment_id == "ch_3MtwBwLkdIwHu7ix0declin3"


def test_parse_charge_refunded() -> None:
    """charge.refunded is a refund of the charge, for the amount refunded so far."""
    event = StripeVerifier([SECRET]).parse(event_body("evt_charge_refunded"), {})

    assert (event.type, event.raw_type) == ("refund.processed", "charge.refunded")
    assert (event.order_id, event.payment_id) == (INTENT_ID, CHARGE_ID)
    assert (event.amount, event.currency) == (20_000, "INR")


def test_parse_refund_updated_succeeded() -> None:
    """refund.updated with status succeeded is a refund of the refund's charge and amount."""
    event = StripeVerifier([SECRET]).parse(event_body("evt_refund_updated"), {})

    assert (event.type, event.order_id, event.payment_id) == (
        "refund.processed",
        INTENT_ID,
        CHARGE_ID,
    )
    assert event.amount == 20_000


@pytest.mark.parametrize("status", ["pending", "failed", "canceled"])
def test_parse_refund_updated_not_succeeded_is_other(status: str) -> None:
    """A refund that has not succeeded is nothing to act on yet."""
    body = fixture("evt_refund_updated")
    body["data"]["object"]["status"] = status

    event = StripeVerifier([SECRET]).parse(json.dumps(body).encode(), {})

    assert (event.type, event.amount, event.order_id) == ("other", None, None)


def test_parse_unmapped_type_is_other() -> None:
    """Event types the engine does not act on become "other" with the raw type kept."""
    body = fixture("evt_payment_intent_succeeded")
    body["type"] = "payment_intent.created"

    event = StripeVerifier([SECRET]).parse(json.dumps(body).encode(), {})

    assert (event.type, event.raw_type, event.payment_id) == (
        "other",
        "payment_intent.created",
        None,
    )


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        json.dumps({"type": "payment_intent.succeeded", "data": {"object": {}}}).encode(),
        json.dumps({"id": "evt_1", "type": "payment_intent.succeeded"}).encode(),
        json.dumps(
            {"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi"}}}
        ).encode(),
    ],
    ids=["not-json", "no-id", "no-object", "capture-without-amount"],
)
def test_parse_rejects_unusable_bodies(body: bytes) -> None:
    """Bodies without an id, an object, or a capture's amount raise ValueError."""
    with pytest.raises(ValueError):  # noqa: PT011
        StripeVerifier([SECRET]).parse(body, {})


async def test_list_transactions_pages_through_charges_and_keeps_captures_and_refunds() -> None:
    """Captured charges (every page) and succeeded refunds; failed ones are not money moved."""
    stripe = Stripe(
        httpx.Response(200, json=fixture("charges_page_1")),
        httpx.Response(200, json=fixture("charges_page_2")),
        httpx.Response(200, json=fixture("refunds_list")),
    )
    since = datetime.fromtimestamp(1_741_598_000, tz=UTC)

    records = await stripe.gateway().list_transactions(since)

    charges, second, refunds = stripe.requests
    assert charges.url.params["created[gte]"] == "1741598000"
    assert second.url.params["starting_after"] == "ch_3MtwBwLkdIwHu7ix1failed00"
    assert refunds.url.path == "/v1/refunds"
    assert [(r.kind, r.id, r.payment_id, r.order_id, r.amount, r.currency) for r in records] == [
        ("capture", CHARGE_ID, CHARGE_ID, INTENT_ID, 50_000, "INR"),
        (
            "capture",
            "ch_3MtwBwLkdIwHu7ix2second00",
            "ch_3MtwBwLkdIwHu7ix2second00",
            "pi_3MtwBwLkdIwHu7ix28a3tqPc",
            12_000,
            "INR",
        ),
        ("refund", "re_3MtwBwLkdIwHu7ix0T4tF9sW", CHARGE_ID, INTENT_ID, 20_000, "INR"),
    ]
    assert records[0].created_at == datetime.fromtimestamp(1_741_599_000, tz=UTC)


def test_stripes_own_library_signs_what_we_accept_and_accepts_what_we_sign() -> None:
    """The official ``stripe`` package is the oracle, both ways; a changed body fails.

    Its header verifies with us; a header made by our reading of the scheme
    verifies with ``stripe.Webhook.construct_event``.
    """
    body = event_body()
    now = int(time.time())
    theirs = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET, now)
    ours = f"t={now},v1={stripe_signature(body, SECRET, now)}"

    StripeVerifier([SECRET]).verify(body, {"Stripe-Signature": theirs}, now=now)
    event = stripe.Webhook.construct_event(body, ours, SECRET)
    with pytest.raises(InvalidSignature):
        StripeVerifier([SECRET]).verify(body + b" ", {"Stripe-Signature": theirs}, now=now)

    assert event["id"] == json.loads(body)["id"]
