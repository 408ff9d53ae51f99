"""The API with an identity provider configured: its tokens call the routes, end to end."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from core.settings import Settings
from core.token_claims import SUBJECT_NAMESPACE
from stack.embedded import free_port

from support.auth import API_URL, bearer
from support.identity import AUDIENCE, ISSUER, JwksServer, SigningKey, claims

KEY = SigningKey.generate("RS256", kid="realm-key-1")


@pytest.fixture(scope="module")
def provider() -> Iterator[JwksServer]:
    with JwksServer([KEY]).running() as server:
        yield server


async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=API_URL) as client,
    ):
        yield client


@pytest.fixture(scope="module")
async def idp_api(settings: Settings, provider: JwksServer) -> AsyncIterator[httpx.AsyncClient]:
    """The engine's API (real PostgreSQL) verifying tokens against the provider's JWKS."""
    configured = settings.model_copy(
        update={
            "auth_jwks_url": provider.url,
            "auth_issuer": ISSUER,
            "auth_audience": AUDIENCE,
            "auth_roles_claim": "realm_access.roles",
        }
    )
    async for client in _client(configured):
        yield client


def idp_bearer(sub: str, *roles: str) -> dict[str, str]:
    token = KEY.sign(claims(sub=sub, realm_access={"roles": list(roles)}))
    return {"Authorization": f"Bearer {token}"}


async def test_provider_tokens_reach_the_wallet_and_the_operator_routes(
    idp_api: httpx.AsyncClient,
) -> None:
    """An operator token credits a wallet; its owner's token (a non-UUID sub) reads it back."""
    subject = f"auth0|{uuid.uuid4().hex}"
    customer_id = uuid.uuid5(SUBJECT_NAMESPACE, f"{ISSUER}\n{subject}")
    operator = idp_bearer("ops-1", "offline_access", "operator")

    credited = await idp_api.post(
        f"/v1/wallets/{customer_id}/credits",
        json={"amount": {"amount": 2_500, "currency": "INR"}, "reason": "welcome"},
        headers={**operator, "Idempotency-Key": f"welcome-{customer_id}"},
    )
    alerts = await idp_api.get("/v1/ops/alerts", headers=operator)
    wallet = await idp_api.get("/v1/wallets/me", headers=idp_bearer(subject))
    as_customer = await idp_api.get("/v1/ops/alerts", headers=idp_bearer(subject))

    assert credited.status_code == 201, credited.text
    assert alerts.status_code == 200, alerts.text
    assert wallet.status_code == 200, wallet.text
    assert wallet.json() == {
        "customer_id": str(customer_id),
        "balances": [{"amount": 2_500, "currency": "INR"}],
    }
    assert as_customer.status_code == 403


async def test_refused_provider_token_is_a_401_envelope_with_words(
    idp_api: httpx.AsyncClient,
) -> None:
    """A token for another audience is 401 UNAUTHENTICATED saying so, in the envelope."""
    token = KEY.sign(claims(aud="someone-else"))
    response = await idp_api.get("/v1/wallets/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "UNAUTHENTICATED",
        "message": "The token's audience is not accepted.",
        "request_id": response.headers["X-Request-ID"],
    }


async def test_shared_secret_tokens_still_work_beside_the_provider(
    idp_api: httpx.AsyncClient,
) -> None:
    """BOOKING_JWT_SECRET configured as well: its HS256 tokens keep working."""
    customer = uuid.uuid4()
    wallet = await idp_api.get("/v1/wallets/me", headers=bearer(customer))
    assert (wallet.status_code, wallet.json()["customer_id"]) == (200, str(customer))


async def test_unreachable_provider_is_a_503_with_retry_after(settings: Settings) -> None:
    """The provider's keys out of reach is our outage: 503 DEPENDENCY_UNAVAILABLE, not 401."""
    down = settings.model_copy(
        update={
            "auth_jwks_url": f"http://127.0.0.1:{free_port()}/jwks",
            "auth_issuer": ISSUER,
            "auth_audience": AUDIENCE,
        }
    )
    async for client in _client(down):
        response = await client.get("/v1/wallets/me", headers=idp_bearer("auth0|asha"))
        again = await client.get("/v1/wallets/me", headers=idp_bearer("auth0|asha"))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "DEPENDENCY_UNAVAILABLE"
    assert int(response.headers["Retry-After"]) >= 1
    assert again.status_code == 503  # answered from the failed attempt, no new fetch
