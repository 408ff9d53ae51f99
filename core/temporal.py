"""Temporal client construction and the search attributes the engine relies on."""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.runtime import Runtime

from core.codec import data_converter
from core.settings import Settings
from models.errors import BookingError, ErrorCode


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client with the engine's converter (pydantic, payloads encrypted), as every client must.

    ``runtime``: the worker's, which serves its metrics; None for the default one.
    """
    return await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings.payload_key_spec()),
        runtime=runtime,
    )


class TemporalConnection:
    """Connects on first use and keeps the client, so the API starts while Temporal is down."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        """The connected client.

        Raises:
            BookingError: ``DEPENDENCY_UNAVAILABLE`` when Temporal cannot be reached.
        """
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    try:
                        self._client = await connect(self._settings)
                    except Exception as exc:
                        # Any failure to connect means the dependency is unavailable.
                        raise BookingError(
                            ErrorCode.DEPENDENCY_UNAVAILABLE,
                            "The workflow service is unavailable; retry later.",
                        ) from exc
        return self._client
