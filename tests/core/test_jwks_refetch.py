"""The key set's fetching: rotation without restart, bounded refetches, outages; auth settings."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from pydantic import SecretStr, ValidationError

from api.app import create_app
from core.auth import issue_token, verify_token
from core.identity import Authenticator
from core.jwks import JwksKeys
from core.settings import Settings, get_settings
from models.errors import BookingError, ErrorCode
from stack.devstack import dev_settings
from stack.embedded import free_port

from support.auth import JWT_SECRET
from support.identity import AUDIENCE, ISSUER, JwksServer, SigningKey, claims, silent_server


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def provider() -> Iterator[JwksServer]:
    with JwksServer([SigningKey.generate("RS256", kid="2024-a")]).running() as server:
        yield server


def authenticator(url: str, keys: JwksKeys) -> Authenticator:
    settings = Settings(
        _env_file=None,
        auth_jwks_url=url,
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
    )
    return Authenticator(settings, keys)


async def outcome(auth: Authenticator, token: str) -> str:
    """``ok``, or the refusal's code and message."""
    try:
        await auth.verify(token)
    except BookingError as refused:
        return f"{refused.code.value}: {refused.message}"
    return "ok"


async def test_rotated_key_is_accepted_without_restart(
    provider: JwksServer, http: httpx.AsyncClient
) -> None:
    """A kid first served after start is fetched on its first use; a withdrawn one stops working."""
    clock = Clock()
    keys = JwksKeys(provider.url, http, clock=clock)
    auth = authenticator(provider.url, keys)
    old = provider.keys[0]
    assert await outcome(auth, old.sign(claims())) == "ok"

    new = SigningKey.generate("ES256", kid="2024-b")
    provider.serve(old, new)
    clock.now += keys.min_interval
    assert await outcome(auth, new.sign(claims())) == "ok"

    provider.serve(new)
    clock.now += keys.max_age
    assert await outcome(auth, old.sign(claims())) == (
        "UNAUTHENTICATED: The token's signing key is not known."
    )
    assert await outcome(auth, new.sign(claims())) == "ok"
    assert provider.fetches == 3


async def test_flood_of_unknown_kids_fetches_the_set_a_bounded_number_of_times(
    provider: JwksServer, http: httpx.AsyncClient
) -> None:
    """Hundreds of made-up kids at once cost one fetch, and one more per interval after."""
    clock = Clock()
    keys = JwksKeys(provider.url, http, clock=clock, min_interval=30)
    auth = authenticator(provider.url, keys)
    forger = SigningKey.generate("RS256")

    def forged() -> str:
        return jwt.encode(
            claims(), forger.private, algorithm="RS256", headers={"kid": uuid.uuid4().hex}
        )

    first = await asyncio.gather(*(outcome(auth, forged()) for _ in range(300)))
    assert set(first) == {"UNAUTHENTICATED: The token's signing key is not known."}
    assert provider.fetches == 1

    clock.now += 10
    await asyncio.gather(*(outcome(auth, forged()) for _ in range(100)))
    assert provider.fetches == 1
    clock.now += 30
    await asyncio.gather(*(outcome(auth, forged()) for _ in range(100)))
    assert provider.fetches == 2


async def test_unreachable_key_set_is_503_with_retry_after_and_no_hammering(
    http: httpx.AsyncClient,
) -> None:
    """Nothing listening: DEPENDENCY_UNAVAILABLE with Retry-After, and no new attempt within it."""
    clock = Clock()
    url = f"http://127.0.0.1:{free_port()}/jwks"
    keys = JwksKeys(url, http, clock=clock, min_interval=30)
    auth = authenticator(url, keys)
    token = SigningKey.generate("RS256").sign(claims())

    with pytest.raises(BookingError) as raised:
        await auth.verify(token)
    assert raised.value.code is ErrorCode.DEPENDENCY_UNAVAILABLE
    assert raised.value.retry_after == 30
    clock.now += 20
    with pytest.raises(BookingError) as again:
        await auth.verify(token)
    assert (again.value.code, again.value.retry_after, keys.fetches) == (
        ErrorCode.DEPENDENCY_UNAVAILABLE,
        10,
        1,
    )


async def test_silent_key_set_is_503_within_the_fetch_deadline(http: httpx.AsyncClient) -> None:
    """A provider that accepts the connection and never answers costs one deadline, not more."""
    with silent_server() as url:
        keys = JwksKeys(url, http, timeout=0.5)
        auth = authenticator(url, keys)
        token = SigningKey.generate("EdDSA").sign(claims())
        started = time.monotonic()
        answers = await asyncio.gather(*(outcome(auth, token) for _ in range(20)))
        elapsed = time.monotonic() - started
    assert {a.split(":")[0] for a in answers} == {"DEPENDENCY_UNAVAILABLE"}
    assert keys.fetches == 1
    assert elapsed < 3


async def test_provider_outage_keeps_the_keys_already_fetched(
    provider: JwksServer, http: httpx.AsyncClient
) -> None:
    """Past the set's age with the provider down, its keys still verify; a new kid is a 503."""
    clock = Clock()
    keys = JwksKeys(provider.url, http, clock=clock)
    auth = authenticator(provider.url, keys)
    known = provider.keys[0]
    assert await outcome(auth, known.sign(claims())) == "ok"

    provider.status = 500
    clock.now += keys.max_age + 1
    assert await outcome(auth, known.sign(claims())) == "ok"
    unknown = SigningKey.generate("RS256", kid="rotated-during-outage").sign(claims())
    assert (await outcome(auth, unknown)).startswith("DEPENDENCY_UNAVAILABLE")
    assert provider.fetches == 2


@pytest.mark.parametrize(
    "payload",
    [{"exp": "9999999999"}, {"exp": 10**30}, {}, {"exp": True}],
    ids=["string-exp", "huge-exp", "missing-exp", "bool-exp"],
)
def test_shared_secret_tokens_need_a_numeric_bounded_exp(payload: dict[str, object]) -> None:
    """HS256 tokens pass the same exp checks as the identity provider's."""
    token = jwt.encode({"sub": str(uuid.uuid4()), **payload}, JWT_SECRET, algorithm="HS256")
    with pytest.raises(BookingError) as raised:
        verify_token(JWT_SECRET, token)
    assert raised.value.code is ErrorCode.UNAUTHENTICATED
    assert "(exp)" in raised.value.message


@pytest.mark.parametrize(
    ("overrides", "accepted"),
    [
        ({"auth_jwks_url": "https://idp.example.test/jwks"}, False),
        ({"auth_jwks_url": "https://idp.example.test/jwks", "auth_issuer": ISSUER}, False),
        (
            {
                "auth_jwks_url": "https://idp.example.test/jwks",
                "auth_issuer": ISSUER,
                "auth_audience": AUDIENCE,
            },
            True,
        ),
        (
            {
                "auth_jwks_url": "http://idp.example.test/jwks",
                "auth_issuer": ISSUER,
                "auth_audience": AUDIENCE,
            },
            False,
        ),
        (
            {
                "auth_jwks_url": "http://localhost:8080/jwks",
                "auth_issuer": ISSUER,
                "auth_audience": AUDIENCE,
            },
            True,
        ),
        (
            {
                "auth_jwks_url": "http://[::1]/jwks",
                "auth_issuer": ISSUER,
                "auth_audience": AUDIENCE,
            },
            True,
        ),
        (
            {"auth_jwks_url": "file:///etc/jwks", "auth_issuer": ISSUER, "auth_audience": AUDIENCE},
            False,
        ),
    ],
    ids=[
        "no-issuer-or-audience",
        "no-audience",
        "https",
        "http-remote",
        "http-localhost",
        "http-ipv6-loopback",
        "file",
    ],
)
def test_jwks_settings_are_validated(overrides: dict[str, Any], accepted: bool) -> None:
    """A JWKS URL needs https (http on loopback only), an issuer and an audience."""
    if accepted:
        Settings.model_validate(overrides)
    else:
        with pytest.raises(ValidationError):
            Settings.model_validate(overrides)


def test_api_refuses_to_start_with_no_way_to_verify_tokens() -> None:
    """Neither BOOKING_JWT_SECRET nor BOOKING_AUTH_JWKS_URL: the API does not start."""
    with pytest.raises(RuntimeError, match="BOOKING_AUTH_JWKS_URL"):
        create_app(Settings(_env_file=None))


async def test_make_dev_keeps_accepting_its_own_shared_secret_tokens(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`make dev` generates a secret, so `booking-engine token` tokens work, JWKS or not."""
    monkeypatch.setenv("BOOKING_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        settings = dev_settings()
    finally:
        get_settings.cache_clear()
    assert settings.env == "dev"
    assert settings.jwt_secret is not None
    sub = uuid.uuid4()
    token = issue_token(settings.jwt_secret.get_secret_value(), sub, "operator")
    principal = await Authenticator(settings).verify(token)
    assert (principal.sub, principal.is_operator) == (sub, True)


async def test_shared_secret_alone_refuses_provider_tokens() -> None:
    """With no JWKS configured, an RS256 token is refused for its algorithm, never fetched."""
    auth = Authenticator(Settings(_env_file=None, jwt_secret=SecretStr(JWT_SECRET)))
    with pytest.raises(BookingError) as raised:
        await auth.verify(SigningKey.generate("RS256").sign(claims()))
    assert raised.value.message == "The token's signing algorithm is not accepted."
