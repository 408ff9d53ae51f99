"""Both ``/metrics`` follow Prometheus' naming: counters in ``_total``, durations in ``_seconds``.

The worker's endpoint is the Temporal SDK's exporter, which names what it
exports as configured in core/metrics.py; the API's is prometheus_client.
Each is scraped after bookings have gone through, so the engine's counters and
the SDK's latency histograms are there to be judged.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from temporalio.client import Client

from core.db import SessionFactory
from core.metrics import worker_runtime
from core.settings import Settings
from core.temporal import connect
from stack.embedded import free_port
from worker import build_worker, engine_activities
from workflows.booking import BookingWorkflow

from support.auth import bearer
from support.catalog import book, book_gateway, fund, make_slot
from support.engine import api_client
from support.prometheus import naming_problems, promtool_check
from support.workflows import settled, until_state


@pytest.fixture(scope="module")
async def expositions(
    settings: Settings, sessions: SessionFactory, http_for_providers: httpx.AsyncClient
) -> dict[str, str]:
    """The API's and the worker's expositions after a paid, a cancelled and a gateway booking."""
    port = free_port()
    queue = settings.model_copy(
        update={"task_queue": f"q-{uuid.uuid4().hex[:10]}", "worker_metrics_port": port}
    )
    runtime = worker_runtime(queue)
    assert runtime is not None
    client: Client = await connect(queue, runtime)
    worker = build_worker(client, queue, engine_activities(queue, sessions, http_for_providers))
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
    return {"api": api_text, "worker": worker_text}


@pytest.mark.parametrize("endpoint", ["api", "worker"])
def test_counters_end_in_total_and_durations_in_seconds(
    expositions: dict[str, str], endpoint: str
) -> None:
    """No counter lacks ``_total`` (nor has it twice), no duration histogram lacks ``_seconds``."""
    problems, checked = naming_problems(expositions[endpoint])

    assert problems == []
    assert checked["counters"] >= 2
    assert checked["durations"] >= 1


def test_worker_exposes_the_engine_and_sdk_metrics_under_their_documented_names(
    expositions: dict[str, str],
) -> None:
    """The engine's counters and gateway timings as documented, the SDK's latencies in seconds."""
    text = expositions["worker"]

    for name in (
        "# TYPE booking_bookings_total counter",
        "# TYPE booking_refunds_total counter",
        "# TYPE booking_gateway_request_seconds histogram",
        "# TYPE temporal_request_latency_seconds histogram",
        "# TYPE temporal_request_total counter",
    ):
        assert name in text


@pytest.mark.parametrize("endpoint", ["api", "worker"])
def test_promtool_accepts_the_exposition(expositions: dict[str, str], endpoint: str) -> None:
    """``promtool check metrics`` finds nothing to lint (skipped without ``promtool`` on PATH)."""
    result = promtool_check(expositions[endpoint])
    if result is None:
        pytest.skip("no promtool on PATH")

    assert result.returncode == 0, result.stdout + result.stderr
