"""Each refused in words naming the field: what was accepted, or answered untruthfully, before.

Testing and withdrawn currencies, the zone database's non-zones, a time as a
bare number, duplicate JSON keys, a slot that has started, an operator's
top-up refund without its Idempotency-Key, a payment called REFUNDED while its
refund is only requested, and the codec trusting a forwarding header.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, cast

import httpx
import pytest
from temporalio.client import Client
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api.app import create_app
from core.settings import Settings
from workflows.booking import BookingWorkflow

from support.auth import OPERATOR, bearer
from support.catalog import book, book_gateway, make_slot
from support.webhooks import captured_event, signed
from support.workflows import until_state

REFUSED_CURRENCIES = ["XXX", "XTS", "ZWL", "VEF"]


def _refused(response: httpx.Response, field: str, status: int = 422) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == ("VALIDATION_ERROR" if status == 422 else error["code"])
    assert field in error["message"], error["message"]
    return str(error["message"])


async def _resource(api: httpx.AsyncClient) -> str:
    created = await api.post("/v1/resources", json={"name": "Dr. Rao"}, headers=OPERATOR)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _slot(starts_at: object, currency: str = "INR") -> dict[str, object]:
    return {
        "starts_at": starts_at,
        "ends_at": "2031-01-01T11:00:00+00:00",
        "price": {"amount": 1_000, "currency": currency},
        "capacity": 1,
    }


@pytest.mark.parametrize("currency", REFUSED_CURRENCIES)
async def test_testing_and_withdrawn_currencies_are_refused_everywhere_money_comes_in(
    api: httpx.AsyncClient, currency: str
) -> None:
    """XXX, XTS, ZWL and VEF: 422 naming the currency for a price, a credit and a top-up."""
    resource = await _resource(api)
    money = {"amount": 1_000, "currency": currency}

    price = await api.post(
        f"/v1/resources/{resource}/slots",
        json={"slots": [_slot("2031-01-01T10:00:00+00:00", currency)]},
        headers=OPERATOR,
    )
    credit = await api.post(
        f"/v1/wallets/{uuid.uuid4()}/credits",
        json={"amount": money, "reason": "test"},
        headers={**OPERATOR, "Idempotency-Key": str(uuid.uuid4())},
    )
    topup = await api.post(
        "/v1/wallets/me/topups",
        json={"amount": money, "provider": "sandbox"},
        headers={**bearer(uuid.uuid4()), "Idempotency-Key": str(uuid.uuid4())},
    )

    assert "ISO 4217" in _refused(price, "slots.0.price.currency")
    _refused(credit, "amount.currency")
    _refused(topup, "amount.currency")


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "Factory"])
async def test_the_zone_databases_files_that_are_no_zone_are_refused(
    api: httpx.AsyncClient, zone: str
) -> None:
    """``localtime``, ``posixrules`` and ``Factory`` load as zones, but name none: 422."""
    created = await api.post(
        "/v1/resources", json={"name": "Dr. Rao", "timezone": zone}, headers=OPERATOR
    )

    assert "IANA" in _refused(created, "timezone")


@pytest.mark.parametrize("number", [1_924_945_200, 1_924_945_200.5])
async def test_a_slot_time_sent_as_a_number_is_refused_not_read_as_unix_time(
    api: httpx.AsyncClient, number: float
) -> None:
    """A time is RFC 3339 text: a bare number is 422 naming the field, never a guess."""
    resource = await _resource(api)

    created = await api.post(
        f"/v1/resources/{resource}/slots", json={"slots": [_slot(number)]}, headers=OPERATOR
    )

    assert "RFC 3339" in _refused(created, "slots.0.starts_at")


async def test_a_body_naming_a_key_twice_is_refused_naming_the_key(
    api: httpx.AsyncClient,
) -> None:
    """``{"name": …, "name": …}`` is 422 naming ``name``, not read as its last value."""
    created = await api.post(
        "/v1/resources",
        content=b'{"name": "Dr. Rao", "timezone": "UTC", "name": "Dr. Other"}',
        headers={**OPERATOR, "Content-Type": "application/json"},
    )
    nested = await api.post(
        "/v1/bookings",
        content=b'{"slot_id": "%s", "payment": {"method": "wallet", "method": "gateway"}}'
        % str(uuid.uuid4()).encode(),
        headers={
            **bearer(uuid.uuid4()),
            "Idempotency-Key": str(uuid.uuid4()),
            "Content-Type": "application/json",
        },
    )

    assert _refused(created, "name").startswith("name:")
    assert _refused(nested, "method").startswith("method:")


async def test_booking_a_slot_that_has_started_says_so(api: httpx.AsyncClient) -> None:
    """409 SLOT_UNAVAILABLE "The slot has already started.", not "no remaining capacity"."""
    slot = await make_slot(api, price=0, starts_in=-timedelta(minutes=5))

    answer = await book(api, uuid.uuid4(), slot["id"])

    assert answer.status_code == 409, answer.text
    assert answer.json()["error"] == {
        "code": "SLOT_UNAVAILABLE",
        "message": "The slot has already started.",
        "request_id": answer.headers["X-Request-ID"],
    }


async def test_an_operators_top_up_refund_needs_its_idempotency_key(
    api: httpx.AsyncClient,
) -> None:
    """As documented and as every other money-moving call: 422 naming the header."""
    answer = await api.post(
        f"/v1/ops/topups/{uuid.uuid4()}/refund", json={"reason": "asked"}, headers=OPERATOR
    )

    _refused(answer, "Idempotency-Key")


async def test_a_payment_is_refunded_only_once_its_refund_is_made(
    api: httpx.AsyncClient, temporal: Client
) -> None:
    """A mismatched capture whose refund the gateway cannot make: CAPTURED, refund REQUESTED.

    The mismatch holds the booking for the genuine capture; cancelled, the
    capture is refunded whole. The refund step counts the refund on the
    booking when it asks; the view tells what has happened to the money.
    """
    slot = await make_slot(api, price=1_000)
    customer = uuid.uuid4()
    booking = (await book_gateway(api, customer, slot["id"])).json()
    body, headers = signed(
        captured_event(booking["payment"]["order_id"], 999, f"evt_{uuid.uuid4().hex}")
    )
    assert (await api.post("/v1/webhooks/sandbox", content=body, headers=headers)).is_success
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    held = await until_state(handle, lambda s: "PAYMENT_MISMATCH" in s.attention and s.idle)
    cancelled = await api.post(f"/v1/bookings/{booking['id']}/cancel", headers=bearer(customer))

    view = (await api.get(f"/v1/bookings/{booking['id']}", headers=bearer(customer))).json()

    assert held.status == "AWAITING_PAYMENT"
    assert cancelled.status_code == 200, cancelled.text
    assert [r["amount"]["amount"] for r in view["refunds"]] == [999]
    assert all(r["status"] != "PROCESSED" for r in view["refunds"])
    assert view["payment"]["status"] == "CAPTURED"


@pytest.fixture
async def dev_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API as ``make dev`` runs it, behind uvicorn's proxy-headers handling (its default)."""
    app = create_app(settings.model_copy(update={"env": "dev"}))
    served: Any = ProxyHeadersMiddleware(cast(Any, app), trusted_hosts="127.0.0.1")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=served, client=("127.0.0.1", 50_000)),
            base_url="http://api.test",
        ) as client,
    ):
        yield client


async def test_the_codec_trusts_the_peer_address_never_a_forwarding_header(
    dev_api: httpx.AsyncClient,
) -> None:
    """In dev a caller on this machine decodes without a token; a forwarded request does not.

    A proxy on this machine passing on someone's ``X-Forwarded-For: 127.0.0.1``
    is not this machine asking.
    """
    payloads: dict[str, list[Any]] = {"payloads": []}

    local = await dev_api.post("/codec/decode", json=payloads)
    forwarded = await dev_api.post(
        "/codec/decode", json=payloads, headers={"X-Forwarded-For": "127.0.0.1"}
    )
    remote = await dev_api.post(
        "/codec/decode", json=payloads, headers={"X-Forwarded-For": "203.0.113.7"}
    )

    assert local.status_code == 200, local.text
    assert forwarded.status_code == 401, forwarded.text
    assert remote.status_code == 401, remote.text
