"""Schemathesis over the running API's own ``/openapi.json``: no input gives a server error.

Every operation, with generated bodies, paths, queries and headers (valid and
not), sent as an operator and as a customer. Bounded and reproducible: a
fixed seed (``derandomize``) and ``EXAMPLES`` examples per operation.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import SecretStr

from api.app import create_app
from core.settings import Settings
from stack.processes import ProcessStack

from support.auth import JWT_SECRET, PAYLOAD_KEYS, bearer

EXAMPLES = 25
OPERATOR = bearer(uuid.uuid4(), "operator")
CUSTOMER = bearer(uuid.uuid4())
SENT = {"requests": 0, "server_errors": 0}


# The schema the API serves, built from the app itself (collection happens before the
# stack starts); the calls go to the stack's API process.
schema = schemathesis.openapi.from_dict(
    create_app(
        Settings(
            env="test",
            jwt_secret=SecretStr(JWT_SECRET),
            payload_keys=SecretStr(PAYLOAD_KEYS),
        )
    ).openapi()
)


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    print(f"\nschemathesis: {SENT['requests']} requests, {SENT['server_errors']} server errors")


@pytest.fixture
def api_url(stack: ProcessStack) -> str:
    """Where the fuzzed requests go."""
    return stack.url("api")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_gives_a_server_error(case: schemathesis.Case, api_url: str) -> None:
    """Whatever is sent, as whoever: never a 5xx (503 only when a dependency is down)."""
    for who in (OPERATOR, CUSTOMER):
        headers = {**dict(case.headers or {}), **who}
        if case.operation.method.upper() == "POST" and "Idempotency-Key" not in headers:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        response = case.call(base_url=api_url, headers=headers, timeout=60)
        SENT["requests"] += 1
        SENT["server_errors"] += response.status_code >= 500
        assert response.status_code < 500, (
            f"{case.operation.label}: {response.status_code} {response.text[:500]}\n"
            f"{case.as_curl_command(headers)}"
        )
