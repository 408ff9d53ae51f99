"""A checkout's return URL reaches each gateway in the field it reads it from."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx

from integrations.gateways.payhere import PayHereGateway
from integrations.gateways.paytm import PaytmGateway
from integrations.gateways.razorpay import RazorpayGateway
from integrations.gateways.sandbox import SandboxGateway
from integrations.gateways.stripe import StripeGateway

BOOKING = uuid.UUID("3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17")
RETURN = f"https://shop.example.com/booked?lang=en&booking_id={BOOKING}"
EXPIRES = datetime(2030, 1, 1, tzinfo=UTC)


def _client(answer: Callable[[httpx.Request], httpx.Response], seen: list[httpx.Request]):
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def _create(gateway: object) -> object:
    return await gateway.create_order(  # type: ignore[attr-defined]
        booking_id=BOOKING,
        amount=50_000,
        currency="INR",
        idempotency_key="k",
        expires_at=EXPIRES,
        return_url=RETURN,
    )


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


async def test_stripe_records_success_and_cancel_urls_on_the_intent() -> None:
    """The PaymentIntent's metadata carries both URLs, each with its outcome."""
    seen: list[httpx.Request] = []
    intent = {"id": "pi_1", "status": "requires_payment_method", "amount": 50_000}
    answer = {**intent, "currency": "inr"}
    async with _client(lambda _: httpx.Response(200, json=answer), seen) as client:
        await _create(StripeGateway(client, "https://api.stripe.test", "sk_test"))

    form = {k: v[0] for k, v in parse_qs(seen[0].content.decode()).items()}
    assert _query(form["metadata[success_url]"])["outcome"] == ["paid"]
    assert _query(form["metadata[cancel_url]"])["outcome"] == ["declined"]
    assert _query(form["metadata[success_url]"])["booking_id"] == [str(BOOKING)]
    assert _query(form["metadata[success_url]"])["lang"] == ["en"]


async def test_razorpay_sends_the_callback_url_with_the_order() -> None:
    """The order's notes carry callback_url for Checkout.js."""
    seen: list[httpx.Request] = []
    order = {"id": "order_1", "status": "created", "amount": 50_000, "currency": "INR"}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"items": []} if request.method == "GET" else order)

    async with _client(answer, seen) as client:
        await _create(RazorpayGateway(client, "https://api.razorpay.test", "rzp_id", "secret"))

    created = json.loads(seen[-1].content)
    assert created["notes"]["callback_url"] == RETURN


async def test_paytm_takes_it_as_the_callback_url_over_the_configured_one() -> None:
    """InitiateTransaction's callbackUrl is the page the customer came from."""
    seen: list[httpx.Request] = []
    body = {"resultInfo": {"resultStatus": "S", "resultCode": "0000"}, "txnToken": "tok"}
    async with _client(lambda _: httpx.Response(200, json={"body": body}), seen) as client:
        gateway = PaytmGateway(
            client, "https://paytm.test", "MID", "key_1234567890ab", "WEB", "https://cb.test/x"
        )
        await _create(gateway)

    assert json.loads(seen[0].content)["body"]["callbackUrl"] == RETURN


async def test_payhere_checkout_form_carries_return_and_cancel_urls() -> None:
    """No call (PayHere has no order API): the checkout reference carries both form fields."""
    seen: list[httpx.Request] = []
    async with _client(lambda _: httpx.Response(500), seen) as client:
        gateway = PayHereGateway(client, "https://payhere.test", "1211149", "secret", None, None)
        order = await _create(gateway)

    fields = _query(order.checkout_url)  # type: ignore[attr-defined]
    assert order.checkout_url.startswith(f"payhere:order:{BOOKING}:500.00:INR:")  # type: ignore[attr-defined]
    assert _query(fields["return_url"][0])["outcome"] == ["paid"]
    assert _query(fields["cancel_url"][0])["outcome"] == ["declined"]
    assert seen == []


async def test_sandbox_stores_the_return_url_with_the_order() -> None:
    """The sandbox's order request carries return_url as given."""
    seen: list[httpx.Request] = []
    order = {
        "id": "order_1",
        "status": "created",
        "amount": 50_000,
        "currency": "INR",
        "checkout_url": "http://sandbox.test/checkout/order_1",
    }
    async with _client(lambda _: httpx.Response(201, json=order), seen) as client:
        await _create(SandboxGateway(client, "http://sandbox.test", "key"))

    assert json.loads(seen[0].content)["return_url"] == RETURN
