"""Shared-secret bearer tokens: HS256 JWTs with ``sub`` (customer id), ``role`` and ``exp``.

``make dev``, the tests and ``booking-engine token`` use them; an identity
provider's tokens are :mod:`core.identity`'s.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Literal

import jwt

from core.token_claims import check_times, pyjwt_options, refused

Role = Literal["customer", "operator"]
ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    sub: uuid.UUID
    role: Role

    @property
    def is_operator(self) -> bool:
        """Whether the caller may act on every customer's data."""
        return self.role == "operator"


def issue_token(secret: str, sub: uuid.UUID, role: Role = "customer", ttl: int = 3600) -> str:
    """Sign a token for ``sub`` valid for ``ttl`` seconds."""
    now = int(time.time())
    claims = {"sub": str(sub), "role": role, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(
    secret: str,
    token: str,
    *,
    leeway: float = 30,
    max_lifetime: float = 86400,
    now: float | None = None,
) -> Principal:
    """Check signature, times and claims; raise ``UNAUTHENTICATED`` on any flaw.

    ``exp`` must be a number no further than ``max_lifetime`` seconds away
    (:func:`core.token_claims.check_times`); ``leeway`` absorbs clock skew.
    """
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options=pyjwt_options("sub"))
        sub = uuid.UUID(str(claims["sub"]))
    except jwt.InvalidSignatureError:
        raise refused("The token's signature is not valid.") from None
    except (jwt.InvalidTokenError, ValueError):
        raise refused("The token is not valid.") from None
    check_times(
        claims,
        now=time.time() if now is None else now,
        leeway=leeway,
        max_lifetime=max_lifetime,
    )
    role = claims.get("role", "customer")
    if role not in ("customer", "operator"):
        raise refused("The token's role is not valid.")
    return Principal(sub=sub, role=role)
