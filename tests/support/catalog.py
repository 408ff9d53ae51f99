"""Catalogue, wallets and bookings set up through the public API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from support.auth import OPERATOR, bearer


async def make_slot(
    api: httpx.AsyncClient,
    *,
    price: int = 50_000,
    currency: str = "INR",
    capacity: int = 1,
    starts_in: timedelta = timedelta(days=2),
    length: timedelta = timedelta(hours=1),
) -> dict[str, Any]:
    """Create a resource with one slot and return the slot."""
    resource = await api.post(
        "/v1/resources",
        json={"name": "Dr. Rao", "timezone": "Asia/Kolkata"},
        headers=OPERATOR,
    )
    assert resource.status_code == 201, resource.text
    starts = datetime.now(UTC).replace(microsecond=0) + starts_in
    slots = await api.post(
        f"/v1/resources/{resource.json()['id']}/slots",
        json={
            "slots": [
                {
                    "starts_at": starts.isoformat(),
                    "ends_at": (starts + length).isoformat(),
                    "price": {"amount": price, "currency": currency},
                    "capacity": capacity,
                }
            ]
        },
        headers=OPERATOR,
    )
    assert slots.status_code == 201, slots.text
    slot: dict[str, Any] = slots.json()["items"][0]
    return slot


async def fund(
    api: httpx.AsyncClient, customer: uuid.UUID, amount: int, currency: str = "INR"
) -> None:
    """Top up a customer's wallet through the operator API."""
    response = await api.post(
        f"/v1/wallets/{customer}/credits",
        json={"amount": {"amount": amount, "currency": currency}, "reason": "test top-up"},
        headers={**OPERATOR, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text


async def book(
    api: httpx.AsyncClient,
    customer: uuid.UUID,
    slot_id: str,
    *,
    key: str | None = None,
    contact: dict[str, str] | None = None,
) -> httpx.Response:
    """Create a wallet-paid booking."""
    body: dict[str, Any] = {"slot_id": slot_id, "payment": {"method": "wallet"}}
    if contact is not None:
        body["contact"] = contact
    return await api.post(
        "/v1/bookings",
        json=body,
        headers={**bearer(customer), "Idempotency-Key": key or str(uuid.uuid4())},
    )


async def book_gateway(
    api: httpx.AsyncClient, customer: uuid.UUID, slot_id: str, key: str | None = None
) -> httpx.Response:
    """Create a sandbox-paid booking."""
    return await api.post(
        "/v1/bookings",
        json={"slot_id": slot_id, "payment": {"method": "gateway", "provider": "sandbox"}},
        headers={**bearer(customer), "Idempotency-Key": key or str(uuid.uuid4())},
    )
