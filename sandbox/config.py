"""What one sandbox gateway needs to run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SandboxConfig:
    """Settings of one sandbox gateway.

    Attributes:
        api_key: The merchant's bearer token for the ``/v1`` merchant endpoints.
        webhook_url: Where webhooks are POSTed (the engine's sandbox webhook route).
        webhook_secrets: Signing secrets, the current one first; every delivery is
            signed with all of them so the receiver can rotate.
        public_base_url: The sandbox's own public address, used in ``checkout_url``.
        max_delivery_attempts: Attempts per webhook copy before giving up.
        initial_backoff: Seconds before the first retry; doubles after each failure.
        max_backoff: Cap on the seconds between two attempts.
        state_path: The SQLite file that keeps orders, payments, refunds and
            undelivered webhooks across restarts; None keeps them in memory.
    """

    api_key: str
    webhook_url: str
    webhook_secrets: list[str]
    public_base_url: str
    max_delivery_attempts: int = 8
    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    state_path: Path | None = None

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("api_key must not be empty")
        if not self.webhook_secrets:
            raise ValueError("at least one webhook secret is required")
        if self.max_delivery_attempts < 1:
            raise ValueError("max_delivery_attempts must be at least 1")
        if self.initial_backoff < 0 or self.max_backoff < 0:
            raise ValueError("backoffs must not be negative")
