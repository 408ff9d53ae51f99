"""Wallet-paid bookings through the public API, on real PostgreSQL and Temporal."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from core.db import SessionFactory
from core.settings import Settings
from worker import engine_activities, workflow_runner

from support.auth import bearer
from support.catalog import book, fund, make_slot
from support.engine import engine_on_queue


async def test_wallet_booking_confirms_and_debits_once(api: httpx.AsyncClient) -> None:
    """A funded customer's booking answers CONFIRMED and the ledger holds one debit."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=50_000)
    await fund(api, customer, 80_000)

    response = await book(api, customer, slot["id"])

    assert response.status_code == 201, response.text
    booking = response.json()
    assert booking["status"] == "CONFIRMED"
    assert booking["amount"] == {"amount": 50_000, "currency": "INR"}
    assert booking["payment"]["status"] == "CAPTURED"
    wallet = (await api.get("/v1/wallets/me", headers=bearer(customer))).json()
    assert wallet["balances"] == [{"amount": 30_000, "currency": "INR"}]
    ledger = (await api.get("/v1/wallets/me/ledger", headers=bearer(customer))).json()
    assert [e["kind"] for e in ledger["items"]] == ["debit", "credit"]
    assert ledger["items"][0]["amount"] == {"amount": -50_000, "currency": "INR"}
    after = (await api.get(f"/v1/slots/{slot['id']}", headers=bearer(customer))).json()
    assert after["remaining_capacity"] == 0


async def test_a_worker_without_the_sandbox_runs_the_same_booking(
    temporal: Client,
    settings: Settings,
    sessions: SessionFactory,
    http_for_providers: httpx.AsyncClient,
) -> None:
    """BOOKING_WORKFLOW_SANDBOX=false: book, then cancel with a refund, without the sandbox."""
    bare = settings.model_copy(update={"workflow_sandbox": False})
    assert isinstance(workflow_runner(bare), UnsandboxedWorkflowRunner)
    assert isinstance(workflow_runner(settings), SandboxedWorkflowRunner)
    customer = uuid.uuid4()
    async with engine_on_queue(
        temporal, bare, engine_activities(bare, sessions, http_for_providers)
    ) as api:
        slot = await make_slot(api, price=4_000, starts_in=timedelta(days=3))
        await fund(api, customer, 4_000)
        created = await book(api, customer, slot["id"])
        assert created.status_code == 201, created.text
        assert created.json()["status"] == "CONFIRMED"
        cancelled = await api.post(
            f"/v1/bookings/{created.json()['id']}/cancel",
            json={},
            headers={**bearer(customer), "Idempotency-Key": str(uuid.uuid4())},
        )
        assert cancelled.status_code == 200, cancelled.text
        wallet = (await api.get("/v1/wallets/me", headers=bearer(customer))).json()

    assert cancelled.json()["status"] == "CANCELLED"
    assert wallet["balances"] == [{"amount": 4_000, "currency": "INR"}]
