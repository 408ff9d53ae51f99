"""Pure logic: settings, tokens, the error table and its handlers, migration script splitting."""

from __future__ import annotations

import importlib
import uuid

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr, ValidationError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import HTTP_STATUS, install_error_handling
from api.metrics import REGISTRY
from api.request_context import RequestContext
from core.auth import issue_token, verify_token
from core.settings import Settings
from models.errors import BookingError, ErrorCode

SECRET = "s" * 40


@pytest.mark.parametrize("placeholder", ["changeme", "secret", "short-but-real"])
def test_placeholder_or_short_jwt_secret_is_rejected(placeholder: str) -> None:
    """A guessable JWT secret fails settings validation instead of signing tokens."""
    with pytest.raises(ValidationError):
        Settings(jwt_secret=SecretStr(placeholder))


def test_api_refuses_to_run_without_a_jwt_secret() -> None:
    """Outside `make dev`, a missing BOOKING_JWT_SECRET is a start-up error."""
    with pytest.raises(RuntimeError, match="BOOKING_JWT_SECRET"):
        Settings(_env_file=None).require_jwt_secret()


def test_token_round_trip_keeps_subject_and_role() -> None:
    """A token issued for an operator verifies back to the same principal."""
    sub = uuid.uuid4()
    principal = verify_token(SECRET, issue_token(SECRET, sub, "operator"))
    assert (principal.sub, principal.role, principal.is_operator) == (sub, "operator", True)


def test_token_signed_with_another_secret_is_unauthenticated() -> None:
    """A token from another signer is refused with UNAUTHENTICATED."""
    token = issue_token("o" * 40, uuid.uuid4())
    with pytest.raises(BookingError) as raised:
        verify_token(SECRET, token)
    assert raised.value.code is ErrorCode.UNAUTHENTICATED


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


def test_migration_script_splits_on_top_level_semicolons_only() -> None:
    """Semicolons inside a $$ function body do not split the statement."""
    migration = importlib.import_module("migrations.versions.0001_initial")
    script = "CREATE TABLE a (x int);\nCREATE FUNCTION f() AS $$ BEGIN x; y; END $$;\nSELECT 1"
    assert migration.split_statements(script) == [
        "CREATE TABLE a (x int)",
        "CREATE FUNCTION f() AS $$ BEGIN x; y; END $$",
        "SELECT 1",
    ]


def test_every_notification_kind_has_a_subject() -> None:
    """Each kind the workflow can send renders: a missing subject would fail every retry."""
    from integrations.mail_content import SUBJECTS
    from models.domain import NotificationKind

    assert set(NotificationKind) == set(SUBJECTS)
