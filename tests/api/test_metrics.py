"""Metrics: the API's ``/metrics`` and the worker's own endpoint with the Temporal SDK's metrics."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from core.db import SessionFactory
from core.settings import Settings
from models.domain import AttentionKind
from store import alerts

from support.catalog import book_gateway, make_slot
from support.engine import metrics_after_three_bookings


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus exposition, keyed by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and wanted <= lab)


async def test_api_metrics_count_decisions_and_webhooks_and_read_the_gauges(
    api: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    sandbox_app: FastAPI,
    sessions: SessionFactory,
) -> None:
    """A create is timed, a paid order's webhook counted, an open alert and queued events shown."""
    before = _samples((await api.get("/metrics")).text)
    customer = uuid.uuid4()
    slot = await make_slot(api, price=1_000)
    booking = (await book_gateway(api, customer, slot["id"])).json()
    await sandbox.post(
        f"/v1/orders/{booking['payment']['order_id']}/pay", json={"outcome": "success"}
    )
    await sandbox_app.state.sandbox.drain()
    bad = await api.post("/v1/webhooks/sandbox", content=b"{}", headers={"Sandbox-Signature": "x"})
    made_up = await api.post("/v1/webhooks/nosuch", content=b"{}")
    async with sessions() as session:
        await alerts.open_alert(
            session, AttentionKind.BALANCE_MISMATCH, f"metrics:{uuid.uuid4()}", "planted"
        )
        await session.commit()

    after = _samples((await api.get("/metrics")).text)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert (bad.status_code, made_up.status_code) == (400, 400)
    assert grew("booking_decision_seconds_count") == 1
    assert grew("booking_webhooks_total", provider="sandbox", result="signalled") >= 1
    assert grew("booking_webhooks_total", provider="sandbox", result="invalid_signature") == 1
    assert grew("booking_webhooks_total", provider="unknown", result="invalid_signature") == 1
    # The gauge is engine-wide and the database is shared: count this test's alert, not others'.
    assert grew("booking_alerts_open", kind="BALANCE_MISMATCH") == 1
    assert ("booking_outgoing_events_pending", frozenset()) in after


async def test_worker_serves_its_own_metrics_with_the_sdks(
    settings: Settings, sessions: SessionFactory, http_for_providers: httpx.AsyncClient
) -> None:
    """Bookings by status, refunds and gateway calls, next to ``temporal_*`` on one endpoint."""
    _, text = await metrics_after_three_bookings(settings, sessions, http_for_providers)
    samples = _samples(text)

    assert _value(samples, "booking_bookings_total", status="CONFIRMED") == 1
    assert _value(samples, "booking_bookings_total", status="CANCELLED") == 1
    assert _value(samples, "booking_bookings_total", status="AWAITING_PAYMENT") == 1
    assert _value(samples, "booking_refunds_total", method="wallet", result="processed") == 1
    assert (
        _value(
            samples,
            "booking_gateway_request_seconds_count",
            provider="sandbox",
            operation="create_order",
        )
        == 1
    )
    assert any(name.startswith("temporal_") for name, _ in samples)
