"""What PostgreSQL would refuse is refused at the edge: 422 naming the field, never a 500."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import Request
from sqlalchemy import text

from api.app import create_app
from api.pagination import encode_cursor
from core.settings import Settings

from support.auth import OPERATOR, bearer
from support.catalog import fund, make_slot

NUL = "nul\x00inside"
SURROGATE = "lone \ud800 surrogate"
BELL = "bell \x07 rings"


def _raw_json(template: str, value: str) -> bytes:
    """A JSON body with ``value`` escaped as JSON does it (so a lone surrogate can travel)."""
    escaped = "".join(c if 0x20 <= ord(c) < 0x7F else f"\\u{ord(c):04x}" for c in value)
    return template.replace("@", escaped).encode()


def _assert_refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["message"]


@pytest.mark.parametrize("bad", [NUL, SURROGATE, BELL], ids=["nul", "surrogate", "control"])
async def test_text_postgresql_cannot_store_is_422_in_every_text_field(
    api: httpx.AsyncClient, bad: str
) -> None:
    """Resource name, contact name, credit reason and cancel reason each refuse the value."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=1_000)
    await fund(api, customer, 1_000)
    json_headers = {"Content-Type": "application/json"}

    resource = await api.post(
        "/v1/resources",
        content=_raw_json('{"name": "@"}', bad),
        headers={**OPERATOR, **json_headers},
    )
    contact = await api.post(
        "/v1/bookings",
        content=_raw_json(
            f'{{"slot_id": "{slot["id"]}", "payment": {{"method": "wallet"}},'
            ' "contact": {"name": "@"}}',
            bad,
        ),
        headers={**bearer(customer), **json_headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    credit = await api.post(
        f"/v1/wallets/{customer}/credits",
        content=_raw_json('{"amount": {"amount": 5, "currency": "INR"}, "reason": "@"}', bad),
        headers={**OPERATOR, **json_headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    booked = await api.post(
        "/v1/bookings",
        json={"slot_id": slot["id"], "payment": {"method": "wallet"}},
        headers={**bearer(customer), "Idempotency-Key": str(uuid.uuid4())},
    )
    cancel = await api.post(
        f"/v1/bookings/{booked.json()['id']}/cancel",
        content=_raw_json('{"reason": "@"}', bad),
        headers={**bearer(customer), **json_headers},
    )

    _assert_refused(resource, "name")
    _assert_refused(contact, "contact.name")
    _assert_refused(credit, "reason")
    _assert_refused(cancel, "reason")
    # The refused cancel changed nothing: the booking is still confirmed.
    after = await api.get(f"/v1/bookings/{booked.json()['id']}", headers=bearer(customer))
    assert after.json()["status"] == "CONFIRMED"


@pytest.mark.parametrize(
    "starts_at",
    ["1999-12-31T23:00:00+00:00", "2200-01-01T00:00:00+00:00", "9999-12-31T23:00:00-23:59"],
    ids=["before-2000", "from-2200", "utc-past-year-9999"],
)
async def test_slot_times_outside_2000_to_2200_utc_are_422(
    api: httpx.AsyncClient, starts_at: str
) -> None:
    """Times PostgreSQL or Python cannot hold (or no booking needs) are refused by name."""
    resource = (await api.post("/v1/resources", json={"name": "r"}, headers=OPERATOR)).json()
    slot: dict[str, Any] = {
        "starts_at": starts_at,
        "ends_at": "2100-01-01T00:00:00+00:00",
        "price": {"amount": 100, "currency": "INR"},
    }

    response = await api.post(
        f"/v1/resources/{resource['id']}/slots", json={"slots": [slot]}, headers=OPERATOR
    )
    listed = await api.get("/v1/slots", params={"from": starts_at}, headers=OPERATOR)

    _assert_refused(response, "slots.0.starts_at")
    _assert_refused(listed, "from")


@pytest.mark.parametrize("currency", ["XYZ", "ABC", "inr"])
async def test_currencies_that_are_not_iso_4217_are_422(
    api: httpx.AsyncClient, currency: str
) -> None:
    """Three capital letters are not enough: the code must be in the ISO 4217 list."""
    resource = (await api.post("/v1/resources", json={"name": "r"}, headers=OPERATOR)).json()
    starts = datetime.now(UTC) + timedelta(days=1)
    slot = {
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat(),
        "price": {"amount": 100, "currency": currency},
    }

    response = await api.post(
        f"/v1/resources/{resource['id']}/slots", json={"slots": [slot]}, headers=OPERATOR
    )

    _assert_refused(response, "slots.0.price.currency")


@pytest.mark.parametrize(
    ("path", "cursor"),
    [
        ("/v1/wallets/me/ledger", encode_cursor(10**30)),
        ("/v1/bookings", encode_cursor("2026-01-01T00:00:00", uuid.uuid4())),
        ("/v1/bookings", encode_cursor("0001-01-01T00:00:00+14:00", uuid.uuid4())),
        ("/v1/slots", encode_cursor("٣", uuid.uuid4())),
    ],
    ids=["oversized-number", "naive-time", "time-before-year-1-utc", "not-a-time"],
)
async def test_cursors_holding_what_postgresql_would_refuse_are_422(
    api: httpx.AsyncClient, path: str, cursor: str
) -> None:
    """A forged cursor is the caller's mistake: 422 ``cursor``, never a database error."""
    response = await api.get(path, params={"cursor": cursor}, headers=bearer(uuid.uuid4()))

    _assert_refused(response, "cursor")


async def test_a_value_postgresql_refuses_past_the_edge_is_422_not_500(
    settings: Settings,
) -> None:
    """The last resort: a data exception (SQLSTATE 22) from PostgreSQL is the caller's, 422.

    A route that makes PostgreSQL refuse a value (``1/0``, division by zero,
    class 22) stands in for an input the edge types did not catch.
    """
    app = create_app(settings)

    async def refused_by_postgres(request: Request) -> None:
        async with request.app.state.services.sessions() as session:
            await session.execute(text("SELECT 1 / 0"))

    app.add_api_route("/test/refused-value", refused_by_postgres, methods=["GET"])
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as api,
    ):
        response = await api.get("/test/refused-value")

    _assert_refused(response, "cannot be stored")
