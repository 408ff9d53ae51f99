"""Temporal client construction and the search attributes the engine relies on."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from core.settings import Settings

# Registered by `make dev`, the test session and the compose init step.
SEARCH_ATTRIBUTES: dict[str, str] = {
    "BookingStatus": "Keyword",
    "BookingId": "Keyword",
    "CustomerId": "Keyword",
    "ResourceId": "Keyword",
    "PaymentProvider": "Keyword",
    "PaymentDeadline": "Datetime",
}


async def connect(settings: Settings, *, lazy: bool = False) -> Client:
    """A client using the pydantic data converter, as every client of the engine must."""
    return await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        lazy=lazy,
    )
