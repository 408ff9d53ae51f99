"""The FastAPI application and its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from api.admission import SlotAdmission
from api.body_limit import BodyLimit
from api.cors import OriginCORS
from api.deps import Services, count_request
from api.errors import install_error_handling
from api.json_bodies import refuse_duplicate_keys
from api.openapi import api_routes, install_docs
from api.openapi_contract import operation_id
from api.query_params import refuse_unknown_query_params
from api.rate_limits import RateLimits
from api.request_context import RequestContext
from api.routes import bookings, catalog, codec, health, manage, ops, wallets, webhooks
from api.routes.pages import install_pages
from api.services.idempotency import KeyClaims, RefusalBatch
from api.services.targets import Targets
from core.codec import data_converter
from core.db import autocommit, create_engine, session_factory
from core.identity import Authenticator
from core.settings import Settings, get_settings
from core.temporal import TemporalConnection
from integrations.gateways.registry import build_verifiers
from store.rate_limits import PostgresStorage

# What a browser page may send: the documented headers (X-Namespace: the Temporal UI's codec
# calls), what it may read back, and how long it keeps a preflight's answer.
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "X-Request-ID",
    "X-Namespace",
]
CORS_EXPOSED_HEADERS = ["X-Request-ID", "Retry-After", "Idempotent-Replayed"]
CORS_MAX_AGE = 600


def served_methods(app: FastAPI) -> list[str]:
    """Every method some route of ``app`` answers, so a preflight allows each documented call."""
    methods = {method for route in api_routes(app.routes) for method in route.methods or ()}
    return sorted(methods - {"HEAD"})


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API.

    Dependencies connect lazily, so the API starts (and /readyz reports) while
    PostgreSQL or Temporal are still down.
    """
    settings = settings or get_settings()
    settings.require_token_verification()
    settings.payload_key_spec()  # production refuses to start without payload keys
    # A Temporal configuration that cannot work (a missing certificate, ...) stops it too.
    temporal = TemporalConnection(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        sessions = session_factory(engine)
        authenticator = Authenticator.from_settings(settings)
        app.state.services = Services(
            settings=settings,
            engine=engine,
            sessions=sessions,
            autocommit=autocommit(sessions),
            temporal=temporal,
            admission=SlotAdmission(max_wait=settings.create_timeout_seconds / 3),
            claims=KeyClaims(sessions),
            targets=Targets(sessions),
            refusals=RefusalBatch(sessions),
            authenticator=authenticator,
            rate_limits=RateLimits(
                PostgresStorage(sessions),
                per_customer=settings.rate_limit_per_customer,
                per_address=settings.rate_limit_per_address,
            ),
            verifiers=build_verifiers(settings),
            codec=data_converter(settings.payload_key_spec()).payload_codec,
        )
        try:
            yield
        finally:
            await authenticator.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Booking engine",
        generate_unique_id_function=operation_id,
        version="1",
        summary="Durable bookings and payments; every booking is a Temporal workflow.",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[
            Depends(count_request),
            Depends(refuse_unknown_query_params),
            Depends(refuse_duplicate_keys),
        ],
        docs_url=None,
        redoc_url=None,
        telemetry={
            "tracing": settings.opentelemetry,
            "metrics": settings.opentelemetry,
            "logs": settings.opentelemetry,
        },
    )
    # Innermost (added first): it caps what the routes read, raising into the reader.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext)
    install_error_handling(app)
    for module in (catalog, bookings, manage, wallets, webhooks, ops, codec, health):
        app.include_router(module.router)
    app.include_router(manage.page_router)
    install_pages(app)
    if settings.cors_origins:
        app.add_middleware(
            OriginCORS,
            allow_origins=settings.cors_origins,
            allow_methods=served_methods(app),
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            max_age=CORS_MAX_AGE,
        )
    install_docs(app)
    return app


DESCRIPTION = """\
**Auth.** `Authorization: Bearer <JWT>`: a token of the identity provider (RS256, ES256 or
EdDSA; its `sub` is the customer, or maps to a stable customer id when it is not a UUID, and
its roles claim makes an operator), or an HS256 token signed with `BOOKING_JWT_SECRET`
(`sub` the customer id, `role` `customer` (default) or `operator`). `exp` is required.

**Money** is `{"amount": <integer minor units>, "currency": "<ISO 4217>"}`: 50000 INR is
₹500.00. The server computes every price; a client never sends one. **Times** are RFC 3339
with an offset.

**Idempotency.** Creating calls take an `Idempotency-Key`: the same key and body always get
the same answer (`Idempotent-Replayed: true` on a repeat), another body with it is 422
`IDEMPOTENCY_KEY_REUSED`. Keys are kept at least 7 days.

**Errors** are always `{"error": {"code", "message", "request_id"}}`, the request id also in
`X-Request-ID`; each operation lists its codes.

**Paying through a gateway.** `POST /v1/bookings` with
`{"payment": {"method": "gateway", "provider": "sandbox"}}` answers `AWAITING_PAYMENT` with
`payment.order_id`, `payment.checkout_url` and `hold_expires_at`. The customer pays at the
checkout; the gateway's signed webhook (`POST /v1/webhooks/{provider}`) confirms the
booking. Read `GET /v1/bookings/{id}` until it is `CONFIRMED` (or `EXPIRED` when the window
closes unpaid). With the sandbox gateway, scripts play the customer with
`POST /v1/orders/{order_id}/pay` `{"outcome": "success" | "failure"}` on the sandbox.
"""
