"""Helpers shared by the tests: tokens and catalogue set-up through the public API."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client, WorkflowHandle

from api.app import create_app
from core.auth import Role, issue_token
from core.db import SessionFactory
from core.settings import Settings
from models.db import Booking, Resource, Slot
from worker import build_worker

JWT_SECRET = "test-secret-" + "x" * 40
SANDBOX_WEBHOOK_SECRET = "whsec-test-" + "y" * 32
API_URL = "http://api.test"
SANDBOX_URL = "http://sandbox.test"


def bearer(sub: uuid.UUID, role: Role = "customer", ttl: int = 3600) -> dict[str, str]:
    """Authorization header for ``sub``."""
    return {"Authorization": f"Bearer {issue_token(JWT_SECRET, sub, role, ttl)}"}


OPERATOR = bearer(uuid.uuid4(), "operator")


async def make_slot(
    api: httpx.AsyncClient,
    *,
    price: int = 50_000,
    currency: str = "INR",
    capacity: int = 1,
    starts_in: timedelta = timedelta(days=2),
    length: timedelta = timedelta(hours=1),
) -> dict[str, Any]:
    """Create a resource with one slot and return the slot."""
    resource = await api.post(
        "/v1/resources",
        json={"name": "Dr. Rao", "timezone": "Asia/Kolkata"},
        headers=OPERATOR,
    )
    assert resource.status_code == 201, resource.text
    starts = datetime.now(UTC).replace(microsecond=0) + starts_in
    slots = await api.post(
        f"/v1/resources/{resource.json()['id']}/slots",
        json={
            "slots": [
                {
                    "starts_at": starts.isoformat(),
                    "ends_at": (starts + length).isoformat(),
                    "price": {"amount": price, "currency": currency},
                    "capacity": capacity,
                }
            ]
        },
        headers=OPERATOR,
    )
    assert slots.status_code == 201, slots.text
    slot: dict[str, Any] = slots.json()["items"][0]
    return slot


async def fund(
    api: httpx.AsyncClient, customer: uuid.UUID, amount: int, currency: str = "INR"
) -> None:
    """Top up a customer's wallet through the operator API."""
    response = await api.post(
        f"/v1/wallets/{customer}/credits",
        json={"amount": {"amount": amount, "currency": currency}, "reason": "test top-up"},
        headers={**OPERATOR, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text


async def book(
    api: httpx.AsyncClient,
    customer: uuid.UUID,
    slot_id: str,
    *,
    key: str | None = None,
    contact: dict[str, str] | None = None,
) -> httpx.Response:
    """Create a wallet-paid booking."""
    body: dict[str, Any] = {"slot_id": slot_id, "payment": {"method": "wallet"}}
    if contact is not None:
        body["contact"] = contact
    return await api.post(
        "/v1/bookings",
        json=body,
        headers={**bearer(customer), "Idempotency-Key": key or str(uuid.uuid4())},
    )


@contextlib.asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An API app for these settings (lifespan entered) behind an in-process client."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api.test", timeout=60
        ) as client,
    ):
        yield client


@contextlib.asynccontextmanager
async def engine_on_queue(
    temporal: Client,
    settings: Settings,
    activities: list[Callable[..., Any]],
) -> AsyncIterator[httpx.AsyncClient]:
    """A worker with ``activities`` on a fresh task queue, and an API that starts bookings there."""
    queue_settings = settings.model_copy(update={"task_queue": f"q-{uuid.uuid4().hex[:10]}"})
    async with (
        build_worker(temporal, queue_settings, activities),
        api_client(queue_settings) as api,
    ):
        yield api


def replace_activity(
    activities: list[Callable[..., Any]], replacement: Callable[..., Any]
) -> list[Callable[..., Any]]:
    """The activity list with the one of the same registered name swapped for ``replacement``."""
    name = activity_name(replacement)
    assert any(activity_name(a) == name for a in activities), name
    return [replacement if activity_name(a) == name else a for a in activities]


def activity_name(fn: Callable[..., Any]) -> str:
    """The activity's name (the engine registers each under its method name)."""
    return str(fn.__name__)


HISTORIES = Path(__file__).parent / "replay" / "histories"


def without_stack_traces(value: Any) -> Any:
    """A history with failure stack traces emptied: they name this machine's paths."""
    if isinstance(value, dict):
        return {k: "" if k == "stackTrace" else without_stack_traces(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_stack_traces(v) for v in value]
    return value


async def record_history(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """With BOOKING_RECORD_HISTORIES set, keep this run's history for the replay tests."""
    if os.environ.get("BOOKING_RECORD_HISTORIES"):
        history = await handle.fetch_history()
        HISTORIES.mkdir(parents=True, exist_ok=True)
        pretty = json.dumps(without_stack_traces(json.loads(history.to_json())), indent=1)
        (HISTORIES / f"{name}.json").write_text(pretty + "\n")


async def insert_confirmed_booking(sessions: SessionFactory, email: str | None = None) -> uuid.UUID:
    """Write a CONFIRMED wallet booking (and its resource and slot) straight to the database."""
    starts = datetime.now(UTC) + timedelta(days=1)
    async with sessions() as session:
        resource = Resource(
            id=uuid.uuid4(), name="r", timezone="UTC", meeting_provider="jitsi", refund_policy={}
        )
        session.add(resource)
        await session.flush()
        await session.refresh(resource)
        slot = Slot(
            id=uuid.uuid4(),
            resource_id=resource.id,
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
            price_amount=100,
            currency="INR",
            capacity=1,
            active_count=1,
        )
        session.add(slot)
        await session.flush()
        booking = Booking(
            id=uuid.uuid4(),
            customer_id=uuid.uuid4(),
            slot_id=slot.id,
            resource_id=resource.id,
            resource_seq=resource.seq,
            status="CONFIRMED",
            amount=100,
            currency="INR",
            payment_method="wallet",
            payment_status="CAPTURED",
            captured_amount=100,
            meeting_status="READY",
            meeting_url="https://meet.example/room",
            meeting_provider="jitsi",
            contact={"email": email} if email else None,
            workflow_id="wf",
            exclusive=True,
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
        )
        session.add(booking)
        await session.commit()
        return booking.id


class ScriptedHTTP:
    """A third party faked at the HTTP layer: answers requests in order and records them."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def client(self) -> httpx.AsyncClient:
        """An HTTP client whose every request is answered by this script."""
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


def json_fixture(folder: Path, name: str) -> dict[str, Any]:
    """Load ``folder/name.json``: a recorded-style answer or event of a third party."""
    body: dict[str, Any] = json.loads((folder / f"{name}.json").read_text())
    return body
