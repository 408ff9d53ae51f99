"""An API app and a worker for given settings or activities, in process."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from temporalio.client import Client

from api.app import create_app
from core.settings import Settings
from worker import build_worker


@contextlib.asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An API app for these settings (lifespan entered) behind an in-process client."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api.test", timeout=60
        ) as client,
    ):
        yield client


@contextlib.asynccontextmanager
async def engine_on_queue(
    temporal: Client,
    settings: Settings,
    activities: list[Callable[..., Any]],
) -> AsyncIterator[httpx.AsyncClient]:
    """A worker with ``activities`` on a fresh task queue, and an API that starts bookings there."""
    queue_settings = settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex[:10]}"})
    async with (
        build_worker(temporal, queue_settings, activities),
        api_client(queue_settings) as api,
    ):
        yield api


def replace_activity(
    activities: list[Callable[..., Any]], replacement: Callable[..., Any]
) -> list[Callable[..., Any]]:
    """The activity list with the one of the same registered name swapped for ``replacement``."""
    name = activity_name(replacement)
    assert any(activity_name(a) == name for a in activities), name
    return [replacement if activity_name(a) == name else a for a in activities]


def activity_name(fn: Callable[..., Any]) -> str:
    """The activity's name (the engine registers each under its method name)."""
    return str(fn.__name__)
