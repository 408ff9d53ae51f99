"""A sandbox restarted in the middle of a checkout: the customer pays, the booking confirms."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from temporalio.client import Client

from api.app import create_app
from core.db import SessionFactory
from core.settings import Settings
from sandbox.app import create_app as create_sandbox
from sandbox.from_settings import sandbox_config
from worker import build_worker, engine_activities
from workflows.booking import BookingWorkflow

from support.auth import API_URL, SANDBOX_URL
from support.catalog import book_gateway, make_slot
from support.workflows import settled, until_state


class Current:
    """An ASGI app that forwards to whichever sandbox app runs now (it is restarted)."""

    def __init__(self) -> None:
        self.app: FastAPI | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.app is not None, "no sandbox is running"
        await self.app(scope, receive, send)


async def test_checkout_survives_a_sandbox_restart(
    settings: Settings, sessions: SessionFactory, temporal: Client, tmp_path: Path
) -> None:
    """Order before the restart, payment after it: the webhook confirms the booking."""
    queue = settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex[:10]}"})
    config = replace(
        sandbox_config(queue), state_path=tmp_path / "sandbox.db", initial_backoff=0.05
    )
    current = Current()
    api_app = create_app(queue)
    async with (
        api_app.router.lifespan_context(api_app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api_app), base_url=API_URL, timeout=60
        ) as api,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=current), base_url=SANDBOX_URL) as gw,
        build_worker(temporal, queue, engine_activities(queue, sessions, gw)),
    ):
        first = create_sandbox(config, webhook_client=api)
        async with first.router.lifespan_context(first):
            current.app = first
            slot = await make_slot(api, price=3_300)
            booking = (await book_gateway(api, uuid.uuid4(), slot["id"])).json()
        # The sandbox is down and comes back with its state from the data directory.
        second = create_sandbox(config, webhook_client=api)
        async with second.router.lifespan_context(second):
            current.app = second
            checkout = await gw.get(f"/checkout/{booking['payment']['order_id']}")
            paid = await gw.post(
                f"/v1/orders/{booking['payment']['order_id']}/pay", json={"outcome": "success"}
            )
            await second.state.sandbox.drain()
            handle = temporal.get_workflow_handle_for(
                BookingWorkflow.run, f"booking-{booking['id']}"
            )
            state = await until_state(handle, settled("CONFIRMED"))

    assert booking["status"] == "AWAITING_PAYMENT"
    assert checkout.status_code == 200
    assert paid.status_code == 200
    assert state.status == "CONFIRMED"
