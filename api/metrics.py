"""Prometheus metrics of the API process."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "booking_http_requests_total",
    "HTTP requests by route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "booking_http_request_seconds",
    "HTTP request latency by route template.",
    ["method", "route"],
    registry=REGISTRY,
)
BOOKING_DECISIONS = Counter(
    "booking_create_decisions_total",
    "Answers to create-booking calls, by HTTP status.",
    ["status"],
    registry=REGISTRY,
)


def install_metrics(app: FastAPI) -> None:
    """Count and time every request by its route template (never its raw path)."""

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        LATENCY.labels(request.method, template).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, template, str(response.status_code)).inc()
        return response
