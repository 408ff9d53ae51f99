"""Authentication, authorisation, the error envelope, and the read endpoints."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from sqlalchemy import func, select, update

from core.db import SessionFactory
from models.db import AuditRecord, OutgoingEvent
from models.domain import AttentionKind
from store import alerts

from support.auth import JWT_SECRET, OPERATOR, bearer
from support.catalog import book, fund, make_slot


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        bearer(uuid.uuid4(), ttl=-120),  # past the 30 s clock-skew leeway
        {
            "Authorization": "Bearer "
            + jwt.encode({"sub": str(uuid.uuid4()), "exp": 9999999999}, "another-secret-" * 3)
        },
        {"Authorization": "Bearer " + jwt.encode({"sub": "alice", "exp": 9999999999}, JWT_SECRET)},
    ],
    ids=["none", "garbage", "basic", "expired", "wrong-secret", "sub-not-uuid"],
)
async def test_bad_or_missing_token_is_401(api: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """Every kind of bad credential answers 401 UNAUTHENTICATED in the envelope."""
    response = await api.get("/v1/wallets/me", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["error"]["code"] == "UNAUTHENTICATED"
    assert body["error"]["request_id"] == response.headers["X-Request-ID"]


async def test_customer_cannot_use_operator_endpoints(api: httpx.AsyncClient) -> None:
    """Creating resources and crediting wallets is 403 for customers."""
    customer = bearer(uuid.uuid4())
    created = await api.post("/v1/resources", json={"name": "x"}, headers=customer)
    credited = await api.post(
        f"/v1/wallets/{uuid.uuid4()}/credits",
        json={"amount": {"amount": 100, "currency": "INR"}, "reason": "gift"},
        headers={**customer, "Idempotency-Key": "k"},
    )
    assert (created.status_code, created.json()["error"]["code"]) == (403, "FORBIDDEN")
    assert (credited.status_code, credited.json()["error"]["code"]) == (403, "FORBIDDEN")


async def test_another_customers_booking_is_404(api: httpx.AsyncClient) -> None:
    """A booking is visible to its owner and operators; to anyone else it does not exist."""
    owner, stranger = uuid.uuid4(), uuid.uuid4()
    slot = await make_slot(api, price=100)
    await fund(api, owner, 100)
    booking_id = (await book(api, owner, slot["id"])).json()["id"]

    as_stranger = await api.get(f"/v1/bookings/{booking_id}", headers=bearer(stranger))
    as_owner = await api.get(f"/v1/bookings/{booking_id}", headers=bearer(owner))
    as_operator = await api.get(f"/v1/bookings/{booking_id}", headers=OPERATOR)

    assert as_stranger.status_code == 404
    assert as_stranger.json()["error"]["code"] == "BOOKING_NOT_FOUND"
    assert as_owner.status_code == 200
    assert as_operator.status_code == 200
    stranger_list = await api.get("/v1/bookings", headers=bearer(stranger))
    assert stranger_list.json()["items"] == []


async def test_request_id_is_echoed_when_given(api: httpx.AsyncClient) -> None:
    """A caller's X-Request-ID comes back in the header and in the error body."""
    response = await api.get(
        "/v1/slots/not-a-uuid", headers={**OPERATOR, "X-Request-ID": "abc-123"}
    )
    assert response.status_code == 422
    assert response.headers["X-Request-ID"] == "abc-123"
    assert response.json()["error"]["request_id"] == "abc-123"


async def test_unknown_route_is_an_enveloped_404(api: httpx.AsyncClient) -> None:
    """Even an unknown path answers with the error envelope."""
    response = await api.get("/v1/nothing-here")
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"code", "message", "request_id"}


async def test_slots_are_listed_by_resource_availability_and_cursor(
    api: httpx.AsyncClient,
) -> None:
    """Slots list in start order, filter by availability, and page with a cursor."""
    resource = (
        await api.post("/v1/resources", json={"name": "Tutor", "timezone": "UTC"}, headers=OPERATOR)
    ).json()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    specs = [
        {
            "starts_at": (start + timedelta(hours=i)).isoformat(),
            "ends_at": (start + timedelta(hours=i, minutes=45)).isoformat(),
            "price": {"amount": 1_000, "currency": "INR"},
            "capacity": 1,
        }
        for i in range(5)
    ]
    created = await api.post(
        f"/v1/resources/{resource['id']}/slots", json={"slots": specs}, headers=OPERATOR
    )
    ids = [s["id"] for s in created.json()["items"]]
    customer = uuid.uuid4()
    await fund(api, customer, 1_000)
    assert (await book(api, customer, ids[1])).status_code == 201

    seen: list[str] = []
    cursor = None
    while True:
        params = {"resource_id": resource["id"], "limit": "2"}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/v1/slots", params=params, headers=OPERATOR)).json()
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    available = await api.get(
        "/v1/slots",
        params={"resource_id": resource["id"], "available": "true"},
        headers=OPERATOR,
    )

    assert seen == ids
    assert [s["id"] for s in available.json()["items"]] == [ids[0], *ids[2:]]


async def test_slot_with_end_before_start_is_refused_whole(api: httpx.AsyncClient) -> None:
    """A bulk create with one bad slot creates none of them."""
    resource = (await api.post("/v1/resources", json={"name": "Room"}, headers=OPERATOR)).json()
    start = datetime.now(UTC) + timedelta(days=1)
    good = {
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(),
        "price": {"amount": 1, "currency": "INR"},
    }
    bad = {**good, "ends_at": (start - timedelta(hours=1)).isoformat()}
    response = await api.post(
        f"/v1/resources/{resource['id']}/slots", json={"slots": [good, bad]}, headers=OPERATOR
    )
    listed = await api.get("/v1/slots", params={"resource_id": resource["id"]}, headers=OPERATOR)
    assert response.status_code == 422
    assert "slots.1" in response.json()["error"]["message"]
    assert listed.json()["items"] == []


async def test_resource_with_unknown_timezone_is_refused(api: httpx.AsyncClient) -> None:
    """Time zones must be IANA names."""
    response = await api.post(
        "/v1/resources", json={"name": "x", "timezone": "Mars/Olympus"}, headers=OPERATOR
    )
    assert response.status_code == 422
    assert "timezone" in response.json()["error"]["message"]


async def test_operator_credit_is_idempotent_per_key(api: httpx.AsyncClient) -> None:
    """The same credit sent twice with one key moves money once; another body is 422."""
    customer = uuid.uuid4()
    body = {"amount": {"amount": 2_500, "currency": "INR"}, "reason": "goodwill"}
    headers = {**OPERATOR, "Idempotency-Key": str(uuid.uuid4())}
    first = await api.post(f"/v1/wallets/{customer}/credits", json=body, headers=headers)
    again = await api.post(f"/v1/wallets/{customer}/credits", json=body, headers=headers)
    other = await api.post(
        f"/v1/wallets/{customer}/credits",
        json={**body, "amount": {"amount": 9_999, "currency": "INR"}},
        headers=headers,
    )
    wallet = (await api.get("/v1/wallets/me", headers=bearer(customer))).json()
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert wallet["balances"] == [{"amount": 2_500, "currency": "INR"}]


async def test_health_and_metrics(api: httpx.AsyncClient) -> None:
    """Liveness answers ok; metrics count requests by route template and create decisions."""
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    assert (await book(api, uuid.uuid4(), str(uuid.uuid4()))).status_code == 404
    slot = await make_slot(api, price=100)
    assert (await book(api, uuid.uuid4(), slot["id"])).status_code == 402
    metrics = await api.get("/metrics")
    assert metrics.status_code == 200
    assert 'route="/healthz"' in metrics.text
    assert "booking_http_requests_total" in metrics.text
    assert 'booking_create_decisions_total{status="402"}' in metrics.text


async def test_operators_see_booking_events_with_their_delivery_status(
    api: httpx.AsyncClient,
) -> None:
    """A confirmed booking's events are listed for operators; customers may not look."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=700)
    await fund(api, customer, 700)
    booking = (await book(api, customer, slot["id"])).json()

    listed = await api.get(
        "/v1/ops/outgoing-events", params={"booking_id": booking["id"]}, headers=OPERATOR
    )
    refused = await api.get("/v1/ops/outgoing-events", headers=bearer(customer))

    mine = {e["type"] for e in listed.json()["items"]}
    assert {"booking.created", "booking.confirmed"} <= mine
    assert refused.status_code == 403


async def _all_pages(api: httpx.AsyncClient, path: str, headers: dict[str, str]) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await api.get(path, params=params, headers=headers)).json()
        ids += [str(item["id"]) for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


async def test_bookings_and_ledger_page_newest_first_without_gaps(
    api: httpx.AsyncClient,
) -> None:
    """Two items a page, every booking and ledger entry once, newest first; junk cursors 422."""
    customer = uuid.uuid4()
    await fund(api, customer, 5_000)
    created = []
    for _ in range(5):
        slot = await make_slot(api, price=1_000)
        created.append((await book(api, customer, slot["id"])).json()["id"])

    bookings = await _all_pages(api, "/v1/bookings", bearer(customer))
    ledger = await _all_pages(api, "/v1/wallets/me/ledger", bearer(customer))
    junk = await api.get("/v1/bookings", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=OPERATOR)

    assert bookings == list(reversed(created))
    assert len(ledger) == 6
    assert ledger == sorted(ledger, key=int, reverse=True)
    assert junk.status_code == 422
    assert junk.json()["error"]["message"] == "cursor: not a valid cursor"


@pytest.mark.parametrize(
    "path",
    ["/v1/bookings?statsu=CONFIRMED", "/v1/slots?resourceid=x", "/v1/ops/alerts?state=open"],
)
async def test_an_unknown_query_parameter_is_422_naming_it(
    api: httpx.AsyncClient, path: str
) -> None:
    """A misspelt filter is refused, never silently ignored (which would list everything)."""
    response = await api.get(path, headers=OPERATOR)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    misspelt = path.split("?")[1].split("=")[0]
    assert error["message"].startswith(f"{misspelt}: unknown query parameter")


async def test_operators_filter_bookings_by_customer_and_resource(api: httpx.AsyncClient) -> None:
    """customer_id and resource_id narrow the list; a customer may not ask for another's."""
    alice, bob = uuid.uuid4(), uuid.uuid4()
    first, second = await make_slot(api, price=1_000), await make_slot(api, price=1_000)
    for customer in (alice, bob):
        await fund(api, customer, 1_000)
    mine = (await book(api, alice, first["id"])).json()
    theirs = (await book(api, bob, second["id"])).json()

    by_customer = await api.get(f"/v1/bookings?customer_id={alice}", headers=OPERATOR)
    by_resource = await api.get(
        f"/v1/bookings?resource_id={second['resource_id']}", headers=OPERATOR
    )
    own = await api.get(f"/v1/bookings?customer_id={alice}", headers=bearer(alice))
    other = await api.get(f"/v1/bookings?customer_id={bob}", headers=bearer(alice))

    assert [b["id"] for b in by_customer.json()["items"]] == [mine["id"]]
    assert [b["id"] for b in by_resource.json()["items"]] == [theirs["id"]]
    assert [b["id"] for b in own.json()["items"]] == [mine["id"]]
    assert other.status_code == 403


async def test_operators_read_any_customers_wallet_and_ledger(api: httpx.AsyncClient) -> None:
    """The customer's own view, for operators; customers get 403 on it."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=1_500)
    await fund(api, customer, 4_000)
    await book(api, customer, slot["id"])

    wallet = await api.get(f"/v1/ops/wallets/{customer}", headers=OPERATOR)
    ledger = await api.get(f"/v1/ops/wallets/{customer}/ledger", headers=OPERATOR)
    own = await api.get("/v1/wallets/me", headers=bearer(customer))
    refused = await api.get(f"/v1/ops/wallets/{customer}", headers=bearer(customer))

    assert wallet.json() == own.json()
    assert wallet.json()["balances"] == [{"amount": 2_500, "currency": "INR"}]
    assert [e["kind"] for e in ledger.json()["items"]] == ["debit", "credit"]
    assert refused.status_code == 403


async def test_resources_are_listed_newest_first(api: httpx.AsyncClient) -> None:
    """GET /v1/resources pages through every resource."""
    slot = await make_slot(api)
    first = await api.get("/v1/resources", params={"limit": 1}, headers=OPERATOR)
    second = await api.get(
        "/v1/resources",
        params={"limit": 1, "cursor": first.json()["next_cursor"]},
        headers=OPERATOR,
    )

    assert [r["id"] for r in first.json()["items"]] == [slot["resource_id"]]
    assert first.json()["next_cursor"] is not None
    assert second.json()["items"][0]["id"] != slot["resource_id"]


async def test_operators_redeliver_an_event_that_gave_up(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """FAILED back to PENDING with fresh attempts, audited; a queued one is 409, unknown 404."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=700)
    await fund(api, customer, 700)
    booking = (await book(api, customer, slot["id"])).json()
    listed = await api.get(
        "/v1/ops/outgoing-events", params={"booking_id": booking["id"]}, headers=OPERATOR
    )
    event_id = listed.json()["items"][0]["id"]
    async with sessions() as session:
        await session.execute(
            update(OutgoingEvent)
            .where(OutgoingEvent.id == uuid.UUID(event_id))
            .values(status="FAILED", attempts=12, last_error="ConnectError")
        )
        await session.commit()

    again = await api.post(f"/v1/ops/outgoing-events/{event_id}/redeliver", headers=OPERATOR)
    twice = await api.post(f"/v1/ops/outgoing-events/{event_id}/redeliver", headers=OPERATOR)
    missing = await api.post(f"/v1/ops/outgoing-events/{uuid.uuid4()}/redeliver", headers=OPERATOR)
    async with sessions() as session:
        audited = await session.scalar(
            select(func.count())
            .select_from(AuditRecord)
            .where(
                AuditRecord.booking_id == uuid.UUID(booking["id"]),
                AuditRecord.action == "event.redelivery_requested",
            )
        )

    assert again.status_code == 200, again.text
    assert (again.json()["status"], again.json()["attempts"]) == ("PENDING", 0)
    assert twice.status_code == 409
    assert missing.status_code == 404
    assert audited == 1


async def test_bookings_filter_by_start_time_and_open_alert_kind(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """``from`` (inclusive) and ``to`` (exclusive) on the start; ``attention`` on open alerts."""
    customer = uuid.uuid4()
    soon = await make_slot(api, price=500, starts_in=timedelta(days=40))
    later = await make_slot(api, price=500, starts_in=timedelta(days=41))
    await fund(api, customer, 1_000)
    early = (await book(api, customer, soon["id"])).json()
    late = (await book(api, customer, later["id"])).json()
    async with sessions() as session:
        await alerts.open_alert(
            session,
            AttentionKind.REFUND_FAILING,
            late["id"],
            "owed",
            booking_id=uuid.UUID(late["id"]),
        )
        await session.commit()

    base = {"customer_id": str(customer)}
    window = await api.get(
        "/v1/bookings",
        params={**base, "from": soon["starts_at"], "to": later["starts_at"]},
        headers=OPERATOR,
    )
    alerted = await api.get(
        "/v1/bookings", params={**base, "attention": "REFUND_FAILING"}, headers=OPERATOR
    )
    other_kind = await api.get(
        "/v1/bookings", params={**base, "attention": "STEP_FAILING"}, headers=OPERATOR
    )

    assert [b["id"] for b in window.json()["items"]] == [early["id"]]
    assert [b["id"] for b in alerted.json()["items"]] == [late["id"]]
    assert other_kind.json()["items"] == []
