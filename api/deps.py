"""Dependencies shared by the routes, as ``Annotated`` aliases.

Each is a coroutine even when it never awaits: FastAPI runs a plain function
on its thread pool, a hop per dependency per request.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated

import structlog
from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from temporalio.converter import PayloadCodec

from api.admission import SlotAdmission
from api.rate_limits import RateLimits
from api.services.idempotency import KeyClaims, RefusalBatch
from api.services.targets import Targets
from core.auth import Principal
from core.db import SessionFactory
from core.identity import Authenticator
from core.settings import Settings
from core.temporal import TemporalConnection
from integrations.gateways.base import WebhookVerifier
from models.errors import BookingError, ErrorCode


@dataclass
class Services:
    """What the API process holds for its lifetime."""

    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    # The same pool without transactions, for work that is one statement (core.db.autocommit).
    autocommit: AsyncEngine
    temporal: TemporalConnection
    admission: SlotAdmission
    rate_limits: RateLimits
    claims: KeyClaims
    targets: Targets
    refusals: RefusalBatch
    authenticator: Authenticator
    # The payload codec of this process's Temporal client (None: payloads in clear).
    codec: PayloadCodec | None = None
    verifiers: Mapping[str, WebhookVerifier] = field(default_factory=dict)


async def get_services(request: Request) -> Services:
    """The process's services (built in the app lifespan)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_verifiers(services: ServicesDep) -> Mapping[str, WebhookVerifier]:
    """Webhook verifiers of the configured providers."""
    return services.verifiers


VerifiersDep = Annotated[Mapping[str, WebhookVerifier], Depends(get_verifiers)]


async def get_session(services: ServicesDep) -> AsyncIterator[AsyncSession]:
    """A database session for one request."""
    async with services.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="A token of the identity provider (RS256, ES256 or EdDSA, by a key of its"
    " JWKS; `iss` and `aud` as configured) or, where BOOKING_JWT_SECRET is set, an HS256"
    " token signed with it. Either needs a numeric `exp`.",
)


async def _bearer(
    services: Services, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The caller a bearer token names.

    Raises:
        BookingError: ``UNAUTHENTICATED`` when there is no valid bearer token;
            ``DEPENDENCY_UNAVAILABLE`` when the identity provider's keys are out of reach.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise BookingError(ErrorCode.UNAUTHENTICATED, "A bearer token is required.")
    return await services.authenticator.verify(credentials.credentials)


async def current_principal(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The caller, from a valid bearer token (verified and counted by :func:`count_request`)."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    # count_request's verdict on the token, so a refused token is not verified twice.
    refusal: BookingError | None = getattr(request.state, "auth_refusal", None)
    if refusal is not None:
        raise refusal
    return await _bearer(services, credentials)


CurrentUser = Annotated[Principal, Depends(current_principal)]


async def optional_principal(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal | None:
    """The caller of a public read: None without a token; a token given must be valid."""
    if credentials is None:
        return None
    return await current_principal(request, services, credentials)


# Public reads: anyone (limited per address), and with a token the caller it names.
MaybeUser = Annotated[Principal | None, Depends(optional_principal)]


async def count_request(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> None:
    """Count the request against its address's limit and, with a valid token, its customer's.

    Every route runs this first (gateways' webhooks and the probes are exempt
    from the address limit). Both counts are one statement; the verified
    caller is kept for :func:`current_principal`. A missing or invalid token
    counts the address only, and a route that needs a caller refuses it.
    """
    address = request.client.host if request.client else "unknown"
    try:
        principal: Principal | None = await _bearer(services, credentials)
    except BookingError as refusal:
        principal = None
        request.state.auth_refusal = refusal
    if principal is not None:
        structlog.contextvars.bind_contextvars(customer_id=str(principal.sub))
    await services.rate_limits.check_request(
        address, request.url.path, principal.sub if principal else None
    )
    request.state.principal = principal


async def require_operator(user: CurrentUser) -> Principal:
    """The caller, who must be an operator."""
    if not user.is_operator:
        raise BookingError(ErrorCode.FORBIDDEN, "Operators only.")
    return user


Operator = Annotated[Principal, Depends(require_operator)]


# What the document states and the API enforces alike: printable ASCII, space included.
IDEMPOTENCY_KEY_PATTERN = r"^[\x20-\x7E]+$"


async def idempotency_key(
    key: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            description="Names this request: a retry with the same key and body gets the "
            "same answer (1 to 255 printable ASCII characters)",
            min_length=1,
            max_length=255,
            pattern=IDEMPOTENCY_KEY_PATTERN,
            examples=["book-2026-12-04-asha-1"],
        ),
    ],
) -> str:
    """The required ``Idempotency-Key`` header (1 to 255 printable ASCII characters)."""
    if not (1 <= len(key) <= 255) or not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key):
        raise BookingError(
            ErrorCode.VALIDATION_ERROR,
            "The Idempotency-Key header is required (1 to 255 printable ASCII characters).",
        )
    return key


IdempotencyKey = Annotated[str, Depends(idempotency_key)]
