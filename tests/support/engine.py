"""An API app and a worker for given settings or activities, in process."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
from temporalio.client import Client

from api.app import create_app
from core.db import SessionFactory
from core.metrics import worker_runtime
from core.settings import Settings
from core.temporal import connect
from stack.embedded import free_port
from worker import build_worker, engine_activities
from workflows.booking import BookingWorkflow

from support.auth import bearer
from support.catalog import book, book_gateway, fund, make_slot
from support.workflows import settled, until_state


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


async def metrics_after_three_bookings(
    settings: Settings, sessions: SessionFactory, http: httpx.AsyncClient
) -> tuple[str, str]:
    """The API's and a fresh worker's metrics after a paid, a cancelled and a gateway booking.

    The worker runs on its own task queue and metrics port, so its counters
    count these bookings only.
    """
    port = free_port()
    queue = settings.model_copy(
        update={"task_queue": f"q-{uuid.uuid4().hex[:10]}", "worker_metrics_port": port}
    )
    runtime = worker_runtime(queue)
    assert runtime is not None
    client: Client = await connect(queue, runtime)
    worker = build_worker(client, queue, engine_activities(queue, sessions, http))
    customer = uuid.uuid4()
    async with worker, api_client(queue) as api:
        await fund(api, customer, 2_000)
        paid = (await book(api, customer, (await make_slot(api, price=1_000))["id"])).json()
        handle = client.get_workflow_handle_for(BookingWorkflow.run, f"booking-{paid['id']}")
        await until_state(handle, settled("CONFIRMED"))
        await api.post(f"/v1/bookings/{paid['id']}/cancel", headers=bearer(customer))
        slot = await make_slot(api, price=1_000, starts_in=timedelta(days=1))
        await book_gateway(api, customer, slot["id"])
        async with httpx.AsyncClient() as scraper:
            worker_text = (await scraper.get(f"http://127.0.0.1:{port}/metrics")).text
        api_text = (await api.get("/metrics")).text
    return api_text, worker_text
