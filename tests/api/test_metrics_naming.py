"""Both ``/metrics`` follow Prometheus' naming: counters in ``_total``, durations in ``_seconds``.

The worker's endpoint is the Temporal SDK's exporter, which names what it
exports as configured in core/metrics.py; the API's is prometheus_client.
Each is scraped after bookings have gone through, so the engine's counters and
the SDK's latency histograms are there to be judged.
"""

from __future__ import annotations

import httpx
import pytest

from core.db import SessionFactory
from core.settings import Settings

from support.engine import metrics_after_three_bookings
from support.prometheus import naming_problems, promtool_check


@pytest.fixture(scope="module")
async def expositions(
    settings: Settings, sessions: SessionFactory, http_for_providers: httpx.AsyncClient
) -> dict[str, str]:
    """The API's and the worker's expositions after a paid, a cancelled and a gateway booking."""
    api_text, worker_text = await metrics_after_three_bookings(
        settings, sessions, http_for_providers
    )
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
