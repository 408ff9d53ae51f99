"""Schemathesis over the running API's own ``/openapi.json``, with every check it has.

Every operation, with generated bodies, paths, queries and headers (valid and
not), sent as an operator and as a customer (a coverage-phase case as one of
them in turn: see :func:`_callers`), and each answer put through
schemathesis's full check set (what ``--checks all`` runs): no server error,
a documented status, the documented content type, headers and body schema,
valid data accepted and invalid data refused, required headers enforced, a
405 with ``Allow`` for a method a path does not serve, a token required
where the document says so, and the response time bound. Bounded and reproducible:
a fixed seed (``derandomize``) and ``EXAMPLES`` examples per operation.

One check has documented exceptions: ``positive_data_acceptance`` expects
every schema-valid request to be accepted, and a few of our refusals follow
rules a JSON Schema cannot state. :data:`DOCUMENTED_REFUSALS` names each
(matched on the refusal's code or message, nothing broader) with its reason;
docs/frontends.md lists them for client authors. Any other refusal of valid
data still fails.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis.core.failures import FailureGroup
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from core.settings import Settings
from stack.processes import ProcessStack

from support.auth import JWT_SECRET, PAYLOAD_KEYS, bearer

EXAMPLES = 10
OPERATOR = bearer(uuid.uuid4(), "operator")
CUSTOMER = bearer(uuid.uuid4())
SENT: Counter[str] = Counter()
TURNS: Counter[str] = Counter()

# Refusals of schema-valid requests that stay: each a rule the schema cannot state, matched
# on the words of the refusal (or its code), with the reason it stays.
_BETWEEN_FIELDS = (
    "a rule between fields, each valid alone: JSON Schema could only say it with oneOf and "
    "not over optional fields, which generated clients turn into unusable unions"
)
_CHANGING_LIST = "a list kept outside the API that changes without a new document"
_SETTING = "a deployment setting, not a property of the document"
DOCUMENTED_REFUSALS = {
    # A cursor is opaque: only a page's next_cursor is one.
    "cursor: not a valid cursor": "a cursor is opaque: only a page's next_cursor is one",
    # Currencies in use today (CLDR's dated table); the IANA zones of the system's tz database.
    "is not an ISO 4217 code of a currency in use": _CHANGING_LIST,
    "is not an IANA time zone name": _CHANGING_LIST,
    "unknown IANA time zone": _CHANGING_LIST,
    "must lie between 2000-01-01 and 2200-01-01 UTC": (
        "JSON Schema's date-time format has no bounds; the database's timestamps do"
    ),
    # A slot or a range, not both; both ends of a range; closed day or hours; ordering.
    "give slot_id, or": _BETWEEN_FIELDS,
    "give both starts_at and ends_at": _BETWEEN_FIELDS,
    "give both start and end, or neither": _BETWEEN_FIELDS,
    ": only for booking_mode range": _BETWEEN_FIELDS,
    ": required for booking_mode range": _BETWEEN_FIELDS,
    "min_duration_minutes: more than max_duration_minutes": _BETWEEN_FIELDS,
    "must be after start": _BETWEEN_FIELDS,
    "to: must be after from": _BETWEEN_FIELDS,
    "return_url: only for gateway payments": _BETWEEN_FIELDS,
    # Which return URLs are allowed (BOOKING_CORS_ORIGINS), which gateways are configured.
    "return_url: must": _SETTING,
    "provider: must be one of": _SETTING,
    # 998264.0 is an integer to JSON Schema; money is integer minor units, never a float.
    "Input should be a valid integer": (
        "an integral float where an integer is due: JSON Schema counts it as one, the money "
        "contract refuses floats"
    ),
    "IDEMPOTENCY_KEY_REUSED": (
        "the fuzzer sends one key with different bodies; the contract refuses exactly that"
    ),
    "INVALID_SIGNATURE": "a webhook must carry its gateway's signature, which only it can make",
}


def _documented(response: schemathesis.Response) -> bool:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return any(rule == error["code"] or rule in error["message"] for rule in DOCUMENTED_REFUSALS)


def positive_data_acceptance_but_documented(
    ctx: Any, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """``positive_data_acceptance``, except a refusal of :data:`DOCUMENTED_REFUSALS`."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if _documented(response):
            SENT["documented_refusals"] += 1
            return None
        raise


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
# Every check schemathesis has, as ``--checks all`` selects them.
schema.config.checks.update(included_check_names=["all"])


def _callers(case: schemathesis.Case) -> tuple[dict[str, str], ...]:
    """Both roles; a coverage-phase case as one of them, in turn per operation.

    The coverage phase (boundary values, missing headers, unexpected methods) is most of
    the requests and does not depend on ``EXAMPLES``; sending each of its cases once keeps
    the run short while both roles still meet every kind of case.
    """
    if case.meta is not None and case.meta.phase.name.value == "coverage":
        TURNS[case.operation.label] += 1
        return ((OPERATOR, CUSTOMER)[TURNS[case.operation.label] % 2],)
    return (OPERATOR, CUSTOMER)


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    print(
        f"\nschemathesis: {SENT['requests']} requests, {SENT['failures']} failures, "
        f"{SENT['documented_refusals']} documented refusals of valid data; by phase: "
        + ", ".join(f"{k[6:]} {v}" for k, v in sorted(SENT.items()) if k.startswith("phase:"))
    )


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
def test_every_check_passes(case: schemathesis.Case, api_url: str) -> None:
    """Whatever is sent, as whoever: every answer passes every schemathesis check."""
    for who in _callers(case):
        headers = {**dict(case.headers or {}), **who}
        SENT["requests"] += 1
        if case.meta is not None:
            SENT[f"phase:{case.meta.phase.name.value}"] += 1
        try:
            case.call_and_validate(
                base_url=api_url,
                headers=headers,
                timeout=60,
                excluded_checks=[positive_data_acceptance],
                additional_checks=[positive_data_acceptance_but_documented],
            )
        except FailureGroup:
            SENT["failures"] += 1
            raise
