"""Who a bearer token names: the identity provider's tokens and the shared-secret ones.

A token's header picks its verifier, and each verifier pins its own keys and
algorithms, so neither can be fooled into the other's: HS256 goes to the shared
secret (refused when BOOKING_JWT_SECRET is unset), RS256, ES256 and EdDSA to the
identity provider's key set (:mod:`core.jwks`), anything else (``none``,
HS384, ...) is refused. An identity provider's token must carry the configured
``iss`` and ``aud``, a numeric ``exp`` and a ``sub``; its role comes from
BOOKING_AUTH_ROLES_CLAIM, and a subject that is not a UUID maps to a stable
customer id (:func:`core.token_claims.customer_id`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt

from core.auth import Principal, verify_token
from core.jwks import ALGORITHMS, JwksKeys, JwksUnavailable
from core.settings import Settings
from core.token_claims import check_times, claim_at, customer_id, holds_role, pyjwt_options, refused
from models.errors import BookingError, ErrorCode

# What PyJWT's refusals mean, in words a caller can act on.
_REFUSALS: tuple[tuple[type[jwt.InvalidTokenError], str], ...] = (
    (jwt.InvalidSignatureError, "The token's signature is not valid."),
    (jwt.InvalidIssuerError, "The token's issuer is not accepted."),
    (jwt.InvalidAudienceError, "The token's audience is not accepted."),
    (jwt.InvalidAlgorithmError, "The token's signing algorithm is not accepted."),
)


class Authenticator:
    """Verifies bearer tokens for the API process (built once, in its lifespan)."""

    def __init__(
        self,
        settings: Settings,
        keys: JwksKeys | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        self._keys = keys
        self._clock = clock
        self._client: httpx.AsyncClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        """The authenticator of ``settings``, with its own HTTP client for the key set."""
        if settings.auth_jwks_url is None:
            return cls(settings)
        client = httpx.AsyncClient(follow_redirects=False)
        authenticator = cls(settings, JwksKeys(settings.auth_jwks_url, client))
        authenticator._client = client
        return authenticator

    async def aclose(self) -> None:
        """Close the HTTP client :meth:`from_settings` opened."""
        if self._client is not None:
            await self._client.aclose()

    async def verify(self, token: str) -> Principal:
        """The caller ``token`` names.

        Raises:
            BookingError: ``UNAUTHENTICATED`` (401) saying what is wrong with the
                token; ``DEPENDENCY_UNAVAILABLE`` (503, with ``retry_after``) when
                the identity provider's keys cannot be fetched.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise refused("The token is not a valid JWT.") from None
        algorithm = header.get("alg")
        if algorithm == "HS256":
            if self._secret is None:
                raise refused("Shared-secret tokens are not accepted here.")
            return verify_token(
                self._secret,
                token,
                leeway=self._settings.auth_leeway_seconds,
                max_lifetime=self._settings.auth_max_token_lifetime_seconds,
                now=self._clock(),
            )
        if self._keys is None or algorithm not in ALGORITHMS:
            raise refused("The token's signing algorithm is not accepted.")
        return await self._verify_provider_token(token, header)

    async def _verify_provider_token(self, token: str, header: dict[str, Any]) -> Principal:
        assert self._keys is not None
        settings = self._settings
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise refused("The token names no signing key (kid).")
        try:
            key = await self._keys.key(kid)
        except JwksUnavailable as exc:
            raise BookingError(
                ErrorCode.DEPENDENCY_UNAVAILABLE,
                "The identity provider's signing keys cannot be fetched; retry later.",
                retry_after=exc.retry_after,
            ) from None
        if key is None:
            raise refused("The token's signing key is not known.")
        if key.algorithm_name != header["alg"]:
            raise refused("The token's signing algorithm does not match its key.")
        claims = _decode(token, key, settings)
        check_times(
            claims,
            now=self._clock(),
            leeway=settings.auth_leeway_seconds,
            max_lifetime=settings.auth_max_token_lifetime_seconds,
        )
        assert settings.auth_issuer is not None
        operator = holds_role(
            claim_at(claims, settings.auth_roles_claim), settings.auth_operator_role
        )
        return Principal(
            sub=customer_id(settings.auth_issuer, claims.get("sub")),
            role="operator" if operator else "customer",
        )


def _decode(token: str, key: jwt.PyJWK, settings: Settings) -> dict[str, Any]:
    """The claims of ``token`` once its signature, ``iss`` and ``aud`` are checked."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[key.algorithm_name],
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            options=pyjwt_options("iss", "aud"),
        )
    except jwt.MissingRequiredClaimError as exc:
        raise refused(f"The token has no {exc.claim} claim.") from None
    except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
        for kind, message in _REFUSALS:
            if isinstance(exc, kind):
                raise refused(message) from None
        raise refused("The token is not valid.") from None
    return claims
