"""Test secrets, addresses and bearer tokens."""

from __future__ import annotations

import uuid

from core.auth import Role, issue_token

JWT_SECRET = "test-secret-" + "x" * 40
# Two keys, the first encrypting: histories recorded under either still replay.
PAYLOAD_KEYS = "t2:" + "A" * 43 + "=,t1:" + "B" * 43 + "="
SANDBOX_WEBHOOK_SECRET = "whsec-test-" + "y" * 32
API_URL = "http://api.test"
SANDBOX_URL = "http://sandbox.test"


def bearer(sub: uuid.UUID, role: Role = "customer", ttl: int = 3600) -> dict[str, str]:
    """Authorization header for ``sub``."""
    return {"Authorization": f"Bearer {issue_token(JWT_SECRET, sub, role, ttl)}"}


OPERATOR = bearer(uuid.uuid4(), "operator")
