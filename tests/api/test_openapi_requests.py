"""Each request example of the served OpenAPI document, sent to the live API, succeeds.

Every operation that shows a request body example or a parameter example is
covered: for each of its named examples the test sets up what the example
presumes (a resource, its slots, a funded wallet, a booking to move, cancel or
refund, an open alert, a booking whose meeting link or refund is failing, a
terminated workflow, a paid top-up) and sends the example's body and
parameters as they are, except for what an example cannot know:

- ids in the path and the body's ``slot_id`` / ``resource_id``: the ones set up;
- a manage link's ``token``: one issued for the booking set up (the example's
  token is signed with no key this API has);
- times: the examples' fixed dates (early December 2026) are moved by whole
  weeks to lie ahead of the test's clock, the weekday and the hour kept, as
  slots and bookings in the past are refused;
- the caller: a fresh customer and operator per example, so the example's
  ``Idempotency-Key`` is sent as it is and never meets an earlier use.

The API runs with ``https://shop.example.com`` among its browser origins, the
origin of the examples' ``return_url``.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jsonschema_rs
from fastapi import FastAPI
from temporalio.client import Client

from core.manage_links import issue, link_key
from core.settings import Settings
from workflows.booking import BookingWorkflow
from workflows.topup import TopupWorkflow

from support.auth import bearer
from support.catalog import fund
from support.engine import api_client
from support.webhooks import captured_event, signed
from support.workflows import settled, until_state

SHOP = "https://shop.example.com"
FIRST_DAY = datetime(2026, 12, 4, tzinfo=UTC)
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
SANDBOX_AUTH = {"Authorization": "Bearer sandbox-test-key"}


def _request_examples(
    document: dict[str, Any],
) -> Iterator[tuple[str, str, str, Any, dict[str, Any]]]:
    """(method, path, example name, body or None, header examples) of each example.

    An operation counts if its body or one of its parameters has an example; a path
    parameter's example (a manage token) is replaced by a real one, so only the headers'
    examples are passed on.
    """
    for path, item in document["paths"].items():
        for method, operation in item.items():
            examples = {
                p["name"]: (p["in"], p["schema"]["examples"][0])
                for p in operation.get("parameters", [])
                if p.get("schema", {}).get("examples")
            }
            headers = {
                name: value for name, (where, value) in examples.items() if where == "header"
            }
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            named = dict((content or {}).get("examples", {}))
            if content is not None and "example" in content:
                named["example"] = {"value": content["example"]}
            if not named and examples:
                named = {"parameters": {"value": None}}
            for name, example in named.items():
                yield method.upper(), path, name, example["value"], headers


def _ahead(value: Any, weeks: int) -> Any:
    """``value`` with each RFC 3339 time in it ``weeks`` weeks later."""
    if isinstance(value, dict):
        return {k: _ahead(v, weeks) for k, v in value.items()}
    if isinstance(value, list):
        return [_ahead(v, weeks) for v in value]
    if isinstance(value, str) and TIME.match(value):
        moved = datetime.fromisoformat(value) + timedelta(weeks=weeks)
        return moved.isoformat().replace("+00:00", "Z")
    return value


@dataclass
class Request:
    """What is sent for one example: the ids of its path, its body and headers."""

    ids: dict[str, str]
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    """The live API (with the shop's origin allowed) and what the examples presume."""

    shop: httpx.AsyncClient
    sandbox_app: FastAPI
    settings: Settings
    temporal: Client
    sandbox: httpx.AsyncClient
    document: dict[str, Any]
    weeks: int

    def example(self, method: str, path: str, name: str) -> Any:
        """A request example of the document, its times moved ahead."""
        operation = self.document["paths"][path][method.lower()]
        body = operation["requestBody"]["content"]["application/json"]["examples"][name]
        return _ahead(body["value"], self.weeks)

    async def post(self, path: str, body: Any, headers: dict[str, str]) -> dict[str, Any]:
        """POST that must succeed; its JSON answer."""
        answer = await self.shop.post(path, json=body, headers=headers)
        assert answer.is_success, (path, answer.text)
        result: dict[str, Any] = answer.json()
        return result

    async def resource(self, mode: str = "slots", **changes: Any) -> dict[str, Any]:
        """A resource made from the document's own example of that mode."""
        body = {**self.example("POST", "/v1/resources", mode), **changes}
        return await self.post("/v1/resources", body, bearer(uuid.uuid4(), "operator"))

    async def two_slots(self, **changes: Any) -> list[dict[str, Any]]:
        """A slot resource with the document's example's two slots."""
        resource = await self.resource(**changes)
        path = "/v1/resources/{resource_id}/slots"
        body = self.example("POST", path, "two")
        created = await self.post(
            path.format(resource_id=resource["id"]), body, bearer(uuid.uuid4(), "operator")
        )
        slots: list[dict[str, Any]] = created["items"]
        return slots

    async def booking(
        self, customer: uuid.UUID, name: str = "wallet", **changes: Any
    ) -> dict[str, Any]:
        """A booking made from the document's example ``name``, settled in its first state."""
        body = {**self.example("POST", "/v1/bookings", name), **changes}
        if body["payment"]["method"] == "wallet":
            await fund(self.shop, customer, 1_000_000)
        headers = {**bearer(customer), "Idempotency-Key": str(uuid.uuid4())}
        booking = await self.post("/v1/bookings", body, headers)
        status = "CONFIRMED" if body["payment"]["method"] == "wallet" else "AWAITING_PAYMENT"
        await until_state(self.handle(booking["id"]), settled(status))
        return booking

    async def slot_booking(
        self, customer: uuid.UUID, resource: dict[str, Any] | None = None, **changes: Any
    ) -> dict[str, Any]:
        """A confirmed wallet booking of the first of two slots (the second stays free)."""
        first, second = await self.two_slots(**(resource or {}))
        booking = await self.booking(customer, slot_id=first["id"], **changes)
        booking["other_slot_id"] = second["id"]
        return booking

    async def range_booking(self, customer: uuid.UUID) -> dict[str, Any]:
        """A confirmed wallet booking of the range example, on the car of the resource example."""
        car = await self.resource("range")
        return await self.booking(customer, "range", resource_id=car["id"])

    def handle(self, booking_id: str) -> Any:
        """The booking's workflow."""
        return self.temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking_id}")

    def token(self, booking_id: str) -> str:
        """A manage link's token for the booking."""
        key = link_key(self.settings)
        assert key is not None
        return issue(key, uuid.UUID(booking_id), int(time.time()) + 3600)

    async def google_booking(self, customer: uuid.UUID) -> dict[str, Any]:
        """A confirmed booking whose meeting link keeps failing (Google is not configured)."""
        booking = await self.slot_booking(customer, {"meeting_provider": "google"})
        await until_state(
            self.handle(booking["id"]), lambda s: "MEETING_LINK_FAILING" in s.attention and s.idle
        )
        return booking


Prepare = Callable[[World, str, Any, dict[str, Any]], Awaitable[Request]]
PREPARE: dict[str, Prepare] = {}


def prepares(key: str) -> Callable[[Prepare], Prepare]:
    """Register how the examples of ``key`` ("METHOD path") are made sendable."""

    def register(function: Prepare) -> Prepare:
        PREPARE[key] = function
        return function

    return register


def _operator() -> dict[str, str]:
    return bearer(uuid.uuid4(), "operator")


@prepares("POST /v1/resources")
async def _create_resource(world: World, name: str, body: Any, params: dict[str, Any]) -> Request:
    return Request({}, body, _operator())


@prepares("PATCH /v1/resources/{resource_id}")
async def _update_resource(world: World, name: str, body: Any, params: dict[str, Any]) -> Request:
    resource = await world.resource()
    return Request({"resource_id": resource["id"]}, body, _operator())


@prepares("POST /v1/resources/{resource_id}/slots")
async def _create_slots(world: World, name: str, body: Any, params: dict[str, Any]) -> Request:
    resource = await world.resource()
    return Request({"resource_id": resource["id"]}, body, _operator())


@prepares("POST /v1/bookings")
async def _create_booking(world: World, name: str, body: Any, params: dict[str, Any]) -> Request:
    customer = uuid.uuid4()
    await fund(world.shop, customer, 1_000_000)
    if "slot_id" in body:
        body["slot_id"] = (await world.two_slots())[0]["id"]
    if "resource_id" in body:
        body["resource_id"] = (await world.resource("range"))["id"]
    return Request({}, body, {**bearer(customer), **params})


async def _booking_for(world: World, customer: uuid.UUID, name: str, body: Any) -> dict[str, Any]:
    """The booking a change example presumes; the body's slot is the booking's other slot."""
    if name == "range":
        return await world.range_booking(customer)
    booking = await world.slot_booking(customer)
    if body is not None and "slot_id" in body:
        body["slot_id"] = booking["other_slot_id"]
    return booking


@prepares("POST /v1/bookings/{booking_id}/cancel")
@prepares("POST /v1/bookings/{booking_id}/reschedule")
async def _change(world: World, name: str, body: Any, params: dict[str, Any]) -> Request:
    customer = uuid.uuid4()
    booking = await _booking_for(world, customer, name, body)
    return Request({"booking_id": booking["id"]}, body, bearer(customer))


@prepares("GET /v1/manage/{token}")
@prepares("POST /v1/manage/{token}/cancel")
@prepares("POST /v1/manage/{token}/reschedule")
async def _managed(world: World, name: str, body: Any, params: dict[str, Any]) -> Request:
    booking = await _booking_for(world, uuid.uuid4(), name, body)
    return Request({"token": world.token(booking["id"])}, body)


@prepares("POST /v1/wallets/me/topups")
async def _topup(world: World, name: str, body: Any, params: dict[str, Any]) -> Request:
    return Request({}, body, {**bearer(uuid.uuid4()), **params})


@prepares("POST /v1/wallets/{customer_id}/credits")
async def _credit(world: World, name: str, body: Any, params: dict[str, Any]) -> Request:
    return Request({"customer_id": str(uuid.uuid4())}, body, {**_operator(), **params})


@prepares("POST /v1/ops/alerts/{alert_id}/resolve")
async def _resolve(world: World, name: str, body: Any, params: dict[str, Any]) -> Request:
    booking = await world.google_booking(uuid.uuid4())
    listed = await world.shop.get(
        "/v1/ops/alerts", params={"booking_id": booking["id"]}, headers=_operator()
    )
    (alert,) = listed.json()["items"]
    return Request({"alert_id": alert["id"]}, body, _operator())


@prepares("POST /v1/ops/bookings/{booking_id}/retry-meeting")
async def _retry_meeting(world: World, name: str, body: Any, params: dict[str, Any]) -> Request:
    booking = await world.google_booking(uuid.uuid4())
    return Request({"booking_id": booking["id"]}, body, _operator())


@prepares("POST /v1/ops/bookings/{booking_id}/retry-pending-steps")
async def _retry_pending(world: World, name: str, body: Any, params: dict[str, Any]) -> Request:
    """A gateway booking paid the wrong amount, then cancelled: its refund is pending.

    The gateway knows no such payment, so it refuses the refund of it.
    """
    customer = uuid.uuid4()
    slot = (await world.two_slots())[0]
    booking = await world.booking(customer, "gateway", slot_id=slot["id"])
    handle = world.handle(booking["id"])
    event = captured_event(booking["payment"]["order_id"], 999, f"evt_{uuid.uuid4().hex}")
    content, headers = signed(event)
    assert (
        await world.shop.post("/v1/webhooks/sandbox", content=content, headers=headers)
    ).is_success
    await until_state(handle, lambda s: "PAYMENT_MISMATCH" in s.attention and s.idle)
    cancelled = await world.shop.post(
        f"/v1/bookings/{booking['id']}/cancel", headers=bearer(customer)
    )
    assert cancelled.status_code == 200, cancelled.text
    await until_state(handle, lambda s: "REFUND_FAILING" in s.attention and s.idle)
    return Request({"booking_id": booking["id"]}, body, _operator())


@prepares("POST /v1/ops/bookings/{booking_id}/recover")
async def _recover(world: World, name: str, body: Any, params: dict[str, Any]) -> Request:
    booking = await world.slot_booking(uuid.uuid4())
    await world.handle(booking["id"]).terminate("by mistake")
    return Request({"booking_id": booking["id"]}, body, _operator())


@prepares("POST /v1/ops/bookings/{booking_id}/refund")
@prepares("POST /v1/ops/bookings/{booking_id}/resend-notification")
async def _booking_action(world: World, name: str, body: Any, params: dict[str, Any]) -> Request:
    booking = await world.slot_booking(uuid.uuid4(), contact={"email": "asha@example.com"})
    return Request({"booking_id": booking["id"]}, body, {**_operator(), **params})


@prepares("POST /v1/ops/topups/{topup_id}/refund")
async def _refund_topup(world: World, name: str, body: Any, params: dict[str, Any]) -> Request:
    """A top-up paid at the sandbox's checkout and credited."""
    customer = uuid.uuid4()
    topup = await world.post(
        "/v1/wallets/me/topups",
        world.example("POST", "/v1/wallets/me/topups", "sandbox"),
        {**bearer(customer), "Idempotency-Key": str(uuid.uuid4())},
    )
    order = topup["payment"]["order_id"]
    paid = await world.sandbox.post(f"/v1/orders/{order}/pay", json={"outcome": "success"})
    assert paid.is_success, paid.text
    await world.sandbox_app.state.sandbox.drain()
    handle = world.temporal.get_workflow_handle_for(TopupWorkflow.run, f"topup-{topup['id']}")
    async with asyncio.timeout(30):
        while True:
            state = await handle.query(TopupWorkflow.state)
            if state.status == "CREDITED" and state.idle:
                break
            await asyncio.sleep(0.05)
    return Request({"topup_id": topup["id"]}, body, {**_operator(), **params})


@prepares("POST /codec/decode")
@prepares("POST /codec/encode")
async def _codec(world: World, name: str, body: Any, params: dict[str, Any]) -> Request:
    return Request({}, body, _operator())


def _success(operation: dict[str, Any]) -> str:
    (status,) = [s for s in operation["responses"] if s.startswith("2")]
    return status


async def test_every_request_example_gets_its_documented_success_answer(
    api: httpx.AsyncClient,
    settings: Settings,
    temporal: Client,
    sandbox: httpx.AsyncClient,
    sandbox_app: FastAPI,
) -> None:
    """Each named example of each operation, its presumptions set up, answers its 2xx."""
    document = (await api.get("/openapi.json")).json()
    examples = list(_request_examples(document))
    weeks = -(-(datetime.now(UTC) + timedelta(days=14) - FIRST_DAY) // timedelta(weeks=1))
    answers: dict[str, tuple[int, str]] = {}
    wrong = []
    async with api_client(settings.model_copy(update={"cors_origins": [SHOP]})) as shop:
        world = World(shop, sandbox_app, settings, temporal, sandbox, document, weeks)
        for method, path, name, body, params in examples:
            operation = document["paths"][path][method.lower()]
            prepare = PREPARE.get(f"{method} {path}")
            if prepare is None:
                continue  # Named by the assertion below.
            request = await prepare(world, name, _ahead(body, weeks), params)
            url = path.format(**request.ids)
            answer = await shop.request(method, url, json=request.body, headers=request.headers)
            label = f"{method} {path} {name}"
            answers[label] = (answer.status_code, answer.text[:300])
            schema = operation["responses"].get(str(answer.status_code), {})
            media = schema.get("content", {}).get("application/json", {})
            validator = jsonschema_rs.Draft202012Validator(
                {**media.get("schema", {}), "components": document["components"]}
            )
            if str(answer.status_code) != _success(operation) or not validator.is_valid(
                answer.json()
            ):
                wrong.append((label, answers[label]))

    assert {f"{m} {p}" for m, p, *_ in examples} == set(PREPARE)
    assert len(answers) == len(examples) >= 26, answers
    assert wrong == []


async def test_every_operation_with_a_body_shows_a_request_example(api: httpx.AsyncClient) -> None:
    """No body is left to be pieced together from its fields' examples (which may not agree)."""
    document = (await api.get("/openapi.json")).json()
    bare = [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
        and not operation["requestBody"]["content"]["application/json"].get("examples")
    ]

    assert bare == []
