"""Identity provider tokens: algorithms, claims, roles, subjects; the JWKS on loopback HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr

from core.auth import Principal
from core.identity import Authenticator
from core.jwks import JwksKeys
from core.settings import Settings
from core.token_claims import SUBJECT_NAMESPACE
from models.errors import BookingError, ErrorCode

from support.auth import JWT_SECRET
from support.identity import AUDIENCE, ISSUER, JwksServer, SigningKey, claims

RSA, EC, ED = (SigningKey.generate(alg) for alg in ("RS256", "ES256", "EdDSA"))


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def provider() -> Iterator[JwksServer]:
    with JwksServer([RSA, EC, ED]).running() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def settings_for(url: str, **overrides: Any) -> Settings:
    return Settings(
        _env_file=None,
        env="production",
        auth_jwks_url=url,
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
        **overrides,
    )


def authenticator(
    provider: JwksServer, http: httpx.AsyncClient, clock: Clock | None = None, **overrides: Any
) -> Authenticator:
    keys = JwksKeys(provider.url, http, clock=clock or Clock())
    return Authenticator(settings_for(provider.url, **overrides), keys)


async def refusal(auth: Authenticator, token: str) -> BookingError:
    with pytest.raises(BookingError) as raised:
        await auth.verify(token)
    return raised.value


@pytest.mark.parametrize("key", [RSA, EC, ED], ids=lambda k: k.alg)
async def test_each_accepted_algorithm_verifies(
    provider: JwksServer, http: httpx.AsyncClient, key: SigningKey
) -> None:
    """RS256, ES256 and EdDSA tokens signed by a key of the JWKS name their caller."""
    sub = str(uuid.uuid4())
    principal = await authenticator(provider, http).verify(key.sign(claims(sub=sub)))
    assert principal == Principal(sub=uuid.UUID(sub), role="customer")


def _pem(key: SigningKey) -> bytes:
    return key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def hs256_by_hand(secret: bytes, payload: dict[str, Any], kid: str | None = None) -> str:
    """An HS256 token keyed by ``secret``, made by hand: PyJWT refuses a PEM as HMAC key."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = {"alg": "HS256", "typ": "JWT", **({"kid": kid} if kid else {})}
    signing_input = f"{part(json.dumps(header).encode())}.{part(json.dumps(payload).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(mac)}"


# Each entry: how the token is made, and the words of its refusal.
REFUSED = {
    "wrong-issuer": (
        lambda: RSA.sign(claims(iss="https://evil.example.test")),
        "The token's issuer is not accepted.",
    ),
    "wrong-audience": (
        lambda: RSA.sign(claims(aud="another-api")),
        "The token's audience is not accepted.",
    ),
    "no-audience": (
        lambda: RSA.sign({k: v for k, v in claims().items() if k != "aud"}),
        "The token has no aud claim.",
    ),
    "expired": (lambda: RSA.sign(claims(ttl=-120)), "The token has expired."),
    "missing-exp": (
        lambda: RSA.sign({k: v for k, v in claims().items() if k != "exp"}),
        "The token has no expiry (exp).",
    ),
    "string-exp": (
        lambda: RSA.sign(claims(exp="9999999999")),
        "The token's expiry (exp) is not a number.",
    ),
    "huge-exp": (
        lambda: RSA.sign(claims(exp=10**30)),
        "The token's expiry (exp) is too far in the future.",
    ),
    "exp-beyond-max-lifetime": (
        lambda: RSA.sign(claims(ttl=2 * 86400)),
        "The token's expiry (exp) is too far in the future.",
    ),
    "not-yet-valid": (lambda: RSA.sign(claims(nbf=claims()["iat"] + 600)), "not valid yet"),
    "alg-none": (
        lambda: jwt.encode(claims(), "", algorithm="none", headers={"kid": RSA.kid}),
        "The token's signing algorithm is not accepted.",
    ),
    "hs256-with-public-key": (
        lambda: hs256_by_hand(_pem(RSA), claims(), kid=RSA.kid),
        "Shared-secret tokens are not accepted here.",
    ),
    "hs512": (
        lambda: jwt.encode(claims(), "k" * 64, algorithm="HS512", headers={"kid": RSA.kid}),
        "The token's signing algorithm is not accepted.",
    ),
    "no-kid": (
        lambda: jwt.encode(claims(), RSA.private, algorithm="RS256"),
        "The token names no signing key (kid).",
    ),
    "unknown-kid": (
        lambda: SigningKey.generate("RS256", kid="not-published").sign(claims()),
        "The token's signing key is not known.",
    ),
    "another-key-same-kid": (
        lambda: SigningKey.generate("RS256", kid=RSA.kid).sign(claims()),
        "The token's signature is not valid.",
    ),
    "alg-of-another-key-type": (
        lambda: SigningKey.generate("ES256", kid=RSA.kid).sign(claims()),
        "The token's signing algorithm does not match its key.",
    ),
    "no-subject": (
        lambda: RSA.sign({k: v for k, v in claims().items() if k != "sub"}),
        "The token has no subject (sub).",
    ),
    "garbage": (lambda: "not.a.jwt", "The token is not a valid JWT."),
}


@pytest.mark.parametrize("case", REFUSED)
async def test_flawed_tokens_are_refused_with_words(
    provider: JwksServer, http: httpx.AsyncClient, case: str
) -> None:
    """Each flaw is UNAUTHENTICATED with a message that says what is wrong."""
    make, words = REFUSED[case]
    refused = await refusal(authenticator(provider, http), make())
    assert refused.code is ErrorCode.UNAUTHENTICATED
    assert words in refused.message


async def test_hs256_signed_with_the_public_key_is_refused_also_beside_a_secret(
    provider: JwksServer, http: httpx.AsyncClient
) -> None:
    """With a shared secret configured, an HS256 token keyed by the public key still fails."""
    auth = authenticator(provider, http, jwt_secret=SecretStr(JWT_SECRET))
    token = hs256_by_hand(_pem(RSA), claims(sub=str(uuid.uuid4())))
    refused = await refusal(auth, token)
    assert (refused.code, refused.message) == (
        ErrorCode.UNAUTHENTICATED,
        "The token's signature is not valid.",
    )


async def test_leeway_absorbs_small_clock_skew_only(
    provider: JwksServer, http: httpx.AsyncClient
) -> None:
    """Expired 10 s ago passes with the default 30 s leeway; 10 s ago fails with none."""
    token = RSA.sign(claims(sub=str(uuid.uuid4()), ttl=-10))
    await authenticator(provider, http).verify(token)
    refused = await refusal(authenticator(provider, http, auth_leeway_seconds=0), token)
    assert refused.message == "The token has expired."


@pytest.mark.parametrize(
    ("path", "extra", "operator"),
    [
        ("realm_access.roles", {"realm_access": {"roles": ["offline_access", "operator"]}}, True),
        ("realm_access.roles", {"realm_access": {"roles": ["offline_access"]}}, False),
        ("cognito:groups", {"cognito:groups": ["operator"]}, True),
        ("cognito:groups", {"cognito:groups": ["customers"]}, False),
        ("role", {"role": "operator"}, True),
        ("role", {}, False),
        (
            "https://bookings.example.test/roles",
            {"https://bookings.example.test/roles": ["operator"]},
            True,
        ),
        ("realm_access.roles", {"realm_access": "operator"}, False),
    ],
    ids=[
        "keycloak-operator",
        "keycloak-customer",
        "cognito-operator",
        "cognito-customer",
        "plain-string",
        "claim-missing",
        "namespaced-claim",
        "path-through-a-string",
    ],
)
async def test_roles_claim_by_dotted_path(
    provider: JwksServer,
    http: httpx.AsyncClient,
    path: str,
    extra: dict[str, Any],
    operator: bool,
) -> None:
    """The roles claim is found by its dotted path, as Keycloak and Cognito shape it."""
    auth = authenticator(provider, http, auth_roles_claim=path)
    principal = await auth.verify(EC.sign(claims(**extra)))
    assert principal.is_operator is operator


async def test_operator_role_value_is_configurable(
    provider: JwksServer, http: httpx.AsyncClient
) -> None:
    """BOOKING_AUTH_OPERATOR_ROLE names the value that makes an operator; `operator` is then not."""
    auth = authenticator(provider, http, auth_operator_role="booking-admin")
    admin = await auth.verify(ED.sign(claims(role=["booking-admin"])))
    plain = await auth.verify(ED.sign(claims(role="operator")))
    assert (admin.role, plain.role) == ("operator", "customer")


async def test_subject_that_is_not_a_uuid_maps_to_a_stable_customer_id(
    provider: JwksServer, http: httpx.AsyncClient
) -> None:
    """uuid5 over the issuer and subject: the same every time and in every process."""
    first = await authenticator(provider, http).verify(RSA.sign(claims(sub="auth0|asha")))
    again = await authenticator(provider, http).verify(ED.sign(claims(sub="auth0|asha")))
    other = await authenticator(provider, http).verify(RSA.sign(claims(sub="auth0|ravi")))
    assert first.sub == again.sub == uuid.uuid5(SUBJECT_NAMESPACE, f"{ISSUER}\nauth0|asha")
    assert other.sub != first.sub
    # Pinned: a change of namespace or name would move every such customer's bookings away.
    assert first.sub == uuid.UUID("3a166b1b-fe5e-56a2-81dc-cc555af24206")


async def test_subject_in_uuid_form_is_the_customer_id(
    provider: JwksServer, http: httpx.AsyncClient
) -> None:
    """A provider whose subjects are UUIDs (Keycloak) names customers by them directly."""
    sub = uuid.uuid4()
    principal = await authenticator(provider, http).verify(RSA.sign(claims(sub=str(sub).upper())))
    assert principal.sub == sub


async def test_hs256_is_refused_without_a_secret_outside_dev(
    provider: JwksServer, http: httpx.AsyncClient
) -> None:
    """Production with only a JWKS refuses shared-secret tokens, whatever they are signed with."""
    token = jwt.encode(
        {"sub": str(uuid.uuid4()), "exp": claims()["exp"], "role": "operator"},
        JWT_SECRET,
        algorithm="HS256",
    )
    refused = await refusal(authenticator(provider, http), token)
    assert refused.message == "Shared-secret tokens are not accepted here."
    beside = authenticator(provider, http, jwt_secret=SecretStr(JWT_SECRET))
    assert (await beside.verify(token)).is_operator
