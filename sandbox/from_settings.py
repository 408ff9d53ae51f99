"""The sandbox gateway configured from the engine's settings (CLI and `make dev`)."""

from __future__ import annotations

from core.settings import Settings
from integrations.gateways.base import secrets_list
from sandbox.config import SandboxConfig


def sandbox_config(settings: Settings) -> SandboxConfig:
    """A sandbox that signs with the engine's sandbox secret and posts to its webhook route."""
    if settings.sandbox_api_key is None or settings.sandbox_webhook_secret is None:
        raise RuntimeError(
            "the sandbox needs BOOKING_SANDBOX_API_KEY and BOOKING_SANDBOX_WEBHOOK_SECRET "
            "(make dev generates both in the data dir)"
        )
    return SandboxConfig(
        api_key=settings.sandbox_api_key.get_secret_value(),
        webhook_url=settings.sandbox_webhook_target,
        webhook_secrets=list(secrets_list(settings.sandbox_webhook_secret.get_secret_value())),
        public_base_url=settings.sandbox_public_url or settings.sandbox_base_url,
        state_path=settings.data_dir / "sandbox.db",
    )
