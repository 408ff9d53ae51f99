"""Every body a gateway's signature verifies is stored byte for byte and answered 2xx.

Bodies the engine cannot read (a NUL in the event's type, a number no column
holds, nesting 5,000 deep, NaN) are stored UNPARSEABLE with the exact bytes and
a WEBHOOK_UNPARSEABLE alert, for the sandbox's scheme and for Stripe's, signed
by the official ``stripe`` package. A readable event keeps its bytes too.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import stripe
from pydantic import SecretStr
from sqlalchemy import select

from core.db import SessionFactory
from core.settings import Settings
from core.signing import sign_header
from models.db import WebhookEvent

from support.auth import OPERATOR, SANDBOX_WEBHOOK_SECRET
from support.engine import api_client

STRIPE_SECRET = "whsec_stored_byte_for_byte"


@pytest.fixture
async def gateways(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API with the sandbox's and Stripe's webhook verifiers."""
    configured = settings.model_copy(update={"stripe_webhook_secret": SecretStr(STRIPE_SECRET)})
    async with api_client(configured) as client:
        yield client


def _sandbox_headers(body: bytes) -> dict[str, str]:
    return {"Sandbox-Signature": sign_header([SANDBOX_WEBHOOK_SECRET], int(time.time()), body)}


def _stripe_headers(body: bytes) -> dict[str, str]:
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), STRIPE_SECRET, int(time.time())
    )
    return {"Stripe-Signature": header}


SIGNERS: dict[str, Callable[[bytes], dict[str, str]]] = {
    "sandbox": _sandbox_headers,
    "stripe": _stripe_headers,
}


def _event(event_type: str, created: str = "1700000000", data: str = '{"object": {}}') -> bytes:
    """An event body written by hand, so it can hold what json.dumps would not write."""
    unique = uuid.uuid4().hex
    return (
        f'{{"id": "evt_{unique}", "type": {event_type}, "created": {created}, "data": {data}}}'
    ).encode()


UNREADABLE = {
    "nul-in-type": lambda: _event('"payment.captured\\u0000"'),
    "lone-surrogate-in-type": lambda: _event('"payment.\\ud800captured"'),
    "created-10-to-the-20": lambda: _event('"payment.captured"', created="1" + "0" * 20),
    "amount-past-bigint": lambda: _event(
        '"payment.captured"',
        data='{"order_id": "o", "payment_id": "p", "amount": 99999999999999999999,'
        ' "currency": "INR", "object": {"id": "o"}}',
    ),
    "nested-5000-deep": lambda: _event('"other.thing"', data="[" * 5000 + "]" * 5000),
    "nan": lambda: _event('"customer.created"', created="NaN"),
}


async def _stored(sessions: SessionFactory, provider: str, event_id: str) -> WebhookEvent:
    async with sessions() as session:
        return (
            await session.execute(
                select(WebhookEvent).where(
                    WebhookEvent.provider == provider, WebhookEvent.event_id == event_id
                )
            )
        ).scalar_one()


@pytest.mark.parametrize("provider", sorted(SIGNERS))
@pytest.mark.parametrize("case", sorted(UNREADABLE))
async def test_a_signed_body_nothing_can_read_is_stored_as_it_came_and_alerted(
    gateways: httpx.AsyncClient, sessions: SessionFactory, provider: str, case: str
) -> None:
    """2xx UNPARSEABLE, the row holds the exact bytes, and a WEBHOOK_UNPARSEABLE alert is open."""
    body = UNREADABLE[case]()

    answer = await gateways.post(
        f"/v1/webhooks/{provider}", content=body, headers=SIGNERS[provider](body)
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "UNPARSEABLE"
    stored = await _stored(sessions, provider, answer.json()["event_id"])
    assert stored.status == "UNPARSEABLE"
    assert stored.raw_body == body
    alerts = await gateways.get(
        "/v1/ops/alerts",
        params={"kind": "WEBHOOK_UNPARSEABLE", "status": "open", "limit": 200},
        headers=OPERATOR,
    )
    assert alerts.status_code == 200, alerts.text
    subject = f"{provider}:{answer.json()['event_id']}"
    assert [a["subject"] for a in alerts.json()["items"] if a["subject"] == subject] == [subject]


@pytest.mark.parametrize("provider", sorted(SIGNERS))
async def test_a_readable_event_keeps_its_exact_bytes_too(
    gateways: httpx.AsyncClient, sessions: SessionFactory, provider: str
) -> None:
    """An event of a type the engine ignores is stored with its raw bytes, not only its JSON."""
    event_id = f"evt_{uuid.uuid4().hex}"
    body = json.dumps(
        {"id": event_id, "type": "customer.created", "created": 1, "data": {"object": {}}},
        indent=3,
    ).encode()

    answer = await gateways.post(
        f"/v1/webhooks/{provider}", content=body, headers=SIGNERS[provider](body)
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "UNMATCHED"
    stored = await _stored(sessions, provider, event_id)
    assert stored.raw_body == body


async def test_a_sandbox_capture_in_a_currency_of_four_letters_is_kept_unparseable(
    gateways: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """The currency column holds three letters: such an event is stored UNPARSEABLE, not a 4xx."""
    body = _event(
        '"payment.captured"',
        data='{"order_id": "o", "payment_id": "p", "amount": 5, "currency": "INRX"}',
    )

    answer = await gateways.post(
        "/v1/webhooks/sandbox", content=body, headers=_sandbox_headers(body)
    )

    assert answer.status_code == 200, answer.text
    stored = await _stored(sessions, "sandbox", answer.json()["event_id"])
    assert (stored.status, stored.raw_body) == ("UNPARSEABLE", body)
