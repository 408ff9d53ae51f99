"""The one error table and its handlers: every code has its status, nothing else leaks."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from temporalio.service import RPCError, RPCStatusCode

from api.errors import HTTP_STATUS, install_error_handling
from api.metrics import REGISTRY
from api.request_context import RequestContext
from models.errors import BookingError, ErrorCode


def test_every_error_code_has_its_documented_status() -> None:
    """The one table covers every code, with the statuses of the product contract."""
    assert set(HTTP_STATUS) == set(ErrorCode)
    documented = {
        "VALIDATION_ERROR": 422,
        "UNAUTHENTICATED": 401,
        "FORBIDDEN": 403,
        "BOOKING_NOT_FOUND": 404,
        "SLOT_NOT_FOUND": 404,
        "RESOURCE_NOT_FOUND": 404,
        "SLOT_UNAVAILABLE": 409,
        "INSUFFICIENT_FUNDS": 402,
        "BOOKING_NOT_CANCELLABLE": 409,
        "INVALID_STATE": 409,
        "IDEMPOTENCY_KEY_REUSED": 422,
        "IDEMPOTENCY_KEY_IN_USE": 409,
        "INVALID_SIGNATURE": 400,
        "RATE_LIMITED": 429,
        "TOO_MANY_ACTIVE_HOLDS": 429,
        "PAYMENT_PROVIDER_UNAVAILABLE": 503,
        "DEPENDENCY_UNAVAILABLE": 503,
        "INTERNAL": 500,
    }
    assert {code.value: HTTP_STATUS[code] for code in ErrorCode if code.value in documented} == (
        documented
    )


@pytest.mark.parametrize(
    ("status", "code", "http"),
    [
        (RPCStatusCode.RESOURCE_EXHAUSTED, "DEPENDENCY_UNAVAILABLE", 503),
        (RPCStatusCode.UNAVAILABLE, "DEPENDENCY_UNAVAILABLE", 503),
        (RPCStatusCode.INVALID_ARGUMENT, "INTERNAL", 500),
    ],
)
async def test_temporal_shedding_load_is_503_with_retry_after(
    status: RPCStatusCode, code: str, http: int
) -> None:
    """Temporal turning a call away (busy, down) is a 503 to retry; anything else is ours."""
    app = FastAPI()
    install_error_handling(app)

    @app.get("/call")
    async def call() -> None:
        raise RPCError("refused", status, b"")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/call")

    assert (response.status_code, response.json()["error"]["code"]) == (http, code)
    assert ("retry-after" in response.headers) == (http == 503)


@pytest.mark.parametrize("code", [c for c in ErrorCode if HTTP_STATUS[c] == 503])
async def test_every_503_of_ours_says_when_to_come_back(code: ErrorCode) -> None:
    """A change that outlasted its wait goes on: its 503 carries Retry-After like an outage's."""
    app = FastAPI()
    install_error_handling(app)

    @app.get("/call")
    async def call() -> None:
        raise BookingError(code, "taking longer than expected")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/call")

    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1


async def test_an_unhandled_exception_is_a_500_envelope_named_and_counted() -> None:
    """No handler answers it: 500 INTERNAL, the request id in body and header, no stack."""
    app = FastAPI()
    app.add_middleware(RequestContext)
    install_error_handling(app)

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> None:
        raise RuntimeError(f"secret detail {thing_id}")

    def counted() -> float:
        labels = {"method": "GET", "route": "/things/{thing_id}", "status": "500"}
        return REGISTRY.get_sample_value("booking_http_requests_total", labels) or 0.0

    before = counted()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/things/7", headers={"X-Request-ID": "req-7"})

    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "INTERNAL", "message": "Internal error.", "request_id": "req-7"}
    }
    assert response.headers["X-Request-ID"] == "req-7"
    assert counted() == before + 1
