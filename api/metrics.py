"""Prometheus metrics of the API process.

Counters and histograms count what this process saw (sum them across API
processes). The two gauges are read from PostgreSQL at scrape time, so every
API process reports the same engine-wide value (take ``max``, not ``sum``).
The worker serves its own metrics (bookings by status, refunds, gateway
calls, and the Temporal SDK's) on ``BOOKING_WORKER_METRICS_PORT``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.db import Alert, OutgoingEvent
from models.domain import AttentionKind

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


DECISION_SECONDS = Histogram(
    "booking_decision_seconds",
    "Time from a create-booking call to its decision (first answers, not replays).",
    registry=REGISTRY,
    buckets=(0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
)
CHANGES_BUSY = Counter(
    "booking_changes_busy_total",
    "Changes (cancel, move, operator actions) that Temporal turned away because the "
    "workflow had too many updates in flight, and that were sent again.",
    ["change"],
    registry=REGISTRY,
)
WEBHOOKS = Counter(
    "booking_webhooks_total",
    "Gateway webhooks by provider and what became of them (signalled, unmatched, "
    "unparseable, workflow_closed, invalid_signature, ...).",
    ["provider", "result"],
    registry=REGISTRY,
)
ALERTS_OPEN = Gauge(
    "booking_alerts_open",
    "Open alerts by kind (engine-wide, read from PostgreSQL at scrape time).",
    ["kind"],
    registry=REGISTRY,
)
OUTGOING_PENDING = Gauge(
    "booking_outgoing_events_pending",
    "Booking events for the host application not yet delivered (engine-wide).",
    registry=REGISTRY,
)


async def refresh_gauges(session: AsyncSession) -> None:
    """Read the engine-wide gauges from PostgreSQL (every kind, so a cleared one reads 0)."""
    counts = dict(
        (
            await session.execute(
                select(Alert.kind, func.count())
                .where(Alert.resolved_at.is_(None))
                .group_by(Alert.kind)
            )
        ).all()
    )
    for kind in AttentionKind:
        ALERTS_OPEN.labels(kind.value).set(counts.get(kind.value, 0))
    pending = await session.scalar(
        select(func.count()).select_from(OutgoingEvent).where(OutgoingEvent.status == "PENDING")
    )
    OUTGOING_PENDING.set(pending or 0)
