"""Bearer tokens: HS256 JWTs with ``sub`` (customer id), ``role`` and ``exp``."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Literal

import jwt

from models.errors import BookingError, ErrorCode

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


def verify_token(secret: str, token: str) -> Principal:
    """Check signature, expiry and claims; raise ``UNAUTHENTICATED`` on any flaw."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]}
        )
        sub = uuid.UUID(str(claims["sub"]))
    except jwt.ExpiredSignatureError:
        raise BookingError(ErrorCode.UNAUTHENTICATED, "The token has expired.") from None
    except (jwt.InvalidTokenError, ValueError):
        raise BookingError(ErrorCode.UNAUTHENTICATED, "The token is not valid.") from None
    role = claims.get("role", "customer")
    if role not in ("customer", "operator"):
        raise BookingError(ErrorCode.UNAUTHENTICATED, "The token's role is not valid.")
    return Principal(sub=sub, role=role)
