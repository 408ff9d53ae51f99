"""Inputs that were answered wrongly now get their answer, in the envelope, never a 500.

A ``t=²`` signature (a 500), a cursor nested deep (a 500 or 422 by depth), a
time zone name of 300 characters (a false 503 "database unavailable"), and a
free slot booked through a gateway (503 "retry later" forever).
"""

from __future__ import annotations

import base64
import time
import uuid

import httpx
import pytest

from core.signing import signature

from support.auth import OPERATOR, SANDBOX_WEBHOOK_SECRET, bearer
from support.catalog import book_gateway, make_slot


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["request_id"] == response.headers["X-Request-ID"]
    return str(error["message"])


@pytest.mark.parametrize("timestamp", ["²", "¹²³", "9" * 5000])
async def test_a_signature_time_in_other_digits_is_an_invalid_signature(
    api: httpx.AsyncClient, timestamp: str
) -> None:
    """``t=²`` passes ``isdigit`` but not ``int``: 400 INVALID_SIGNATURE, not a 500."""
    body = b'{"id": "evt_x", "type": "payment.captured"}'
    mac = signature(SANDBOX_WEBHOOK_SECRET, int(time.time()), body)

    answer = await api.post(
        "/v1/webhooks/sandbox",
        content=body,
        # Latin-1 on the wire, as a server decodes header bytes: "²" arrives as "²".
        headers={b"Sandbox-Signature": f"t={timestamp},v1={mac}".encode("latin-1")},
    )

    _error(answer, 400, "INVALID_SIGNATURE")


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("depth", [2, 900, 1200, 5000])
@pytest.mark.parametrize("path", ["/v1/bookings", "/v1/wallets/me/ledger", "/v1/slots"])
async def test_a_cursor_nested_deep_is_a_validation_error_naming_it(
    api: httpx.AsyncClient, depth: int, path: str
) -> None:
    """A cursor is a flat list: nested at any depth it is 422 VALIDATION_ERROR naming ``cursor``."""
    cursor = _cursor("[" * depth + "]" * depth)

    answer = await api.get(path, params={"cursor": cursor}, headers=bearer(uuid.uuid4()))

    assert _error(answer, 422, "VALIDATION_ERROR").startswith("cursor:")


async def test_a_cursor_longer_than_any_cursor_made_is_refused_unread(
    api: httpx.AsyncClient,
) -> None:
    """A 20 kB cursor (of a flat list) is 422 naming ``cursor``: its size is bounded first."""
    cursor = _cursor('["' + "a" * 20_000 + '", "b"]')

    answer = await api.get("/v1/bookings", params={"cursor": cursor}, headers=bearer(uuid.uuid4()))

    assert _error(answer, 422, "VALIDATION_ERROR").startswith("cursor:")


@pytest.mark.parametrize("zone", ["A" * 256, "Asia/" + "K" * 300, "x/" * 200])
async def test_a_time_zone_name_too_long_is_a_validation_error_not_an_outage(
    api: httpx.AsyncClient, zone: str
) -> None:
    """Once opened as a file (ENAMETOOLONG: "The database is unavailable"); now 422 naming it."""
    created = await api.post(
        "/v1/resources", json={"name": "Dr. Rao", "timezone": zone}, headers=OPERATOR
    )

    assert "timezone" in _error(created, 422, "VALIDATION_ERROR")


async def test_a_free_slot_booked_through_a_gateway_is_refused_in_words(
    api: httpx.AsyncClient,
) -> None:
    """Price 0 through a gateway: 422 telling to use the wallet, not 503 "retry later" forever.

    No key is claimed: the same key then books the slot with the wallet.
    """
    slot = await make_slot(api, price=0)
    customer, key = uuid.uuid4(), str(uuid.uuid4())

    refused = await book_gateway(api, customer, slot["id"], key=key)
    by_wallet = await api.post(
        "/v1/bookings",
        json={"slot_id": slot["id"], "payment": {"method": "wallet"}},
        headers={**bearer(customer), "Idempotency-Key": key},
    )

    message = _error(refused, 422, "VALIDATION_ERROR")
    assert message.startswith("payment.method:")
    assert "free" in message
    assert "wallet" in message
    assert by_wallet.status_code == 201, by_wallet.text
    assert by_wallet.json()["status"] == "CONFIRMED"
