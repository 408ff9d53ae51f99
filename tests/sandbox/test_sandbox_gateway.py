"""The sandbox gateway over HTTP, with a capturing MockTransport as the webhook receiver."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.signing import InvalidSignature, verify_header
from sandbox.app import Sandbox, SandboxConfig, create_app
from sandbox.checkout import format_amount

API_KEY = "sk_sandbox_test_key"
SECRETS = ["whsec_current_secret", "whsec_previous_secret"]
WEBHOOK_URL = "http://engine.test/v1/webhooks/sandbox"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Receiver:
    """The engine's webhook endpoint: records every request, answers from a script."""

    script: list[int | Exception] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script.pop(0) if self.script else 200
        if isinstance(step, Exception):
            raise step
        return httpx.Response(step)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


@dataclass
class Harness:
    """The sandbox app, its clients and what it delivered."""

    api: httpx.AsyncClient
    sandbox: Sandbox
    receiver: Receiver
    clock: Clock

    async def order(self, amount: int = 50_000, **extra: Any) -> dict[str, Any]:
        body = {"amount": amount, "currency": "INR", "receipt": f"bk-{time.time_ns()}", **extra}
        response = await self.api.post("/v1/orders", json=body, headers=AUTH)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def pay(self, order_id: str, outcome: str = "success") -> httpx.Response:
        return await self.api.post(f"/v1/orders/{order_id}/pay", json={"outcome": outcome})

    async def refund(self, key: str, payment_id: str, amount: int) -> httpx.Response:
        return await self.api.post(
            "/v1/refunds",
            json={"payment_id": payment_id, "amount": amount},
            headers={**AUTH, "Idempotency-Key": key},
        )


@asynccontextmanager
async def running(receiver: Receiver | None = None, **config: Any) -> AsyncIterator[Harness]:
    receiver = receiver or Receiver()
    clock = Clock()
    settings = SandboxConfig(
        api_key=API_KEY,
        webhook_url=WEBHOOK_URL,
        webhook_secrets=SECRETS,
        public_base_url="http://sandbox.test",
        **{"initial_backoff": 0.001, "max_backoff": 0.004, **config},
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver.handle)) as out:
        app = create_app(settings, webhook_client=out, clock=clock)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://sandbox.test"
            ) as api:
                yield Harness(api, app.state.sandbox, receiver, clock)


@pytest.fixture
async def gw() -> AsyncIterator[Harness]:
    """A sandbox whose webhook receiver answers 200."""
    async with running() as harness:
        yield harness


def assert_signed(request: httpx.Request) -> None:
    header = request.headers["Sandbox-Signature"]
    for secret in SECRETS:  # signed with every secret, so either side of a rotation verifies
        verify_header(header, request.content, [secret], now=time.time())
    with pytest.raises(InvalidSignature):
        verify_header(header, request.content, ["some-other-secret"], now=time.time())


async def test_order_is_idempotent_on_receipt(gw: Harness) -> None:
    """The same receipt returns the existing order with 200; other terms get 409."""
    body = {"amount": 12_345, "currency": "INR", "receipt": "booking-1", "notes": {"k": "v"}}
    first = await gw.api.post("/v1/orders", json=body, headers=AUTH)
    again = await gw.api.post("/v1/orders", json=body, headers=AUTH)
    other = await gw.api.post("/v1/orders", json={**body, "amount": 1}, headers=AUTH)

    assert first.status_code == 201
    order = first.json()
    assert re.fullmatch(r"order_[0-9a-f]{24}", order["id"])
    assert order["checkout_url"] == f"http://sandbox.test/checkout/{order['id']}"
    assert order["status"] == "created"
    assert (order["amount_paid"], order["amount_refunded"], order["payments"]) == (0, 0, [])
    assert order["expires_at"] is None
    assert again.status_code == 200
    assert again.json() == order
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "RECEIPT_CONFLICT"
    fetched = await gw.api.get(f"/v1/orders/{order['id']}", headers=AUTH)
    assert fetched.json() == order


@pytest.mark.parametrize(
    "change",
    [{"amount": "100"}, {"amount": 0}, {"amount": 1.5}, {"currency": "inr"}, {"receipt": ""}],
)
async def test_order_body_is_validated(gw: Harness, change: dict[str, Any]) -> None:
    """Amounts are strict positive integers, currencies three capitals, receipts non-empty."""
    body = {"amount": 100, "currency": "INR", "receipt": "r-1", **change}
    response = await gw.api.post("/v1/orders", json=body, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_unknown_order_is_not_found(gw: Harness) -> None:
    """Reading or paying an unknown order is a 404 NOT_FOUND envelope."""
    read = await gw.api.get("/v1/orders/order_missing", headers=AUTH)
    paid = await gw.pay("order_missing")
    assert read.status_code == paid.status_code == 404
    assert read.json()["error"]["code"] == paid.json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY}, {"Authorization": ""}],
)
async def test_merchant_endpoints_require_the_api_key(gw: Harness, headers: dict[str, str]) -> None:
    """Every merchant endpoint answers 401 UNAUTHENTICATED without ``Bearer <api_key>``."""
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", "/v1/orders", {"amount": 1, "currency": "INR", "receipt": "x"}),
        ("GET", "/v1/orders/order_x", None),
        ("GET", "/v1/payments", None),
        ("POST", "/v1/refunds", {"payment_id": "p", "amount": 1}),
        ("GET", "/v1/sandbox/events", None),
        ("GET", "/v1/sandbox/deliveries", None),
        ("GET", "/v1/sandbox/faults", None),
        ("PUT", "/v1/sandbox/faults", {"duplicate": 3}),
    ]
    for method, path, body in calls:
        response = await gw.api.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "UNAUTHENTICATED"
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert gw.sandbox.deliverer.faults.duplicate == 0


async def test_captured_payment_sends_a_signed_webhook(gw: Harness) -> None:
    """A successful pay captures, marks the order paid and POSTs a signed payment.captured."""
    order = await gw.order(amount=50_000)

    response = await gw.pay(order["id"])
    await gw.sandbox.drain()

    assert response.status_code == 200
    payment = response.json()
    assert re.fullmatch(r"pay_[0-9a-f]{24}", payment["id"])
    assert payment["status"] == "captured"
    assert (payment["order_id"], payment["amount"], payment["currency"]) == (
        order["id"],
        50_000,
        "INR",
    )
    (request,) = gw.receiver.requests
    assert str(request.url) == WEBHOOK_URL
    assert request.headers["Content-Type"] == "application/json"
    assert_signed(request)
    event = json.loads(request.content)
    assert re.fullmatch(r"evt_[0-9a-f]{24}", event["id"])
    assert event["type"] == "payment.captured"
    assert isinstance(event["created"], int)
    assert event["data"] == {
        "order_id": order["id"],
        "payment_id": payment["id"],
        "receipt": order["receipt"],
        "amount": 50_000,
        "currency": "INR",
        "status": "captured",
    }
    after = (await gw.api.get(f"/v1/orders/{order['id']}", headers=AUTH)).json()
    assert (after["status"], after["amount_paid"], after["payments"]) == ("paid", 50_000, [payment])
    events = (await gw.api.get("/v1/sandbox/events", headers=AUTH)).json()["items"]
    assert events == [event]


async def test_failure_then_success(gw: Harness) -> None:
    """A declined payment leaves the order open, so the customer's retry captures it."""
    order = await gw.order()

    failed = (await gw.pay(order["id"], "failure")).json()
    between = (await gw.api.get(f"/v1/orders/{order['id']}", headers=AUTH)).json()
    captured = (await gw.pay(order["id"], "success")).json()
    await gw.sandbox.drain()

    assert failed["status"] == "failed"
    assert (between["status"], between["amount_paid"]) == ("created", 0)
    assert captured["status"] == "captured"
    assert [e["type"] for e in gw.receiver.events()] == ["payment.failed", "payment.captured"]
    assert [e["data"]["payment_id"] for e in gw.receiver.events()] == [
        failed["id"],
        captured["id"],
    ]
    after = (await gw.api.get(f"/v1/orders/{order['id']}", headers=AUTH)).json()
    assert [p["status"] for p in after["payments"]] == ["failed", "captured"]
    assert (after["status"], after["amount_paid"]) == ("paid", order["amount"])


async def test_second_payment_on_a_paid_order_is_refused(gw: Harness) -> None:
    """Paying a paid order answers 409 ALREADY_PAID and announces nothing."""
    order = await gw.order()
    await gw.pay(order["id"])

    again = await gw.pay(order["id"])
    await gw.sandbox.drain()

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "ALREADY_PAID"
    assert len(gw.receiver.requests) == 1
    after = (await gw.api.get(f"/v1/orders/{order['id']}", headers=AUTH)).json()
    assert after["amount_paid"] == order["amount"]
    assert len(after["payments"]) == 1


async def test_late_payment_after_expiry_is_still_captured(gw: Harness) -> None:
    """Orders do not expire into refusal: a payment after ``expires_at`` is captured."""
    expires_at = gw.clock.now + timedelta(minutes=10)
    order = await gw.order(expires_at=expires_at.isoformat())
    gw.clock.now += timedelta(hours=1)

    response = await gw.pay(order["id"])
    await gw.sandbox.drain()

    assert response.status_code == 200
    assert response.json()["status"] == "captured"
    assert datetime.fromisoformat(order["expires_at"]) == expires_at
    assert [e["type"] for e in gw.receiver.events()] == ["payment.captured"]
    after = (await gw.api.get(f"/v1/orders/{order['id']}", headers=AUTH)).json()
    assert after["status"] == "paid"


async def test_refund_is_idempotent_on_its_key(gw: Harness) -> None:
    """The same Idempotency-Key returns the same refund; with another body it is 422."""
    order = await gw.order(amount=10_000)
    payment = (await gw.pay(order["id"])).json()

    first = await gw.refund("refund-key-1", payment["id"], 4_000)
    again = await gw.refund("refund-key-1", payment["id"], 4_000)
    reused = await gw.refund("refund-key-1", payment["id"], 5_000)
    missing_key = await gw.api.post(
        "/v1/refunds", json={"payment_id": payment["id"], "amount": 1}, headers=AUTH
    )
    await gw.sandbox.drain()

    assert first.status_code == 201
    refund = first.json()
    assert re.fullmatch(r"rfnd_[0-9a-f]{24}", refund["id"])
    assert refund["status"] == "processed"
    assert (refund["payment_id"], refund["order_id"], refund["amount"], refund["currency"]) == (
        payment["id"],
        order["id"],
        4_000,
        "INR",
    )
    assert again.status_code == 200
    assert again.json() == refund
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert missing_key.status_code == 422
    refunds = [e for e in gw.receiver.events() if e["type"] == "refund.processed"]
    assert len(refunds) == 1
    assert refunds[0]["data"]["refund_id"] == refund["id"]
    assert refunds[0]["data"]["amount"] == 4_000
    assert refunds[0]["data"]["status"] == "processed"
    after = (await gw.api.get(f"/v1/orders/{order['id']}", headers=AUTH)).json()
    assert after["amount_refunded"] == 4_000


async def test_refunds_never_exceed_the_capture(gw: Harness) -> None:
    """Refunds of one payment add up to at most its amount; beyond that is 422."""
    order = await gw.order(amount=1_000)
    payment = (await gw.pay(order["id"])).json()

    assert (await gw.refund("k1", payment["id"], 600)).status_code == 201
    too_much = await gw.refund("k2", payment["id"], 401)
    assert (await gw.refund("k3", payment["id"], 400)).status_code == 201
    one_more = await gw.refund("k4", payment["id"], 1)

    for response in (too_much, one_more):
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "REFUND_EXCEEDS_CAPTURE"
    after = (await gw.api.get(f"/v1/orders/{order['id']}", headers=AUTH)).json()
    assert after["amount_refunded"] == 1_000


async def test_failed_or_unknown_payments_cannot_be_refunded(gw: Harness) -> None:
    """A failed payment refunds with 422 PAYMENT_NOT_CAPTURED, an unknown one with 404."""
    order = await gw.order()
    failed = (await gw.pay(order["id"], "failure")).json()

    refused = await gw.refund("k-failed", failed["id"], 1)
    unknown = await gw.refund("k-unknown", "pay_missing", 1)

    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "PAYMENT_NOT_CAPTURED"
    assert unknown.status_code == 404


async def test_payments_since_lists_oldest_first(gw: Harness) -> None:
    """``GET /v1/payments?since=`` lists payments created at or after ``since``, oldest first."""
    early = await gw.order()
    late = await gw.order()
    (await gw.pay(early["id"], "failure")).json()
    gw.clock.now += timedelta(minutes=5)
    cutoff = gw.clock.now
    second = (await gw.pay(late["id"], "failure")).json()
    gw.clock.now += timedelta(minutes=5)
    third = (await gw.pay(late["id"])).json()

    since = await gw.api.get("/v1/payments", params={"since": cutoff.isoformat()}, headers=AUTH)
    everything = await gw.api.get("/v1/payments", headers=AUTH)
    naive = await gw.api.get("/v1/payments", params={"since": "2025-01-01T00:00:00"}, headers=AUTH)

    assert since.json()["items"] == [second, third]
    assert len(everything.json()["items"]) == 3
    assert naive.status_code == 422


async def test_webhook_is_retried_with_backoff_until_2xx() -> None:
    """Transport errors and non-2xx are retried, backoff doubling to its cap, each re-signed."""
    receiver = Receiver(script=[httpx.ConnectError("refused"), 500, 503, 500, 204])
    async with running(receiver, initial_backoff=0.001, max_backoff=0.003) as gw:
        order = await gw.order()
        await gw.pay(order["id"])
        await gw.sandbox.drain()
        deliveries = (await gw.api.get("/v1/sandbox/deliveries", headers=AUTH)).json()["items"]

    assert len(receiver.requests) == 5
    assert len({r.content for r in receiver.requests}) == 1
    for request in receiver.requests:
        assert_signed(request)
    event_id = receiver.events()[0]["id"]
    assert [d["event_id"] for d in deliveries] == [event_id] * 5
    assert [d["attempt"] for d in deliveries] == [1, 2, 3, 4, 5]
    assert [d["status_code"] for d in deliveries] == [None, 500, 503, 500, 204]
    assert "ConnectError" in deliveries[0]["error"]
    assert [d["retry_in"] for d in deliveries] == [0.001, 0.002, 0.003, 0.003, None]


async def test_webhook_delivery_gives_up_after_max_attempts() -> None:
    """A receiver that never answers 2xx gets exactly ``max_delivery_attempts`` tries."""
    receiver = Receiver(script=[500] * 10)
    async with running(receiver, max_delivery_attempts=3) as gw:
        order = await gw.order()
        await gw.pay(order["id"])
        await gw.sandbox.drain()
        deliveries = (await gw.api.get("/v1/sandbox/deliveries", headers=AUTH)).json()["items"]

    assert len(receiver.requests) == 3
    assert [d["attempt"] for d in deliveries] == [1, 2, 3]
    assert deliveries[-1]["retry_in"] is None


async def test_duplicate_fault_delivers_copies_with_one_event_id(gw: Harness) -> None:
    """With ``duplicate=N`` each event reaches the receiver N+1 times under one event id."""
    put = await gw.api.put("/v1/sandbox/faults", json={"duplicate": 2}, headers=AUTH)
    current = await gw.api.get("/v1/sandbox/faults", headers=AUTH)
    order = await gw.order()

    await gw.pay(order["id"])
    await gw.sandbox.drain()

    assert (
        put.json()
        == current.json()
        == {
            "duplicate": 2,
            "delay_ms": 0,
            "reorder": False,
            "refunds_unavailable": False,
        }
    )
    events = gw.receiver.events()
    assert len(events) == 3
    assert len({e["id"] for e in events}) == 1
    assert all(e["type"] == "payment.captured" for e in events)


async def test_faults_default_off_and_reset(gw: Harness) -> None:
    """Fault mode starts all off, and ``PUT {}`` turns it off again."""
    off = {"duplicate": 0, "delay_ms": 0, "reorder": False, "refunds_unavailable": False}
    initial = await gw.api.get("/v1/sandbox/faults", headers=AUTH)
    await gw.api.put("/v1/sandbox/faults", json={"duplicate": 1, "reorder": True}, headers=AUTH)
    reset = await gw.api.put("/v1/sandbox/faults", json={}, headers=AUTH)
    invalid = await gw.api.put("/v1/sandbox/faults", json={"duplicate": -1}, headers=AUTH)

    assert initial.json() == off
    assert reset.json() == off
    assert invalid.status_code == 422


async def test_refund_outage_answers_503_and_refunds_nothing_until_it_ends(gw: Harness) -> None:
    """With ``refunds_unavailable`` every refund is 503; the same key works once it is off."""
    order = await gw.order(amount=10_000)
    payment = (await gw.pay(order["id"])).json()
    await gw.api.put("/v1/sandbox/faults", json={"refunds_unavailable": True}, headers=AUTH)

    refused = await gw.refund("outage-key", payment["id"], 10_000)
    during = (await gw.api.get(f"/v1/orders/{order['id']}", headers=AUTH)).json()
    await gw.api.put("/v1/sandbox/faults", json={}, headers=AUTH)
    after = await gw.refund("outage-key", payment["id"], 10_000)

    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "UNAVAILABLE"
    assert during["amount_refunded"] == 0
    assert after.status_code == 201


async def test_delay_fault_holds_each_delivery(gw: Harness) -> None:
    """With ``delay_ms`` nothing reaches the receiver until the delay has passed."""
    await gw.api.put("/v1/sandbox/faults", json={"delay_ms": 300}, headers=AUTH)
    order = await gw.order()

    started = time.monotonic()
    await gw.pay(order["id"])
    held = list(gw.receiver.requests)
    await gw.sandbox.drain()
    elapsed = time.monotonic() - started

    assert held == []
    assert [e["type"] for e in gw.receiver.events()] == ["payment.captured"]
    assert elapsed >= 0.29  # the hold itself; the loop's clock may round a hair early


async def test_reorder_fault_delivers_an_orders_events_newest_first(gw: Harness) -> None:
    """With ``reorder`` an order's events within the window arrive newest first."""
    await gw.api.put("/v1/sandbox/faults", json={"reorder": True, "delay_ms": 500}, headers=AUTH)
    order = await gw.order()

    await gw.pay(order["id"], "failure")
    payment = (await gw.pay(order["id"])).json()
    await gw.refund("reorder-refund", payment["id"], 100)
    await gw.sandbox.drain()

    assert [e["type"] for e in gw.receiver.events()] == [
        "refund.processed",
        "payment.captured",
        "payment.failed",
    ]
    emitted = (await gw.api.get("/v1/sandbox/events", headers=AUTH)).json()["items"]
    assert [e["type"] for e in emitted] == [
        "payment.failed",
        "payment.captured",
        "refund.processed",
    ]


async def test_checkout_page_shows_amount_and_buttons(gw: Harness) -> None:
    """The checkout page shows the formatted amount, Pay and Decline posting to ``/pay``."""
    order = await gw.order(amount=123_450)

    page = await gw.api.get(f"/checkout/{order['id']}")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "1,234.50 INR" in html
    assert ">Pay</button>" in html
    assert ">Decline</button>" in html
    assert 'data-outcome="success"' in html
    assert 'data-outcome="failure"' in html
    assert f'"/v1/orders/{order["id"]}/pay"' in html
    assert "fetch(" in html
    assert re.search(r"(src|href)=\"https?://", html) is None  # no external assets


async def test_checkout_page_for_paid_and_unknown_orders(gw: Harness) -> None:
    """A paid order's page says "already paid" without buttons; an unknown order is a 404 page."""
    order = await gw.order()
    await gw.pay(order["id"])

    paid = await gw.api.get(f"/checkout/{order['id']}")
    unknown = await gw.api.get("/checkout/order_missing")

    assert "already paid" in paid.text
    assert "<button" not in paid.text
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("text/html")
    assert "not found" in unknown.text.lower()


async def test_checkout_page_escapes_the_receipt(gw: Harness) -> None:
    """Merchant-supplied text is HTML-escaped on the checkout page."""
    order = await gw.order(receipt="<script>alert(1)</script>")

    page = await gw.api.get(f"/checkout/{order['id']}")

    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (123_450, "INR", "1,234.50"),
        (5, "USD", "0.05"),
        (1_500, "JPY", "1,500"),
        (1, "KWD", "0.001"),
    ],
)
def test_amounts_are_formatted_from_minor_units(minor: int, currency: str, shown: str) -> None:
    """Minor units become major units with the currency's number of decimals."""
    assert format_amount(minor, currency) == shown


async def test_healthz(gw: Harness) -> None:
    """``/healthz`` answers ok without an API key."""
    response = await gw.api.get("/healthz")
    assert response.json() == {"status": "ok"}


async def test_app_opens_and_closes_its_own_webhook_client() -> None:
    """Without an injected client the lifespan opens one for webhooks and closes it on exit."""
    settings = SandboxConfig(
        api_key=API_KEY,
        webhook_url=WEBHOOK_URL,
        webhook_secrets=SECRETS,
        public_base_url="http://sandbox.test",
    )
    app = create_app(settings)
    sandbox: Sandbox = app.state.sandbox

    async with app.router.lifespan_context(app):
        client = sandbox.deliverer.client
        assert client is not None
        assert not client.is_closed

    assert client.is_closed
    assert sandbox.deliverer.client is None


async def test_a_restart_keeps_orders_payments_refunds_and_keys(tmp_path: Path) -> None:
    """Everything the merchant and the customer did is there after a restart, idempotency too."""
    state = tmp_path / "sandbox.db"
    async with running(state_path=state) as before:
        order = await before.order(amount=7_000, expires_at="2030-01-01T00:00:00+00:00")
        paid = (await before.pay(order["id"])).json()
        refund = (await before.refund("rk-1", paid["id"], 2_000)).json()
        await before.sandbox.drain()
    async with running(state_path=state) as after:
        fetched = (await after.api.get(f"/v1/orders/{order['id']}", headers=AUTH)).json()
        again = await after.refund("rk-1", paid["id"], 2_000)
        too_much = await after.refund("rk-2", paid["id"], 5_001)
        listed = (await after.api.get("/v1/refunds", headers=AUTH)).json()["items"]
        page = await after.api.get(f"/checkout/{order['id']}")

    assert fetched["status"] == "paid"
    assert (fetched["amount_paid"], fetched["amount_refunded"]) == (7_000, 2_000)
    assert [p["id"] for p in fetched["payments"]] == [paid["id"]]
    assert fetched["expires_at"] == order["expires_at"]
    assert (again.status_code, again.json()) == (200, refund)
    assert too_much.json()["error"]["code"] == "REFUND_EXCEEDS_CAPTURE"
    assert [r["id"] for r in listed] == [refund["id"]]
    assert page.status_code == 200


async def test_a_restart_in_the_middle_of_a_checkout_still_takes_the_payment(
    tmp_path: Path,
) -> None:
    """An order created before the restart is paid after it, and its webhook goes out."""
    state = tmp_path / "sandbox.db"
    async with running(state_path=state) as before:
        order = await before.order(amount=4_200)
    async with running(state_path=state) as after:
        paid = await after.pay(order["id"])
        await after.sandbox.drain()

    assert paid.status_code == 200
    assert [e["type"] for e in after.receiver.events()] == ["payment.captured"]
    assert after.receiver.events()[0]["data"]["order_id"] == order["id"]


async def test_webhooks_not_delivered_before_a_restart_are_delivered_after_it(
    tmp_path: Path,
) -> None:
    """The engine was down when the sandbox stopped: the queued capture goes out once, later."""
    state = tmp_path / "sandbox.db"
    down = Receiver(script=[503] * 50)
    async with running(down, state_path=state, max_delivery_attempts=50, max_backoff=1.0) as before:
        order = await before.order(amount=1_500)
        await before.pay(order["id"])
        # Stopped while its deliveries are still being retried.
    async with running(state_path=state) as after:
        await after.sandbox.drain()
    async with running(state_path=state) as later:
        await later.sandbox.drain()

    assert [e["type"] for e in after.receiver.events()] == ["payment.captured"]
    assert_signed(after.receiver.requests[0])
    assert later.receiver.requests == [], "delivered once: nothing left to resume"
