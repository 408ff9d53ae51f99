"""The worker's metrics: the Temporal SDK's Prometheus endpoint, and what activities add to it.

The worker serves one endpoint (``BOOKING_WORKER_METRICS_PORT``) from the
SDK's runtime: the SDK's own metrics (``temporal_*``) and the engine's, which
workflows and activities record through the SDK's metric meter (so a
workflow's counts are not repeated when its history is replayed).

The endpoint follows Prometheus' naming conventions: the SDK appends
``_total`` to every counter and ``_seconds`` to every duration (in seconds).
So the engine names its counters without ``_total`` and its durations
without the unit, and Prometheus sees ``booking_bookings_total`` and
``booking_gateway_request_seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from temporalio import activity
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from core.ports import ListenError, check_listen
from core.settings import Settings

# Exposed as booking_gateway_request_seconds (the SDK adds the unit).
GATEWAY_REQUEST = "booking_gateway_request"
# Seconds, for the engine's own histograms (the SDK's defaults suit milliseconds).
SECONDS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]


def worker_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime serving Prometheus metrics, or None when the port is 0 (off).

    Raises:
        ListenError: The port cannot be bound (another worker on this machine has it);
            its message names the setting to change.
    """
    host, port = settings.worker_metrics_host, settings.worker_metrics_port
    if port == 0:
        return None
    where = ("the worker's metrics", "BOOKING_WORKER_METRICS_PORT", "BOOKING_WORKER_METRICS_HOST")
    # Tried first, so the answer names the setting; the SDK's own bind reports a taken
    # port as a ValueError from deep inside its runtime.
    check_listen(host, port, *where)
    try:
        return Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(
                    bind_address=f"{host}:{port}",
                    counters_total_suffix=True,
                    unit_suffix=True,
                    durations_as_seconds=True,
                    histogram_bucket_overrides={GATEWAY_REQUEST: SECONDS_BUCKETS},
                )
            )
        )
    except ValueError as exc:
        # Taken between the check and the SDK's own bind.
        raise ListenError(host, port, *where, reason=str(exc)) from exc


@contextmanager
def gateway_timer(provider: str, operation: str) -> Iterator[None]:
    """Time one gateway call into ``booking_gateway_request_seconds{provider,operation}``.

    Failed calls are timed too; outside an activity nothing is recorded.
    """
    started = time.perf_counter()
    try:
        yield
    finally:
        if activity.in_activity():
            activity.metric_meter().create_histogram_float(
                GATEWAY_REQUEST, "Gateway API calls by provider and operation.", "seconds"
            ).record(time.perf_counter() - started, {"provider": provider, "operation": operation})
