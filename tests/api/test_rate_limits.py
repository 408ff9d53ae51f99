"""Rate limits per customer and per address, shared by every API process: 429 with Retry-After."""

from __future__ import annotations

import asyncio
import uuid

from core.settings import Settings

from support.auth import bearer
from support.engine import api_client


async def test_a_customer_over_the_limit_gets_429_and_another_customer_does_not(
    settings: Settings,
) -> None:
    """Five a minute: the sixth call of one customer is refused, the next customer's passes."""
    limited = settings.model_copy(update={"rate_limit_per_customer": 5})
    noisy, quiet = uuid.uuid4(), uuid.uuid4()
    async with api_client(limited) as api:
        answers = [
            (await api.get("/v1/wallets/me", headers=bearer(noisy))).status_code for _ in range(6)
        ]
        refused = await api.get("/v1/wallets/me", headers=bearer(noisy))
        other = await api.get("/v1/wallets/me", headers=bearer(quiet))

    assert answers == [200] * 5 + [429]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert other.status_code == 200


async def test_two_api_processes_share_one_count(settings: Settings) -> None:
    """The count lives in PostgreSQL: two apps (two processes' worth) draw on one limit."""
    limited = settings.model_copy(update={"rate_limit_per_customer": 4})
    customer = uuid.uuid4()
    async with api_client(limited) as first, api_client(limited) as second:
        statuses = [
            (await api.get("/v1/wallets/me", headers=bearer(customer))).status_code
            for api in (first, second, first, second, first)
        ]

    assert statuses == [200, 200, 200, 200, 429]


async def test_the_address_limit_spares_gateway_webhooks_and_health_probes(
    settings: Settings,
) -> None:
    """Per address: the fourth call from one address is refused; webhooks and probes are not."""
    limited = settings.model_copy(update={"rate_limit_per_address": 3})
    async with api_client(limited) as api:
        calls = [
            (await api.get("/v1/wallets/me", headers=bearer(uuid.uuid4()))).status_code
            for _ in range(4)
        ]
        webhook = await api.post("/v1/webhooks/sandbox", content=b"{}")
        health = await api.get("/healthz")

    assert calls[:3] == [200, 200, 200]
    assert calls[3] == 429
    # Refused for its signature, not for its address.
    assert webhook.status_code == 400
    assert health.status_code == 200


async def test_a_burst_by_one_customer_gets_exactly_the_limit_through(settings: Settings) -> None:
    """Thirty requests at once against a limit of ten: ten answered, twenty refused with 429."""
    limited = settings.model_copy(update={"rate_limit_per_customer": 10})
    customer = uuid.uuid4()
    async with api_client(limited) as api:
        answers = await asyncio.gather(
            *(api.get("/v1/wallets/me", headers=bearer(customer)) for _ in range(30))
        )

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 10 + [429] * 20
