"""The timestamped HMAC signature scheme shared by the sandbox gateway, Stripe and booking events.

Header value: ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "{t}.{body}")>``; a
header may carry several ``v1`` values (secret rotation). Verification is
constant-time and refuses timestamps more than ``tolerance`` seconds away
from now in either direction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

TOLERANCE_SECONDS = 300
# Unix seconds in ASCII digits: ``str.isdigit`` also takes "²" and "٣", which ``int`` refuses
# or reads, and a thousand digits would only cost time.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class InvalidSignature(Exception):
    """A webhook's signature is missing, malformed, stale or does not match."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"{timestamp}.{body}"``."""
    payload = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def sign_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """A header value signed with every secret given (the first is the current one)."""
    parts = [f"t={timestamp}"] + [f"v1={signature(s, timestamp, body)}" for s in secrets]
    return ",".join(parts)


def verify_header(
    header: str | None,
    body: bytes,
    secrets: Sequence[str],
    *,
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """Check a ``t=…,v1=…`` header against any of ``secrets``; return its timestamp.

    Raises:
        InvalidSignature: missing or malformed header, stale or future timestamp,
            or no ``v1`` matching any secret.
    """
    if not header or not secrets:
        raise InvalidSignature("missing signature")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and _TIMESTAMP.fullmatch(value):
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise InvalidSignature("malformed signature header")
    if abs(now - timestamp) > tolerance:
        raise InvalidSignature("signature timestamp outside the tolerance")
    expected = [signature(secret, timestamp, body) for secret in secrets]
    # Compare every pair so the time taken does not depend on which one matched.
    matched = False
    for candidate in candidates:
        for wanted in expected:
            matched |= hmac.compare_digest(candidate.encode(), wanted.encode())
    if not matched:
        raise InvalidSignature("signature does not match")
    return timestamp
