"""The registry: which gateways and webhook verifiers the settings switch on."""

from __future__ import annotations

import hashlib
import hmac

import httpx
import pytest
from pydantic import SecretStr

from core.settings import Settings
from core.signing import sign_header
from integrations.gateways.base import GatewayError
from integrations.gateways.razorpay import RazorpayGateway, RazorpayVerifier
from integrations.gateways.registry import build_gateways, build_verifiers
from integrations.gateways.sandbox import SandboxGateway, SandboxVerifier
from integrations.gateways.stripe import StripeGateway, StripeVerifier


def settings(**values: object) -> Settings:
    """Settings from explicit values only (no environment, no .env)."""
    return Settings.model_validate({"env": "test", **values})


@pytest.fixture
async def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(500)))


async def test_no_credentials_no_gateways(client: httpx.AsyncClient) -> None:
    """Without credentials no gateway is built and no verifier either."""
    assert build_gateways(settings(), client) == {}
    assert build_verifiers(settings()) == {}


async def test_every_configured_gateway_is_built(client: httpx.AsyncClient) -> None:
    """Each provider's credentials switch on exactly that provider, matching enabled_gateways."""
    configured = settings(
        sandbox_api_key=SecretStr("sbx"),
        stripe_api_key=SecretStr("sk_test_x"),
        razorpay_key_id="rzp_test_x",
        razorpay_key_secret=SecretStr("rzp_secret"),
    )

    gateways = build_gateways(configured, client)

    assert isinstance(gateways["sandbox"], SandboxGateway)
    assert isinstance(gateways["stripe"], StripeGateway)
    assert isinstance(gateways["razorpay"], RazorpayGateway)
    assert set(gateways) == configured.enabled_gateways()
    assert all(name == gateway.name for name, gateway in gateways.items())


async def test_razorpay_needs_both_key_id_and_secret(client: httpx.AsyncClient) -> None:
    """A Razorpay key id without its secret (or the reverse) builds no Razorpay gateway."""
    only_id = settings(razorpay_key_id="rzp_test_x")
    only_secret = settings(razorpay_key_secret=SecretStr("rzp_secret"))

    assert build_gateways(only_id, client) == {}
    assert build_gateways(only_secret, client) == {}


async def test_sandbox_gateway_calls_the_configured_sandbox_url() -> None:
    """The sandbox gateway talks to settings.sandbox_base_url with the configured key."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503)

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    configured = settings(sandbox_api_key=SecretStr("sbx-key"), sandbox_port=9123)
    gateway = build_gateways(configured, client)["sandbox"]

    with pytest.raises(GatewayError):
        await gateway.refund(
            order_id="o", payment_id="p", amount=1, currency="INR", idempotency_key="k"
        )

    assert str(seen[0].url) == "http://127.0.0.1:9123/v1/refunds"
    assert seen[0].headers["Authorization"] == "Bearer sbx-key"


def test_verifiers_for_each_webhook_secret() -> None:
    """Each provider's webhook secret switches on that provider's verifier."""
    verifiers = build_verifiers(
        settings(
            sandbox_webhook_secret=SecretStr("a"),
            stripe_webhook_secret=SecretStr("b"),
            razorpay_webhook_secret=SecretStr("c"),
        )
    )

    assert isinstance(verifiers["sandbox"], SandboxVerifier)
    assert isinstance(verifiers["stripe"], StripeVerifier)
    assert isinstance(verifiers["razorpay"], RazorpayVerifier)
    assert all(name == verifier.provider for name, verifier in verifiers.items())


def test_blank_webhook_secret_builds_no_verifier() -> None:
    """A secret of only commas and spaces holds no secret: no verifier."""
    assert build_verifiers(settings(stripe_webhook_secret=SecretStr(" , "))) == {}


def test_rotated_secrets_are_all_accepted() -> None:
    """Comma-separated secrets are split, so a body signed with either verifies."""
    verifiers = build_verifiers(
        settings(
            sandbox_webhook_secret=SecretStr("new-secret, old-secret"),
            razorpay_webhook_secret=SecretStr("new-secret,old-secret"),
        )
    )
    body = b'{"id":"evt_1"}'

    verifiers["sandbox"].verify(
        body, {"Sandbox-Signature": sign_header(["old-secret"], 1000, body)}, now=1000
    )
    signature = hmac.new(b"old-secret", body, hashlib.sha256).hexdigest()
    verifiers["razorpay"].verify(body, {"X-Razorpay-Signature": signature}, now=1000)
