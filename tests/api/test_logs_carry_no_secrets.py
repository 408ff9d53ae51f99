"""What the engine logs: ids and outcomes, never contact data, tokens or signatures."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, MutableMapping
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from structlog.testing import LogCapture

from core.signing import sign_header

from support.auth import SANDBOX_WEBHOOK_SECRET, bearer
from support.catalog import book, fund, make_slot

EMAIL = "priya.secret@example.com"
NAME = "Priya Secretname"


@pytest.fixture
def captured() -> Iterator[list[MutableMapping[str, Any]]]:
    """Every structlog event of the test, with the request context merged in as in production."""
    capture = LogCapture()
    previous = structlog.get_config()
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, capture],
        cache_logger_on_first_use=False,
    )
    try:
        yield capture.entries
    finally:
        structlog.configure(**previous)


async def test_a_booking_its_webhooks_and_refusals_log_no_contact_token_or_signature(
    api: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    sandbox_app: FastAPI,
    captured: list[MutableMapping[str, Any]],
) -> None:
    """Bookings with contact data, webhooks in and a forged one: no log event names a secret.

    The flow: a wallet booking, a refused one, a paid gateway booking (signed
    webhooks in), a signed event of the test's own and a forged webhook.
    """
    customer = uuid.uuid4()
    token = bearer(customer)["Authorization"].removeprefix("Bearer ")
    contact = {"email": EMAIL, "name": NAME}
    paid, refused, gateway = [await make_slot(api, price=2_000) for _ in range(3)]
    await fund(api, customer, 2_000)

    assert (await book(api, customer, paid["id"], contact=contact)).status_code == 201
    assert (await book(api, customer, refused["id"], contact=contact)).status_code == 402
    order = (
        await api.post(
            "/v1/bookings",
            json={
                "slot_id": gateway["id"],
                "payment": {"method": "gateway", "provider": "sandbox"},
                "contact": contact,
            },
            headers={**bearer(customer), "Idempotency-Key": str(uuid.uuid4())},
        )
    ).json()["payment"]["order_id"]
    await sandbox.post(f"/v1/orders/{order}/pay", json={"outcome": "success"})
    await sandbox_app.state.sandbox.drain()
    # A valid signed event of our own too, so the signature in the log check is known.
    body = json.dumps(
        {
            "id": "evt_log",
            "type": "payment.failed",
            "created": int(time.time()),
            "data": {
                "order_id": order,
                "payment_id": "pay_log",
                "amount": 2_000,
                "currency": "INR",
                "status": "failed",
            },
        }
    ).encode()
    signature = sign_header([SANDBOX_WEBHOOK_SECRET], int(time.time()), body)
    delivered = await api.post(
        "/v1/webhooks/sandbox", content=body, headers={"Sandbox-Signature": signature}
    )
    forged = await api.post(
        "/v1/webhooks/sandbox",
        content=b'{"id": "evt_forged"}',
        headers={"Sandbox-Signature": "t=1,v1=" + "ab" * 32},
    )

    listed = await api.get(
        "/v1/slots", params={"resource_id": "querysecret123"}, headers=bearer(customer)
    )
    assert listed.status_code == 422
    assert delivered.status_code == 200, delivered.text
    assert forged.status_code == 400
    assert captured, "the flow logged nothing: the capture is not wired"
    logged = repr(captured)
    digest = signature.split("v1=")[1]
    secrets = (EMAIL, NAME, "Secretname", token, "ab" * 32, digest, SANDBOX_WEBHOOK_SECRET)
    for secret in (*secrets, "querysecret123"):
        assert secret not in logged, f"{secret[:12]}… appears in a log event"
    events = {entry["event"] for entry in captured}
    assert {"slot.held", "wallet.charged", "webhook.stored", "request"} <= events
    access = [e for e in captured if e["event"] == "request" and e["path"] == "/v1/slots"]
    assert [(e["method"], e["status"]) for e in access] == [("GET", 422)]
