"""Wallet top-ups through a gateway: the capture credits once; limits; refunds while covered."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from core.db import SessionFactory
from core.settings import Settings
from models.db import LedgerEntry
from models.payloads import TopupState
from workflows.topup import TopupWorkflow

from support.auth import OPERATOR, bearer
from support.catalog import book, make_slot
from support.engine import api_client

SANDBOX_AUTH = {"Authorization": "Bearer sandbox-test-key"}


async def _topup(
    api: httpx.AsyncClient, customer: uuid.UUID, amount: int, key: str | None = None
) -> httpx.Response:
    return await api.post(
        "/v1/wallets/me/topups",
        json={"amount": {"amount": amount, "currency": "INR"}, "provider": "sandbox"},
        headers={**bearer(customer), "Idempotency-Key": key or str(uuid.uuid4())},
    )


async def until_topup(
    handle: WorkflowHandle[Any, Any], predicate: Callable[[TopupState], bool]
) -> TopupState:
    """Ask the top-up's workflow for its state until ``predicate`` holds."""
    async with asyncio.timeout(30):
        while True:
            state: TopupState = await handle.query(TopupWorkflow.state)
            if predicate(state):
                return state
            await asyncio.sleep(0.05)


async def _paid(
    api: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    sandbox_app: FastAPI,
    temporal: Client,
    customer: uuid.UUID,
    amount: int,
) -> dict[str, Any]:
    """A top-up paid at the sandbox's checkout and credited."""
    topup = (await _topup(api, customer, amount)).json()
    await sandbox.post(
        f"/v1/orders/{topup['payment']['order_id']}/pay", json={"outcome": "success"}
    )
    await sandbox_app.state.sandbox.drain()
    handle = temporal.get_workflow_handle_for(TopupWorkflow.run, f"topup-{topup['id']}")
    await until_topup(handle, lambda s: s.status == "CREDITED" and s.idle)
    return topup


async def test_a_paid_top_up_credits_the_wallet_once(
    api: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    sandbox_app: FastAPI,
    temporal: Client,
    sessions: SessionFactory,
) -> None:
    """AWAITING_PAYMENT with a checkout page; the capture (delivered 3 times) credits once."""
    customer, key = uuid.uuid4(), str(uuid.uuid4())
    await sandbox.put("/v1/sandbox/faults", json={"duplicate": 2}, headers=SANDBOX_AUTH)
    try:
        created = await _topup(api, customer, 100_000, key)
        again = await _topup(api, customer, 100_000, key)
        topup = created.json()
        page = await sandbox.get(f"/checkout/{topup['payment']['order_id']}")
        await sandbox.post(
            f"/v1/orders/{topup['payment']['order_id']}/pay", json={"outcome": "success"}
        )
        await sandbox_app.state.sandbox.drain()
    finally:
        await sandbox.put("/v1/sandbox/faults", json={}, headers=SANDBOX_AUTH)
    handle = temporal.get_workflow_handle_for(TopupWorkflow.run, f"topup-{topup['id']}")
    await until_topup(handle, lambda s: s.status == "CREDITED" and s.idle)
    read = (await api.get(f"/v1/wallets/me/topups/{topup['id']}", headers=bearer(customer))).json()
    other = await api.get(f"/v1/wallets/me/topups/{topup['id']}", headers=bearer(uuid.uuid4()))
    wallet = (await api.get("/v1/wallets/me", headers=bearer(customer))).json()
    async with sessions() as session:
        entries = (
            await session.execute(
                select(LedgerEntry.kind, LedgerEntry.amount, LedgerEntry.idempotency_key).where(
                    LedgerEntry.customer_id == customer
                )
            )
        ).all()

    assert created.status_code == 201, created.text
    assert topup["status"] == "AWAITING_PAYMENT"
    assert topup["amount"] == {"amount": 100_000, "currency": "INR"}
    assert topup["payment"]["checkout_url"].endswith(topup["payment"]["order_id"])
    assert topup["expires_at"] is not None
    assert (again.status_code, again.json()) == (201, topup)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert page.status_code == 200
    assert "1,000.00" in page.text
    assert read["status"] == "CREDITED"
    assert other.status_code == 404
    assert wallet["balances"] == [{"amount": 100_000, "currency": "INR"}]
    assert [tuple(e) for e in entries] == [("topup", 100_000, f"{topup['id']}:credit")]


async def test_limits_per_top_up_and_per_day(settings: Settings, engine_worker: Worker) -> None:
    """Below the minimum: 422; the day's limit reached: 429 with Retry-After; nothing started."""
    tight = settings.model_copy(update={"topup_daily_limit": 150_000, "topup_min_amount": 1_000})
    customer = uuid.uuid4()
    async with api_client(tight) as api:
        tiny = await _topup(api, customer, 999)
        first = await _topup(api, customer, 100_000)
        over = await _topup(api, customer, 60_000)
        under = await _topup(api, customer, 50_000)

    assert tiny.status_code == 422
    assert "amount.amount" in tiny.json()["error"]["message"]
    assert first.status_code == 201, first.text
    assert over.status_code == 429
    assert over.json()["error"]["code"] == "TOPUP_LIMIT_EXCEEDED"
    assert 0 < int(over.headers["Retry-After"]) <= 86_400
    assert under.status_code == 201, under.text


async def test_a_refund_takes_the_money_back_only_while_the_wallet_holds_it(
    api: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    sandbox_app: FastAPI,
    temporal: Client,
) -> None:
    """Refunded once through the gateway with the wallet debited; spent money is not refunded."""
    kept, spent = uuid.uuid4(), uuid.uuid4()
    refundable = await _paid(api, sandbox, sandbox_app, temporal, kept, 40_000)
    gone = await _paid(api, sandbox, sandbox_app, temporal, spent, 40_000)
    slot = await make_slot(api, price=30_000)
    assert (await book(api, spent, slot["id"])).status_code == 201

    refunded = await api.post(
        f"/v1/ops/topups/{refundable['id']}/refund",
        json={"reason": "asked"},
        headers={**OPERATOR, "Idempotency-Key": "refund-1"},
    )
    twice = await api.post(
        f"/v1/ops/topups/{refundable['id']}/refund",
        json={"reason": "again"},
        headers={**OPERATOR, "Idempotency-Key": "refund-2"},
    )
    uncovered = await api.post(
        f"/v1/ops/topups/{gone['id']}/refund",
        json={"reason": "asked"},
        headers={**OPERATOR, "Idempotency-Key": "refund-3"},
    )
    order = (
        await sandbox.get(f"/v1/orders/{refundable['payment']['order_id']}", headers=SANDBOX_AUTH)
    ).json()
    kept_wallet = (await api.get("/v1/wallets/me", headers=bearer(kept))).json()
    spent_wallet = (await api.get("/v1/wallets/me", headers=bearer(spent))).json()

    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["refund"]["amount"] == {"amount": 40_000, "currency": "INR"}
    assert twice.status_code == 409
    assert uncovered.status_code == 402
    assert uncovered.json()["error"]["code"] == "INSUFFICIENT_FUNDS"
    assert order["amount_refunded"] == 40_000
    assert kept_wallet["balances"] == [{"amount": 0, "currency": "INR"}]
    assert spent_wallet["balances"] == [{"amount": 10_000, "currency": "INR"}]
