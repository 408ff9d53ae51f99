"""Gateway-paid bookings through the API, the real sandbox gateway and verified webhooks."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from temporalio import activity
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.alerts import AlertActivities
from core.db import SessionFactory
from core.settings import Settings
from core.signing import sign_header
from models.db import GatewayTransaction, WebhookEvent
from models.domain import AttentionKind
from models.payloads import CreateOrderInput, CreateOrderResult, OpenAlertInput
from worker import engine_activities
from workflows.booking import BookingWorkflow

from support.auth import OPERATOR, SANDBOX_WEBHOOK_SECRET, bearer
from support.catalog import book_gateway, make_slot
from support.engine import api_client, engine_on_queue, replace_activity
from support.histories import record_history
from support.webhooks import captured_event, signed
from support.workflows import settled, until_state


async def _stored_events(sessions: SessionFactory, event_id: str) -> int:
    async with sessions() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(WebhookEvent)
                .where(WebhookEvent.event_id == event_id)
            )
            or 0
        )


async def test_checkout_payment_confirms_the_booking(
    api: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    sandbox_app: FastAPI,
    temporal: Client,
    sessions: SessionFactory,
) -> None:
    """AWAITING_PAYMENT with an order and checkout page; paying there confirms via the webhook."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=42_000)

    created = await book_gateway(api, customer, slot["id"])

    assert created.status_code == 201, created.text
    booking = created.json()
    assert booking["status"] == "AWAITING_PAYMENT"
    assert booking["payment"]["provider"] == "sandbox"
    assert booking["payment"]["checkout_url"].endswith(booking["payment"]["order_id"])
    assert booking["hold_expires_at"] is not None
    page = await sandbox.get(f"/checkout/{booking['payment']['order_id']}")
    assert page.status_code == 200
    assert "420.00" in page.text

    paid = await sandbox.post(
        f"/v1/orders/{booking['payment']['order_id']}/pay", json={"outcome": "success"}
    )
    assert paid.status_code == 200
    await sandbox_app.state.sandbox.drain()
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    state = await until_state(handle, settled("CONFIRMED"))
    await record_history(handle, "gateway_confirmed_update_with_start")

    assert state.meeting_status == "READY"
    final = (await api.get(f"/v1/bookings/{booking['id']}", headers=bearer(customer))).json()
    assert final["status"] == "CONFIRMED"
    assert final["payment"]["captured"] == {"amount": 42_000, "currency": "INR"}
    assert final["meeting"]["status"] == "READY"
    assert "webhook.payment.captured" in [e["type"] for e in final["timeline"]]


@pytest.mark.contention
async def test_one_captured_webhook_delivered_a_hundred_times_changes_state_once(
    api: httpx.AsyncClient, sessions: SessionFactory, temporal: Client
) -> None:
    """100 deliveries, 20 at a time: every one 2xx, one stored event, one capture."""
    slot = await make_slot(api, price=9_000)
    booking = (await book_gateway(api, uuid.uuid4(), slot["id"])).json()
    event_id = f"evt_{uuid.uuid4().hex}"
    body, headers = signed(captured_event(booking["payment"]["order_id"], 9_000, event_id))

    answers: list[int] = []
    for _ in range(5):
        batch = await asyncio.gather(
            *(api.post("/v1/webhooks/sandbox", content=body, headers=headers) for _ in range(20))
        )
        answers += [r.status_code for r in batch]
    state = await until_state(
        temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}"),
        settled("CONFIRMED"),
    )

    assert answers == [200] * 100
    assert state.status == "CONFIRMED"
    assert await _stored_events(sessions, event_id) == 1
    async with sessions() as session:
        captures = await session.scalar(
            select(func.count())
            .select_from(GatewayTransaction)
            .where(
                GatewayTransaction.booking_id == uuid.UUID(booking["id"]),
                GatewayTransaction.kind == "capture",
            )
        )
    assert captures == 1


@pytest.mark.parametrize(
    "tamper",
    ["forged", "wrong-secret", "one-byte", "stale", "ahead", "missing"],
)
async def test_bad_signatures_are_400_and_change_nothing(
    api: httpx.AsyncClient, sessions: SessionFactory, tamper: str
) -> None:
    """Forged, wrong secret, altered body, 301 s old or ahead, or no header: 400, nothing stored."""
    slot = await make_slot(api, price=1_000)
    customer = uuid.uuid4()
    booking = (await book_gateway(api, customer, slot["id"])).json()
    event_id = f"evt_{uuid.uuid4().hex}"
    event = captured_event(booking["payment"]["order_id"], 1_000, event_id)
    body, headers = signed(event)
    if tamper == "forged":
        headers["Sandbox-Signature"] = f"t={int(time.time())},v1={'0' * 64}"
    elif tamper == "wrong-secret":
        body, headers = signed(event, secret="not-the-secret-" * 3)
    elif tamper == "one-byte":
        body = body.replace(b"1000", b"1001")
    elif tamper == "stale":
        body, headers = signed(event, at=time.time() - 301)
    elif tamper == "ahead":
        body, headers = signed(event, at=time.time() + 301)
    else:
        del headers["Sandbox-Signature"]

    response = await api.post("/v1/webhooks/sandbox", content=body, headers=headers)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_SIGNATURE"
    assert await _stored_events(sessions, event_id) == 0
    after = (await api.get(f"/v1/bookings/{booking['id']}", headers=bearer(customer))).json()
    assert after["status"] == "AWAITING_PAYMENT"


async def test_event_for_an_unknown_order_is_kept_for_operators(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """A valid webhook about an order we do not know: 200, stored as UNMATCHED."""
    event_id = f"evt_{uuid.uuid4().hex}"
    body, headers = signed(captured_event("order_nobody_knows", 500, event_id))

    response = await api.post("/v1/webhooks/sandbox", content=body, headers=headers)

    assert response.status_code == 200
    assert response.json()["status"] == "UNMATCHED"
    async with sessions() as session:
        stored = (
            await session.execute(select(WebhookEvent).where(WebhookEvent.event_id == event_id))
        ).scalar_one()
    assert (stored.status, stored.booking_id) == ("UNMATCHED", None)
    listed = await api.get(
        "/v1/ops/webhook-events", params={"status": "UNMATCHED", "limit": 200}, headers=OPERATOR
    )
    assert event_id in [e["event_id"] for e in listed.json()["items"]]
    alerts = await api.get(
        "/v1/ops/alerts",
        params={"status": "open", "kind": "WEBHOOK_UNMATCHED", "limit": 200},
        headers=OPERATOR,
    )
    mine = [a for a in alerts.json()["items"] if a["subject"] == f"sandbox:{event_id}"]
    assert [(a["severity"], a["booking_id"]) for a in mine] == [("warning", None)]


async def test_webhook_that_cannot_be_stored_gets_a_5xx(settings: Settings) -> None:
    """PostgreSQL unreachable: a valid webhook is answered 503 so the gateway retries it."""
    broken = settings.model_copy(
        update={"database_url": "postgresql+asyncpg://nobody@127.0.0.1:9/nowhere"}
    )
    body, headers = signed(captured_event("order_x", 500, f"evt_{uuid.uuid4().hex}"))
    async with api_client(broken) as client:
        response = await client.post("/v1/webhooks/sandbox", content=body, headers=headers)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "DEPENDENCY_UNAVAILABLE"


async def test_payment_arriving_before_the_create_call_returns_still_confirms(
    temporal: Client,
    settings: Settings,
    sessions: SessionFactory,
    http_for_providers: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    sandbox_app: FastAPI,
) -> None:
    """The customer pays (and the webhook lands) while the create call is still running.

    The answer is the booking as stored when the create is answered: still
    awaiting payment, or already confirmed when the capture was recorded first
    (both are true at their moment; which one is a race this test does not fix).
    Either way it carries the order, and the booking confirms.
    """
    activities = engine_activities(settings, sessions, http_for_providers)
    real_create_order = next(a for a in activities if a.__name__ == "create_order")

    @activity.defn(name="create_order")
    async def create_order(request: CreateOrderInput) -> CreateOrderResult:
        order: CreateOrderResult = await real_create_order(request)
        await sandbox.post(f"/v1/orders/{order.order_id}/pay", json={"outcome": "success"})
        await sandbox_app.state.sandbox.drain()
        return order

    async with engine_on_queue(
        temporal, settings, replace_activity(activities, create_order)
    ) as api:
        slot = await make_slot(api, price=3_000)
        created = await book_gateway(api, uuid.uuid4(), slot["id"])
        assert created.status_code == 201, created.text
        state = await until_state(
            temporal.get_workflow_handle_for(
                BookingWorkflow.run, f"booking-{created.json()['id']}"
            ),
            settled("CONFIRMED"),
        )

    answer = created.json()
    assert answer["status"] in {"AWAITING_PAYMENT", "CONFIRMED"}
    assert answer["payment"]["order_id"]
    assert answer["payment"]["checkout_url"]
    assert state.status == "CONFIRMED"


async def test_gateway_down_answers_503_and_frees_the_slot(
    temporal: Client, settings: Settings, sessions: SessionFactory
) -> None:
    """Order creation gets 503s: retried to the bound, then 503 and the slot is free again."""
    calls: list[str] = []

    def always_503(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(503, json={"error": {"code": "UNAVAILABLE"}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(always_503)) as down:
        activities = engine_activities(settings, sessions, down)
        async with engine_on_queue(temporal, settings, activities) as api:
            slot = await make_slot(api, price=3_000)
            response = await book_gateway(api, uuid.uuid4(), slot["id"])
            after = (await api.get(f"/v1/slots/{slot['id']}", headers=bearer(uuid.uuid4()))).json()

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "PAYMENT_PROVIDER_UNAVAILABLE"
    assert calls == ["/v1/orders"] * settings.gateway_max_attempts
    assert after["remaining_capacity"] == 1


async def test_unknown_provider_is_a_validation_error(api: httpx.AsyncClient) -> None:
    """Only configured gateways can be chosen."""
    slot = await make_slot(api)
    response = await api.post(
        "/v1/bookings",
        json={"slot_id": slot["id"], "payment": {"method": "gateway", "provider": "paypal"}},
        headers={**bearer(uuid.uuid4()), "Idempotency-Key": "k-paypal"},
    )
    assert response.status_code == 422
    assert "payment.provider" in response.json()["error"]["message"]


async def test_flagged_bookings_are_listed_for_operators(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """A booking flagged with money owed shows up under needs_attention=true, with the reason."""
    slot = await make_slot(api, price=1_000)
    customer = uuid.uuid4()
    booking = (await book_gateway(api, customer, slot["id"])).json()
    await ActivityEnvironment().run(
        AlertActivities(sessions).open_alert,
        OpenAlertInput(
            booking_id=uuid.UUID(booking["id"]),
            kind=AttentionKind.REFUND_FAILING,
            details="refund of 1000 INR is owed",
        ),
    )

    listed = await api.get(
        "/v1/bookings", params={"needs_attention": "true", "limit": 200}, headers=OPERATOR
    )
    detail = (await api.get(f"/v1/bookings/{booking['id']}", headers=OPERATOR)).json()

    assert booking["id"] in [b["id"] for b in listed.json()["items"]]
    assert (detail["needs_attention"], detail["attention_reason"]) == (
        True,
        "refund of 1000 INR is owed",
    )


async def test_webhook_naming_an_order_we_have_not_stored_yet_is_matched_by_its_reference(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """The order id is unknown here yet, but the receipt is our booking: signalled, not lost."""
    slot = await make_slot(api, price=2_000)
    booking = (await book_gateway(api, uuid.uuid4(), slot["id"])).json()
    event = captured_event("order_not_stored_yet", 2_000, f"evt_{uuid.uuid4().hex}")
    event["data"]["receipt"] = booking["id"]
    body, headers = signed(event)

    response = await api.post("/v1/webhooks/sandbox", content=body, headers=headers)

    assert response.status_code == 200
    assert response.json()["status"] == "SIGNALLED"
    async with sessions() as session:
        stored = (
            await session.execute(select(WebhookEvent).where(WebhookEvent.event_id == event["id"]))
        ).scalar_one()
    assert str(stored.booking_id) == booking["id"]


@pytest.mark.parametrize(
    "body", [b'{"hello": "a signed event of no known shape"}', b"not json at all \xff"]
)
async def test_a_signed_event_that_maps_to_nothing_is_kept_and_answered_2xx(
    api: httpx.AsyncClient, body: bytes
) -> None:
    """Verified but unmappable: 200 UNPARSEABLE, stored once with its raw body, listed.

    The gateway stops retrying, and nothing it signed is lost.
    """
    body = body.replace(b"a signed", f"a signed {uuid.uuid4().hex}".encode())
    headers = {"Sandbox-Signature": sign_header([SANDBOX_WEBHOOK_SECRET], int(time.time()), body)}

    first = await api.post("/v1/webhooks/sandbox", content=body, headers=headers)
    again = await api.post("/v1/webhooks/sandbox", content=body, headers=headers)
    listed = await api.get("/v1/ops/webhook-events?status=UNPARSEABLE", headers=OPERATOR)

    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == "UNPARSEABLE"
    assert first.json()["event_id"] == again.json()["event_id"]
    mine = [e for e in listed.json()["items"] if e["event_id"] == first.json()["event_id"]]
    assert len(mine) == 1
    assert mine[0]["raw_body"] == body.decode("utf-8", "replace")
    alerts = await api.get(
        "/v1/ops/alerts", params={"kind": "WEBHOOK_UNPARSEABLE", "limit": 200}, headers=OPERATOR
    )
    subject = f"sandbox:{first.json()['event_id']}"
    # Stored once, so alerted once: the repeat is the same event.
    assert [a["occurrences"] for a in alerts.json()["items"] if a["subject"] == subject] == [1]


async def test_a_customer_cannot_hoard_slots_with_unpaid_holds(api: httpx.AsyncClient) -> None:
    """Eight unpaid gateway bookings at once by one customer: three held, five refused.

    The five are 429 TOO_MANY_ACTIVE_HOLDS with Retry-After, and their slots stay
    bookable by others.
    """
    hoarder, other = uuid.uuid4(), uuid.uuid4()
    slots = [await make_slot(api, price=1_000) for _ in range(8)]

    answers = await asyncio.gather(*(book_gateway(api, hoarder, s["id"]) for s in slots))

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * 3 + [429] * 5
    refused = [a for a in answers if a.status_code == 429]
    assert {a.json()["error"]["code"] for a in refused} == {"TOO_MANY_ACTIVE_HOLDS"}
    assert all(int(a.headers["Retry-After"]) > 0 for a in refused)
    free = [s for s, a in zip(slots, answers, strict=True) if a.status_code == 429]
    taken_by_other = await book_gateway(api, other, free[0]["id"])
    assert taken_by_other.status_code == 201, taken_by_other.text
