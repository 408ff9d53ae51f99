"""The object a sandbox app holds for its lifetime, as ``app.state.sandbox``."""

from __future__ import annotations

from sandbox.config import SandboxConfig
from sandbox.delivery import Deliverer, DeliveryPolicy
from sandbox.persistence import StateFile
from sandbox.store import Clock, Store, utc_now


class Sandbox:
    """One sandbox gateway: its config, its store and its webhook deliverer.

    Attributes:
        config: What it was built with.
        store: Orders, payments and refunds (in memory, and on disk with a state path).
        deliverer: Webhook delivery, the fault mode and the attempt log.
    """

    def __init__(self, config: SandboxConfig, *, clock: Clock = utc_now) -> None:
        self.config = config
        self.state = StateFile(config.state_path) if config.state_path is not None else None
        self.deliverer = Deliverer(
            DeliveryPolicy(
                url=config.webhook_url,
                secrets=tuple(config.webhook_secrets),
                max_attempts=config.max_delivery_attempts,
                initial_backoff=config.initial_backoff,
                max_backoff=config.max_backoff,
            ),
            clock=clock,
            state=self.state,
        )
        self.store = Store(clock=clock, emit=self.deliverer.enqueue, state=self.state)

    def checkout_url(self, order_id: str) -> str:
        """Where the customer pays for an order."""
        return f"{self.config.public_base_url.rstrip('/')}/checkout/{order_id}"

    async def drain(self) -> None:
        """Wait until every queued webhook delivery, retries included, has finished."""
        await self.deliverer.drain()
