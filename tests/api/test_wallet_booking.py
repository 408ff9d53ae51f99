"""Wallet-paid bookings through the public API, on real PostgreSQL and Temporal."""

from __future__ import annotations

import uuid

import httpx

from support import bearer, book, fund, make_slot


async def test_wallet_booking_confirms_and_debits_once(api: httpx.AsyncClient) -> None:
    """A funded customer's booking answers CONFIRMED and the ledger holds one debit."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=50_000)
    await fund(api, customer, 80_000)

    response = await book(api, customer, slot["id"])

    assert response.status_code == 201, response.text
    booking = response.json()
    assert booking["status"] == "CONFIRMED"
    assert booking["amount"] == {"amount": 50_000, "currency": "INR"}
    assert booking["payment"]["status"] == "CAPTURED"
    wallet = (await api.get("/v1/wallets/me", headers=bearer(customer))).json()
    assert wallet["balances"] == [{"amount": 30_000, "currency": "INR"}]
    ledger = (await api.get("/v1/wallets/me/ledger", headers=bearer(customer))).json()
    assert [e["kind"] for e in ledger["items"]] == ["debit", "credit"]
    assert ledger["items"][0]["amount"] == {"amount": -50_000, "currency": "INR"}
    after = (await api.get(f"/v1/slots/{slot['id']}", headers=bearer(customer))).json()
    assert after["remaining_capacity"] == 0
