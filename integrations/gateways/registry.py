"""The configured gateways and webhook verifiers, built from settings.

A gateway is available when its API credentials are set (the same rule as
``Settings.enabled_gateways``); a webhook verifier when its webhook secret holds
at least one secret (several, comma-separated, during a rotation).
"""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from core.settings import Settings
from integrations.gateways.base import PaymentGateway, WebhookVerifier, secrets_list
from integrations.gateways.payhere import PayHereGateway, PayHereVerifier
from integrations.gateways.paytm import PaytmGateway, PaytmVerifier
from integrations.gateways.razorpay import RazorpayGateway, RazorpayVerifier
from integrations.gateways.sandbox import SandboxGateway, SandboxVerifier
from integrations.gateways.stripe import StripeGateway, StripeVerifier

__all__ = ["build_gateways", "build_verifiers"]


def build_gateways(settings: Settings, client: httpx.AsyncClient) -> dict[str, PaymentGateway]:
    """Every gateway whose credentials are configured, by name.

    Args:
        settings: Where URLs and API keys come from.
        client: The HTTP client every gateway calls through.

    Returns:
        ``sandbox`` when ``sandbox_api_key`` is set, ``stripe`` when
        ``stripe_api_key`` is, ``razorpay`` when both its key id and secret are,
        ``paytm`` with its merchant id and key, ``payhere`` with its merchant id
        and secret (refunds also need its Merchant API app id and secret).
    """
    gateways: dict[str, PaymentGateway] = {}
    if settings.sandbox_api_key is not None:
        gateways["sandbox"] = SandboxGateway(
            client, settings.sandbox_base_url, settings.sandbox_api_key.get_secret_value()
        )
    if settings.stripe_api_key is not None:
        gateways["stripe"] = StripeGateway(
            client, settings.stripe_api_base, settings.stripe_api_key.get_secret_value()
        )
    if settings.razorpay_key_id and settings.razorpay_key_secret is not None:
        gateways["razorpay"] = RazorpayGateway(
            client,
            settings.razorpay_api_base,
            settings.razorpay_key_id,
            settings.razorpay_key_secret.get_secret_value(),
        )
    if settings.paytm_mid and settings.paytm_merchant_key is not None:
        gateways["paytm"] = PaytmGateway(
            client,
            settings.paytm_api_base,
            settings.paytm_mid,
            settings.paytm_merchant_key.get_secret_value(),
            settings.paytm_website,
            settings.paytm_callback_url,
        )
    if settings.payhere_merchant_id and settings.payhere_merchant_secret is not None:
        gateways["payhere"] = PayHereGateway(
            client,
            settings.payhere_api_base,
            settings.payhere_merchant_id,
            settings.payhere_merchant_secret.get_secret_value(),
            settings.payhere_app_id,
            _secret(settings.payhere_app_secret),
        )
    return gateways


def build_verifiers(settings: Settings) -> dict[str, WebhookVerifier]:
    """A webhook verifier for every provider whose webhook secret is configured, by provider.

    Args:
        settings: Where the webhook secrets come from.

    Returns:
        Verifiers keyed by provider name (the ``{provider}`` of the webhook route).
    """
    verifiers: dict[str, WebhookVerifier] = {}
    sandbox = secrets_list(_secret(settings.sandbox_webhook_secret))
    if sandbox:
        verifiers["sandbox"] = SandboxVerifier(sandbox)
    stripe = secrets_list(_secret(settings.stripe_webhook_secret))
    if stripe:
        verifiers["stripe"] = StripeVerifier(stripe)
    razorpay = secrets_list(_secret(settings.razorpay_webhook_secret))
    if razorpay:
        verifiers["razorpay"] = RazorpayVerifier(razorpay)
    # Paytm and PayHere sign notifications with the merchant's own key or secret.
    if settings.paytm_merchant_key is not None:
        verifiers["paytm"] = PaytmVerifier(settings.paytm_merchant_key.get_secret_value())
    if settings.payhere_merchant_id and settings.payhere_merchant_secret is not None:
        verifiers["payhere"] = PayHereVerifier(
            settings.payhere_merchant_id, settings.payhere_merchant_secret.get_secret_value()
        )
    return verifiers


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
