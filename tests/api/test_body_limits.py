"""Request bodies are capped before they are read: 413 in the envelope, nothing stored."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
from sqlalchemy import func, select

from core.db import SessionFactory
from models.db import WebhookEvent

from support.auth import OPERATOR, bearer


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


async def test_a_declared_oversized_create_body_is_413_in_the_envelope(
    api: httpx.AsyncClient,
) -> None:
    """A 300 KiB create body (over the 256 KiB default): 413 PAYLOAD_TOO_LARGE, request id."""
    body = b'{"slot_id": "' + b"x" * 300 * 1024 + b'"}'
    response = await api.post(
        "/v1/bookings",
        content=body,
        headers={
            **bearer(uuid.uuid4()),
            "Idempotency-Key": str(uuid.uuid4()),
            "Content-Type": "application/json",
        },
    )

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert "262144" in error["message"]
    assert error["request_id"] == response.headers["X-Request-ID"]


async def test_a_streamed_body_without_length_is_cut_off_at_the_cap(
    api: httpx.AsyncClient,
) -> None:
    """A chunked body with no Content-Length is counted as it arrives and refused past the cap."""
    response = await api.post(
        "/v1/resources",
        content=_chunks(2 * 1024 * 1024),
        headers={**OPERATOR, "Content-Type": "application/json"},
    )

    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_webhooks_have_their_own_one_mebibyte_cap_and_store_nothing_over_it(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """A 1.5 MiB webhook is refused unread; 900 KiB is read (and then fails its signature)."""
    async with sessions() as session:
        before = await session.scalar(select(func.count()).select_from(WebhookEvent))
    headers = {"Sandbox-Signature": "t=1,v1=00", "Content-Type": "application/json"}

    huge = await api.post("/v1/webhooks/sandbox", content=b" " * (1536 * 1024), headers=headers)
    large = await api.post("/v1/webhooks/sandbox", content=b" " * (900 * 1024), headers=headers)

    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "1048576" in huge.json()["error"]["message"]
    assert large.status_code == 400
    assert large.json()["error"]["code"] == "INVALID_SIGNATURE"
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookEvent)) == before
