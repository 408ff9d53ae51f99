"""``create_app``: the sandbox gateway as a FastAPI application.

State is kept in the data directory (``sandbox.db``) when the config names a
state path, so orders, payments and queued webhooks survive a restart; tests
keep it in memory. Tests await ``app.state.sandbox.drain()`` to wait for every
webhook delivery.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import structlog
from fastapi import FastAPI

from sandbox.config import SandboxConfig
from sandbox.errors import install_error_handling
from sandbox.routes import customer, merchant
from sandbox.service import Sandbox
from sandbox.store import Clock, utc_now

__all__ = ["Sandbox", "SandboxConfig", "create_app"]

WEBHOOK_TIMEOUT_SECONDS = 10.0

log = structlog.get_logger(__name__)


def create_app(
    config: SandboxConfig,
    *,
    webhook_client: httpx.AsyncClient | None = None,
    clock: Clock = utc_now,
) -> FastAPI:
    """Build a sandbox gateway.

    Args:
        config: Keys, webhook target and secrets, retry policy.
        webhook_client: The HTTP client webhooks go out on; when ``None`` the app
            opens (and closes) its own in its lifespan. Tests pass one on an
            ``httpx.MockTransport`` or ``httpx.ASGITransport``.
        clock: The sandbox's notion of now (timestamps, event ``created``); tests
            move it to pay after ``expires_at``. Signatures always use the wall clock.

    Returns:
        The app, with its :class:`Sandbox` at ``app.state.sandbox``.
    """
    sandbox = Sandbox(config, clock=clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        own_client = webhook_client is None
        client = webhook_client or httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_SECONDS)
        sandbox.deliverer.client = client
        resumed = sandbox.deliverer.resume()
        if resumed:
            log.info("sandbox.webhooks_resumed", count=resumed)
        try:
            yield
        finally:
            await sandbox.deliverer.close()
            sandbox.deliverer.client = None
            if own_client:
                await client.aclose()
            if sandbox.state is not None:
                sandbox.state.close()

    app = FastAPI(
        title="Sandbox payment gateway",
        version="1",
        summary="A hosted-checkout gateway for development and tests.",
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    install_error_handling(app)
    app.include_router(merchant)
    app.include_router(customer)
    return app
