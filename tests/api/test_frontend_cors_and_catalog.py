"""A browser page on an allowed origin: CORS preflights, the public catalog, return URLs."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from api.app import create_app
from core.settings import Settings

from support.auth import OPERATOR, bearer
from support.catalog import make_slot
from support.engine import api_client

ORIGIN = "https://shop.example.com"
# Every documented call a page may make, as (method, path).
CALLS = [
    ("GET", "/v1/resources"),
    ("POST", "/v1/resources"),
    ("GET", "/v1/resources/{id}"),
    ("PATCH", "/v1/resources/{id}"),
    ("GET", "/v1/resources/{id}/availability"),
    ("POST", "/v1/resources/{id}/slots"),
    ("GET", "/v1/slots"),
    ("GET", "/v1/slots/{id}"),
    ("POST", "/v1/bookings"),
    ("GET", "/v1/bookings"),
    ("GET", "/v1/bookings/{id}"),
    ("POST", "/v1/bookings/{id}/cancel"),
    ("POST", "/v1/bookings/{id}/reschedule"),
    ("GET", "/v1/wallets/me"),
    ("GET", "/v1/wallets/me/ledger"),
    ("POST", "/v1/wallets/me/topups"),
    ("GET", "/v1/wallets/me/topups/{id}"),
    ("POST", "/v1/wallets/{id}/credits"),
]
REQUEST_HEADERS = "authorization, content-type, idempotency-key, x-request-id"
PUBLIC_RESOURCE = {
    "id",
    "name",
    "timezone",
    "refund_policy",
    "booking_mode",
    "rate",
    "min_duration_minutes",
    "max_duration_minutes",
    "min_notice_minutes",
    "horizon_days",
    "availability",
}
PUBLIC_SLOT = {"id", "resource_id", "starts_at", "ends_at", "price", "remaining_capacity"}


@pytest.fixture
def browser_settings(settings: Settings) -> Settings:
    """The suite's settings with one allowed browser origin."""
    return settings.model_copy(update={"cors_origins": [ORIGIN, "http://localhost:5173"]})


def _preflight(method: str, origin: str = ORIGIN) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": REQUEST_HEADERS,
    }


async def test_every_documented_call_passes_its_preflight(browser_settings: Settings) -> None:
    """Each route and method: allowed, with every header we take, exposed ones and a max age."""
    async with api_client(browser_settings) as api:
        for method, path in CALLS:
            url = path.replace("{id}", str(uuid.uuid4()))
            answer = await api.options(url, headers=_preflight(method))

            assert answer.status_code == 200, (method, path, answer.text)
            assert answer.headers["access-control-allow-origin"] == ORIGIN
            allowed = answer.headers["access-control-allow-methods"].split(", ")
            assert method in allowed, (method, path)
            headers = answer.headers["access-control-allow-headers"].lower()
            for header in REQUEST_HEADERS.split(", "):
                assert header in headers
            assert int(answer.headers["access-control-max-age"]) >= 600


async def test_an_actual_response_exposes_the_headers_a_page_reads(
    browser_settings: Settings,
) -> None:
    """X-Request-ID, Retry-After and Idempotent-Replayed are readable from page script."""
    async with api_client(browser_settings) as api:
        answer = await api.get("/v1/slots", headers={"Origin": ORIGIN})

    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    exposed = {
        h.strip().lower() for h in answer.headers["access-control-expose-headers"].split(",")
    }
    assert exposed >= {"x-request-id", "retry-after", "idempotent-replayed"}


async def test_an_origin_not_listed_gets_no_cors_headers(browser_settings: Settings) -> None:
    """A preflight and a request from another origin carry no Access-Control-* header."""
    async with api_client(browser_settings) as api:
        for origin in ("https://evil.example.net", "https://shop.example.com.evil.com"):
            preflight = await api.options("/v1/bookings", headers=_preflight("POST", origin))
            plain = await api.get("/v1/slots", headers={"Origin": origin})

            for answer in (preflight, plain):
                assert not [h for h in answer.headers if h.lower().startswith("access-control")]


async def test_the_catalog_answers_without_a_token_with_public_fields_only(
    api: httpx.AsyncClient,
) -> None:
    """No token: 200 with what a booking page shows; an operator's token: the full view."""
    slot = await make_slot(api)
    resource_id = slot["resource_id"]

    reads: dict[str, Any] = {
        "resources": (await api.get("/v1/resources")).json()["items"][0],
        "resource": (await api.get(f"/v1/resources/{resource_id}")).json(),
        "slots": (await api.get("/v1/slots", params={"resource_id": resource_id})).json(),
        "slot": (await api.get(f"/v1/slots/{slot['id']}")).json(),
        "availability": await api.get(f"/v1/resources/{resource_id}/availability"),
    }
    full = (await api.get(f"/v1/resources/{resource_id}", headers=OPERATOR)).json()
    full_slot = (await api.get(f"/v1/slots/{slot['id']}", headers=OPERATOR)).json()

    assert set(reads["resources"]) == PUBLIC_RESOURCE
    assert set(reads["resource"]) == PUBLIC_RESOURCE
    assert [set(s) for s in reads["slots"]["items"]] == [PUBLIC_SLOT]
    assert set(reads["slot"]) == PUBLIC_SLOT
    assert reads["slot"]["remaining_capacity"] == 1
    assert reads["availability"].status_code == 200
    assert {"meeting_provider", "created_at", "buffer_minutes"} <= set(full)
    assert "capacity" in full_slot


async def test_writes_and_private_reads_still_need_a_token(api: httpx.AsyncClient) -> None:
    """Without a token a write is 401; so is a catalog read with a token that is not valid."""
    created = await api.post("/v1/resources", json={"name": "Dr. Rao"})
    booking = await api.post(
        "/v1/bookings",
        json={"slot_id": str(uuid.uuid4()), "payment": {"method": "wallet"}},
        headers={"Idempotency-Key": "k-1"},
    )
    wallet = await api.get("/v1/wallets/me")
    forged = await api.get("/v1/slots", headers={"Authorization": "Bearer not-a-token"})

    for answer in (created, booking, wallet, forged):
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "UNAUTHENTICATED"


async def test_anonymous_catalog_reads_are_limited_per_address(settings: Settings) -> None:
    """The fourth anonymous read from one address is 429 RATE_LIMITED with Retry-After."""
    limited = settings.model_copy(update={"rate_limit_per_address": 3})
    app = create_app(limited)
    # An address of its own: other tests' requests in this minute are not counted with these.
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"
    transport = httpx.ASGITransport(app=app, client=(address, 40_000))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://api.test") as api,
    ):
        answers = [await api.get("/v1/slots") for _ in range(4)]

    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert answers[3].status_code == 429
    assert answers[3].json()["error"]["code"] == "RATE_LIMITED"
    assert int(answers[3].headers["Retry-After"]) >= 1


async def test_a_405_names_the_methods_the_path_serves(api: httpx.AsyncClient) -> None:
    """RFC 9110: a method a path does not serve is 405 with Allow, in the error envelope."""
    answer = await api.delete("/v1/bookings", headers=bearer(uuid.uuid4()))

    assert answer.status_code == 405
    assert set(answer.headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    assert answer.json()["error"]["request_id"] == answer.headers["X-Request-ID"]
