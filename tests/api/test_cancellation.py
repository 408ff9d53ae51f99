"""Cancellation through the API: refunds per policy, once, with an audit trail."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from temporalio import activity
from temporalio.client import Client

from api.metrics import REGISTRY
from core.db import SessionFactory
from core.settings import Settings
from models.db import AuditRecord, GatewayTransaction, LedgerEntry
from models.payloads import RecordAuditInput
from worker import build_worker, engine_activities
from workflows.booking import BookingWorkflow

from support.auth import OPERATOR, bearer
from support.catalog import book, fund, make_slot
from support.engine import api_client, engine_on_queue, replace_activity
from support.histories import record_history
from support.workflows import until_state


async def cancel(
    api: httpx.AsyncClient, booking_id: str, headers: dict[str, str], reason: str | None = None
) -> httpx.Response:
    """POST the cancel call."""
    body = {"reason": reason} if reason else None
    return await api.post(f"/v1/bookings/{booking_id}/cancel", json=body, headers=headers)


async def _refunds(sessions: SessionFactory, booking_id: str) -> list[int]:
    async with sessions() as session:
        wallet = (
            await session.execute(
                select(LedgerEntry.amount).where(
                    LedgerEntry.booking_id == uuid.UUID(booking_id), LedgerEntry.kind == "refund"
                )
            )
        ).scalars()
        gateway = (
            await session.execute(
                select(GatewayTransaction.amount).where(
                    GatewayTransaction.booking_id == uuid.UUID(booking_id),
                    GatewayTransaction.kind == "refund",
                )
            )
        ).scalars()
        return [*wallet, *gateway]


async def test_cancel_well_ahead_refunds_everything_and_frees_the_slot(
    api: httpx.AsyncClient, sessions: SessionFactory, temporal: Client
) -> None:
    """Days before the start: CANCELLED, the whole price back in the wallet, the slot free."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=8_000, starts_in=timedelta(days=3))
    await fund(api, customer, 10_000)
    booking = (await book(api, customer, slot["id"])).json()

    response = await cancel(api, booking["id"], bearer(customer))

    assert response.status_code == 200, response.text
    assert response.json() == {
        "id": booking["id"],
        "status": "CANCELLED",
        "refund": {
            "amount": {"amount": 8_000, "currency": "INR"},
            "method": "wallet",
            "status": "PROCESSED",
            "words": "₹80.00 was refunded to your wallet.",
        },
    }
    wallet = (await api.get("/v1/wallets/me", headers=bearer(customer))).json()
    assert wallet["balances"] == [{"amount": 10_000, "currency": "INR"}]
    freed = (await api.get(f"/v1/slots/{slot['id']}", headers=bearer(customer))).json()
    assert freed["remaining_capacity"] == 1
    again = await cancel(api, booking["id"], bearer(customer))
    assert again.status_code == 200
    assert again.json() == response.json()
    assert await _refunds(sessions, booking["id"]) == [8_000]
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    assert (await handle.result()).status == "CANCELLED"
    await record_history(handle, "wallet_cancelled")


async def test_cancel_inside_the_notice_period_refunds_the_policy_percentage(
    api: httpx.AsyncClient,
) -> None:
    """Two hours before a start, with 24 h notice and 30 % late refunds: 30 % back."""
    customer = uuid.uuid4()
    resource = (
        await api.post(
            "/v1/resources",
            json={
                "name": "Clinic",
                "refund_policy": {"full_refund_hours_before": 24, "late_refund_percent": 30},
            },
            headers=OPERATOR,
        )
    ).json()
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    slot = (
        await api.post(
            f"/v1/resources/{resource['id']}/slots",
            json={
                "slots": [
                    {
                        "starts_at": starts.isoformat(),
                        "ends_at": (starts + timedelta(hours=1)).isoformat(),
                        "price": {"amount": 10_001, "currency": "INR"},
                    }
                ]
            },
            headers=OPERATOR,
        )
    ).json()["items"][0]
    await fund(api, customer, 10_001)
    booking = (await book(api, customer, slot["id"])).json()

    response = await cancel(api, booking["id"], bearer(customer))

    assert response.json()["refund"]["amount"] == {"amount": 3_000, "currency": "INR"}
    wallet = (await api.get("/v1/wallets/me", headers=bearer(customer))).json()
    assert wallet["balances"] == [{"amount": 3_000, "currency": "INR"}]


@pytest.mark.contention
async def test_fifty_concurrent_cancels_refund_once(
    api: httpx.AsyncClient, sessions: SessionFactory, temporal: Client
) -> None:
    """50 cancels at once: every one answers the same result, one refund is written."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=6_000, starts_in=timedelta(days=5))
    await fund(api, customer, 6_000)
    booking = (await book(api, customer, slot["id"])).json()

    responses = await asyncio.gather(
        *(cancel(api, booking["id"], bearer(customer)) for _ in range(50))
    )
    again = await cancel(api, booking["id"], bearer(customer))

    assert {r.status_code for r in responses} == {200}
    assert len({r.text for r in responses}) == 1
    assert (again.status_code, again.text) == (200, responses[0].text)
    assert await _refunds(sessions, booking["id"]) == [6_000]
    # One update for the fifty (they share it); the retry is answered from the database.
    history = await temporal.get_workflow_handle(f"booking-{booking['id']}").fetch_history()
    accepted = [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert accepted == ["create", "cancel"]


async def test_cancels_turned_away_as_busy_are_sent_again(
    temporal: Client,
    settings: Settings,
    sessions: SessionFactory,
    http_for_providers: httpx.AsyncClient,
) -> None:
    """30 operators cancel at once while the first cancel is held at its audit step.

    Temporal admits 10 updates per workflow at a time and turns the rest away
    (RESOURCE_EXHAUSTED); the API sends those again within the change bound.
    Every caller gets 200 with the first cancel's answer: one refund, one
    audit record.
    """
    activities = engine_activities(settings, sessions, http_for_providers)
    real_record_audit = next(a for a in activities if a.__name__ == "record_audit")
    release = asyncio.Event()

    @activity.defn(name="record_audit")
    async def record_audit(request: RecordAuditInput) -> None:
        await release.wait()
        await real_record_audit(request)

    def busy() -> float:
        return (
            REGISTRY.get_sample_value("booking_changes_busy_total", {"change": "cancellation"})
            or 0.0
        )

    busy_before = busy()
    customer = uuid.uuid4()
    async with engine_on_queue(
        temporal, settings, replace_activity(activities, record_audit)
    ) as api:
        slot = await make_slot(api, price=6_000, starts_in=timedelta(days=5))
        await fund(api, customer, 6_000)
        booking = (await book(api, customer, slot["id"])).json()
        cancels = asyncio.gather(
            *(cancel(api, booking["id"], bearer(uuid.uuid4(), "operator")) for _ in range(30))
        )
        async with asyncio.timeout(30):
            while busy() == busy_before:  # noqa: ASYNC110 - the counter is what shows it
                await asyncio.sleep(0.05)
        release.set()
        responses = await cancels

    assert [r.status_code for r in responses] == [200] * 30
    assert len({r.text for r in responses}) == 1
    assert await _refunds(sessions, booking["id"]) == [6_000]
    async with sessions() as session:
        actions = (
            await session.execute(
                select(AuditRecord.action).where(AuditRecord.booking_id == uuid.UUID(booking["id"]))
            )
        ).scalars()
        assert list(actions) == ["booking.cancel_requested"]


async def test_a_cancel_with_no_worker_answers_503_in_bounded_time_and_goes_on(
    temporal: Client,
    settings: Settings,
    sessions: SessionFactory,
    http_for_providers: httpx.AsyncClient,
) -> None:
    """No worker serves the booking: 503 with Retry-After after BOOKING_CHANGE_TIMEOUT_SECONDS.

    The cancel was admitted; once a worker is back it runs: CANCELLED, refunded once.
    """
    bounded_settings = settings.model_copy(
        update={"task_queue": f"q-{uuid.uuid4().hex[:10]}", "change_timeout_seconds": 2.0}
    )
    activities = engine_activities(bounded_settings, sessions, http_for_providers)
    customer = uuid.uuid4()
    async with api_client(bounded_settings) as api:
        async with build_worker(temporal, bounded_settings, activities):
            slot = await make_slot(api, price=2_000, starts_in=timedelta(days=5))
            await fund(api, customer, 2_000)
            booking = (await book(api, customer, slot["id"])).json()

        started = time.monotonic()
        refused = await cancel(api, booking["id"], bearer(customer))
        waited = time.monotonic() - started

        async with build_worker(temporal, bounded_settings, activities):
            handle = temporal.get_workflow_handle_for(
                BookingWorkflow.run, f"booking-{booking['id']}"
            )
            await until_state(handle, lambda state: state.status == "CANCELLED")

    assert (refused.status_code, refused.json()["error"]["code"]) == (
        503,
        "DEPENDENCY_UNAVAILABLE",
    )
    # It goes on: the client is told when to ask again.
    assert int(refused.headers["Retry-After"]) >= 1
    assert 2.0 <= waited < 10.0
    assert await _refunds(sessions, booking["id"]) == [2_000]


async def test_operator_cancel_is_audited_with_its_reason(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """An operator's cancel records who, when and why, in the audit log and the timeline."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=1_000)
    await fund(api, customer, 1_000)
    booking = (await book(api, customer, slot["id"])).json()

    response = await cancel(api, booking["id"], OPERATOR, reason="clinic closed for repairs")

    assert response.status_code == 200
    async with sessions() as session:
        record = (
            await session.execute(
                select(AuditRecord).where(AuditRecord.booking_id == uuid.UUID(booking["id"]))
            )
        ).scalar_one()
    assert record.actor.startswith("operator:")
    assert (record.action, record.reason) == (
        "booking.cancel_requested",
        "clinic closed for repairs",
    )
    timeline = (await api.get(f"/v1/bookings/{booking['id']}", headers=OPERATOR)).json()["timeline"]
    assert {"booking.cancel_requested", "booking.cancelled"} <= {e["type"] for e in timeline}


async def test_terminal_booking_cannot_be_cancelled(api: httpx.AsyncClient) -> None:
    """A FAILED booking answers 409 BOOKING_NOT_CANCELLABLE; a stranger's is 404."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=1_000)
    failed = await book(api, customer, slot["id"])
    assert failed.status_code == 402
    listed = await api.get("/v1/bookings?status=FAILED&limit=200", headers=bearer(customer))
    booking_id = listed.json()["items"][0]["id"]

    refused = await cancel(api, booking_id, bearer(customer))
    stranger = await cancel(api, booking_id, bearer(uuid.uuid4()))

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "BOOKING_NOT_CANCELLABLE"
    assert stranger.status_code == 404


async def test_cancel_racing_the_payment_webhook_never_keeps_the_money(
    temporal: Client,
    settings: Settings,
    sessions: SessionFactory,
    http_for_providers: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    sandbox_app: FastAPI,
) -> None:
    """Pay and cancel at once: CANCELLED, and the captured money goes back exactly once.

    Either the capture wins (CONFIRMED, then the cancel refunds per policy) or
    the cancel wins (the capture is late and refunded). A short late-payment
    window lets the test await the workflow's end instead of polling.
    """
    short = settings.model_copy(update={"late_payment_window_seconds": 5})
    activities = engine_activities(short, sessions, http_for_providers)
    customer = uuid.uuid4()
    async with engine_on_queue(temporal, short, activities) as api:
        slot = await make_slot(api, price=7_500, starts_in=timedelta(days=4))
        created = await api.post(
            "/v1/bookings",
            json={"slot_id": slot["id"], "payment": {"method": "gateway", "provider": "sandbox"}},
            headers={**bearer(customer), "Idempotency-Key": str(uuid.uuid4())},
        )
        booking = created.json()
        paid, cancelled = await asyncio.gather(
            sandbox.post(
                f"/v1/orders/{booking['payment']['order_id']}/pay", json={"outcome": "success"}
            ),
            cancel(api, booking["id"], bearer(customer)),
        )
        await sandbox_app.state.sandbox.drain()
        handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
        result = await handle.result()
        await record_history(handle, "gateway_cancel_racing_payment")
        final = (await api.get(f"/v1/bookings/{booking['id']}", headers=bearer(customer))).json()

    assert (paid.status_code, cancelled.status_code) == (200, 200)
    assert result.status == "CANCELLED"
    assert final["status"] == "CANCELLED"
    assert final["payment"]["captured"] == {"amount": 7_500, "currency": "INR"}
    assert final["payment"]["refunded"] == {"amount": 7_500, "currency": "INR"}
    assert await _refunds(sessions, booking["id"]) == [7_500]
