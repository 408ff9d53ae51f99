"""Create-booking under contention, retries, bad input and missing dependencies."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, text
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from api.schemas.bookings import BookingIn
from api.services.commands import CreateBooking
from api.services.idempotency import IdempotencyKey, KeyClaims, Refusal, RefusalBatch
from api.services.targets import Target, Targets
from core.db import SessionFactory, create_engine
from core.settings import Settings
from models.db import Booking, IdempotencyRecord, LedgerEntry
from models.errors import BookingError, ErrorCode
from store.ledger import append_ledger_entry

from support.auth import JWT_SECRET, OPERATOR, bearer
from support.catalog import book, fund, make_slot
from support.db import statements_sent
from support.engine import api_client


async def _fund_directly(sessions: SessionFactory, customers: list[uuid.UUID], amount: int) -> None:
    async with sessions() as session:
        for customer in customers:
            await append_ledger_entry(
                session,
                customer_id=customer,
                currency="INR",
                amount=amount,
                kind="credit",
                idempotency_key=f"test-credit:{customer}",
            )
        await session.commit()


async def _debits_for_slot(sessions: SessionFactory, slot_id: str) -> int:
    async with sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .join(Booking, LedgerEntry.booking_id == Booking.id)
            .where(Booking.slot_id == uuid.UUID(slot_id), LedgerEntry.kind == "debit")
        )
    return int(count or 0)


@pytest.mark.contention
async def test_two_hundred_racers_for_one_seat_get_one_booking(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """200 funded customers racing for a capacity-1 slot: one CONFIRMED, 199 409s, one debit."""
    slot = await make_slot(api, price=10_000)
    customers = [uuid.uuid4() for _ in range(200)]
    await _fund_directly(sessions, customers, 10_000)

    responses = await asyncio.gather(*(book(api, c, slot["id"]) for c in customers))

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: 199}, statuses
    winners = [r.json() for r in responses if r.status_code == 201]
    assert winners[0]["status"] == "CONFIRMED"
    losers = {r.json()["error"]["code"] for r in responses if r.status_code == 409}
    assert losers == {"SLOT_UNAVAILABLE"}
    assert await _debits_for_slot(sessions, slot["id"]) == 1
    # The per-slot gate refused most losers before a workflow: few attempts reached the hold.
    async with sessions() as session:
        attempts = await session.scalar(
            select(func.count())
            .select_from(Booking)
            .where(Booking.slot_id == uuid.UUID(slot["id"]))
        )
    assert (attempts or 0) <= 10, attempts


async def test_same_key_twenty_times_at_once_is_one_booking(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """20 concurrent requests with one key: one booking, one debit, identical answers."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=7_000, capacity=5)
    await fund(api, customer, 50_000)
    key = str(uuid.uuid4())

    responses = await asyncio.gather(*(book(api, customer, slot["id"], key=key) for _ in range(20)))

    assert {r.status_code for r in responses} == {201}
    bodies = [r.json() for r in responses]
    assert all(body == bodies[0] for body in bodies)
    assert await _debits_for_slot(sessions, slot["id"]) == 1
    wallet = (await api.get("/v1/wallets/me", headers=bearer(customer))).json()
    assert wallet["balances"] == [{"amount": 43_000, "currency": "INR"}]

    replay = await book(api, customer, slot["id"], key=key)
    assert replay.status_code == 201
    assert replay.json() == bodies[0]
    assert replay.headers["Idempotent-Replayed"] == "true"


async def test_same_key_with_another_body_is_refused(api: httpx.AsyncClient) -> None:
    """Reusing a key for a different slot answers 422 IDEMPOTENCY_KEY_REUSED and books nothing."""
    customer = uuid.uuid4()
    first, second = await make_slot(api, price=100), await make_slot(api, price=100)
    await fund(api, customer, 1_000)
    key = str(uuid.uuid4())
    assert (await book(api, customer, first["id"], key=key)).status_code == 201

    reused = await book(api, customer, second["id"], key=key)

    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    untouched = (await api.get(f"/v1/slots/{second['id']}", headers=bearer(customer))).json()
    assert untouched["remaining_capacity"] == 1


async def test_insufficient_funds_is_402_and_frees_the_slot_at_once(
    api: httpx.AsyncClient,
) -> None:
    """A customer short of funds gets 402; the slot is bookable again when the answer arrives."""
    poor, rich = uuid.uuid4(), uuid.uuid4()
    slot = await make_slot(api, price=90_000)
    await fund(api, poor, 1_000)
    await fund(api, rich, 90_000)

    refused = await book(api, poor, slot["id"])

    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "INSUFFICIENT_FUNDS"
    freed = (await api.get(f"/v1/slots/{slot['id']}", headers=bearer(poor))).json()
    assert freed["remaining_capacity"] == 1
    poor_wallet = (await api.get("/v1/wallets/me", headers=bearer(poor))).json()
    assert poor_wallet["balances"] == [{"amount": 1_000, "currency": "INR"}]
    assert (await book(api, rich, slot["id"])).status_code == 201


async def test_failed_booking_is_recorded_with_its_reason(api: httpx.AsyncClient) -> None:
    """The refused attempt stays visible to operators as FAILED with its reason code."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=5_000)
    assert (await book(api, customer, slot["id"])).status_code == 402

    listed = await api.get("/v1/bookings?status=FAILED&limit=200", headers=bearer(customer))

    assert listed.status_code == 200
    mine = [b for b in listed.json()["items"] if b["slot_id"] == slot["id"]]
    assert [(b["status"], b["reason"]) for b in mine] == [("FAILED", "INSUFFICIENT_FUNDS")]


async def test_unknown_slot_is_404(api: httpx.AsyncClient) -> None:
    """Booking a slot that does not exist answers SLOT_NOT_FOUND."""
    response = await book(api, uuid.uuid4(), str(uuid.uuid4()))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "SLOT_NOT_FOUND"


async def test_client_cannot_send_a_price(api: httpx.AsyncClient) -> None:
    """Unknown body fields, such as a client-chosen amount, are rejected with 422."""
    slot = await make_slot(api)
    response = await api.post(
        "/v1/bookings",
        json={"slot_id": slot["id"], "payment": {"method": "wallet"}, "amount": 1},
        headers={**bearer(uuid.uuid4()), "Idempotency-Key": "k-price"},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "amount" in error["message"]
    assert error["request_id"] == response.headers["X-Request-ID"]


async def test_booking_needs_an_idempotency_key(api: httpx.AsyncClient) -> None:
    """A create call without Idempotency-Key is a validation error."""
    slot = await make_slot(api)
    response = await api.post(
        "/v1/bookings",
        json={"slot_id": slot["id"], "payment": {"method": "wallet"}},
        headers=bearer(uuid.uuid4()),
    )
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["error"]["message"]


async def test_money_must_be_integer_minor_units(api: httpx.AsyncClient) -> None:
    """A fractional or string amount is refused, never rounded."""
    for amount in (10.5, "100", -5):
        response = await api.post(
            f"/v1/wallets/{uuid.uuid4()}/credits",
            json={"amount": {"amount": amount, "currency": "INR"}, "reason": "x"},
            headers={**OPERATOR, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 422, amount
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def _unreachable_settings(settings: Settings, *, database: bool, temporal: bool) -> Settings:
    updates: dict[str, object] = {"jwt_secret": SecretStr(JWT_SECRET)}
    if database:
        updates["database_url"] = "postgresql+asyncpg://nobody@127.0.0.1:9/nowhere"
    if temporal:
        updates["temporal_address"] = "127.0.0.1:9"
    return settings.model_copy(update=updates)


async def _client_for(settings: Settings) -> tuple[httpx.AsyncClient, object]:
    app = create_app(settings)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    return client, lifespan


async def test_readyz_names_each_unreachable_dependency(settings: Settings) -> None:
    """With PostgreSQL and Temporal down, /readyz is 503 and says which is down."""
    client, lifespan = await _client_for(
        _unreachable_settings(settings, database=True, temporal=True)
    )
    try:
        response = await client.get("/readyz")
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"].startswith("unavailable")
    assert checks["temporal"].startswith("unavailable")


async def test_readyz_is_ok_when_both_are_up(api: httpx.AsyncClient) -> None:
    """With both dependencies reachable, /readyz answers 200."""
    response = await api.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "temporal": "ok"}


async def test_database_down_means_503_and_nothing_written(settings: Settings) -> None:
    """A create call while PostgreSQL is unreachable answers 503 DEPENDENCY_UNAVAILABLE."""
    client, lifespan = await _client_for(
        _unreachable_settings(settings, database=True, temporal=False)
    )
    try:
        response = await book(client, uuid.uuid4(), str(uuid.uuid4()))
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "DEPENDENCY_UNAVAILABLE"


async def test_temporal_down_means_503_then_the_same_key_succeeds(
    settings: Settings, api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """Temporal unreachable: 503, no booking row, no debit; retrying the key later books once."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=2_000)
    await fund(api, customer, 2_000)
    key = str(uuid.uuid4())
    client, lifespan = await _client_for(
        _unreachable_settings(settings, database=False, temporal=True)
    )
    try:
        down = await book(client, customer, slot["id"], key=key)
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]

    assert down.status_code == 503
    assert down.json()["error"]["code"] == "DEPENDENCY_UNAVAILABLE"
    async with sessions() as session:
        record = await session.get(IdempotencyRecord, (str(customer), "booking.create", key))
        assert record is not None
        assert record.response_body is None
        assert await session.get(Booking, record.target_id) is None
    assert await _debits_for_slot(sessions, slot["id"]) == 0

    retried = await book(api, customer, slot["id"], key=key)
    assert retried.status_code == 201
    assert retried.json()["id"] == str(record.target_id)
    assert await _debits_for_slot(sessions, slot["id"]) == 1


async def test_undecided_booking_answers_503_then_key_in_use(
    settings: Settings, api: httpx.AsyncClient
) -> None:
    """No worker to decide: the first call times out with 503, a repeat of the key gets 409."""
    customer = uuid.uuid4()
    slot = await make_slot(api)
    stalled = settings.model_copy(
        update={"task_queue": f"unpolled-{uuid.uuid4().hex[:8]}", "create_timeout_seconds": 0.5}
    )
    key = str(uuid.uuid4())
    async with api_client(stalled) as client:
        first = await book(client, customer, slot["id"], key=key)
        repeat = await book(client, customer, slot["id"], key=key)

    assert first.status_code == 503
    assert first.json()["error"]["code"] == "DEPENDENCY_UNAVAILABLE"
    assert repeat.status_code == 409
    assert repeat.json()["error"]["code"] == "IDEMPOTENCY_KEY_IN_USE"


async def test_a_full_slot_is_refused_without_a_workflow_and_the_answer_is_kept(
    api: httpx.AsyncClient, sessions: SessionFactory, temporal: Client
) -> None:
    """Booking a slot that is already full answers 409 at once; the key replays that answer."""
    holder, late = uuid.uuid4(), uuid.uuid4()
    slot = await make_slot(api, price=1_000)
    await fund(api, holder, 1_000)
    await fund(api, late, 1_000)
    assert (await book(api, holder, slot["id"])).status_code == 201
    key = str(uuid.uuid4())

    refused = await book(api, late, slot["id"], key=key)

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "SLOT_UNAVAILABLE"
    async with sessions() as session:
        record = await session.get(IdempotencyRecord, (str(late), "booking.create", key))
        assert record is not None
        assert record.started_at is None
        assert await session.get(Booking, record.target_id) is None
    with pytest.raises(RPCError) as missing:
        await temporal.get_workflow_handle(f"booking-{record.target_id}").describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
    replay = await book(api, late, slot["id"], key=key)
    assert replay.status_code == 409
    assert replay.headers["Idempotent-Replayed"] == "true"
    late_wallet = (await api.get("/v1/wallets/me", headers=bearer(late))).json()
    assert late_wallet["balances"] == [{"amount": 1_000, "currency": "INR"}]


async def test_an_early_refusal_never_overrides_a_started_workflow(
    sessions: SessionFactory,
) -> None:
    """Refusing and starting one key are exclusive: whichever comes first is the answer."""
    full = Refusal(ErrorCode.SLOT_UNAVAILABLE, "full")
    principal = str(uuid.uuid4())

    async def claimed() -> IdempotencyKey:
        return await KeyClaims(sessions).claim(
            principal=principal,
            scope="booking.create",
            key=str(uuid.uuid4()),
            body={},
            ttl_days=1,
        )

    started = await claimed()
    assert await started.start() is None
    assert await started.refuse(full) is None

    refused = await claimed()
    assert await refused.refuse(full) == full
    # A duplicate that reaches the workflow start later gets the refusal, and starts nothing.
    assert await refused.start() == full


async def test_refusals_of_one_moment_are_stored_together_and_never_override_a_start(
    sessions: SessionFactory,
) -> None:
    """Forty keys refused at once: each gets the refusal, stored; a started one keeps its work."""
    full = Refusal(ErrorCode.SLOT_UNAVAILABLE, "full")
    principal = str(uuid.uuid4())
    claims = [
        await KeyClaims(sessions).claim(
            principal=principal,
            scope="booking.create",
            key=f"burst-{i}",
            body={},
            ttl_days=1,
        )
        for i in range(40)
    ]
    assert await claims[7].start() is None
    batch = RefusalBatch(sessions)
    with statements_sent(
        sessions, lambda s: "unnest(" in s and "idempotency_records" in s
    ) as statements:
        answers = await asyncio.gather(*(batch.refuse(claim, full) for claim in claims))

    assert answers == [full] * 7 + [None] + [full] * 32
    assert len(statements) == 1  # one statement for the forty
    async with sessions() as session:
        stored = dict(
            (
                await session.execute(
                    select(IdempotencyRecord.key, IdempotencyRecord.response_status).where(
                        IdempotencyRecord.principal == principal
                    )
                )
            ).all()
        )
    assert stored == {f"burst-{i}": (None if i == 7 else 409) for i in range(40)}
    # Replays read the stored refusal.
    again = await KeyClaims(sessions).claim(
        principal=principal, scope="booking.create", key="burst-3", body={}, ttl_days=1
    )
    assert again.answer == full


async def test_keys_claimed_at_once_share_a_statement_and_duplicates_share_the_claim(
    sessions: SessionFactory,
) -> None:
    """Thirty claims at once (a key named three times, one reused with another body)."""
    claims = KeyClaims(sessions)
    principal = str(uuid.uuid4())
    earlier = await claims.claim(
        principal=principal, scope="booking.create", key="old", body={"a": 1}, ttl_days=1
    )
    full = Refusal(ErrorCode.SLOT_UNAVAILABLE, "full")
    assert await earlier.refuse(full) == full
    wanted = (
        [("dup", {"a": 1})] * 3
        + [(f"k-{i}", {"a": 1}) for i in range(25)]
        + [("old", {"a": 1}), ("old", {"a": 2})]
    )
    with statements_sent(
        sessions, lambda s: s.lstrip().startswith("INSERT INTO idempotency_records")
    ) as inserts:
        results = await asyncio.gather(
            *(
                claims.claim(principal=principal, scope="booking.create", key=k, body=b, ttl_days=1)
                for k, b in wanted
            ),
            return_exceptions=True,
        )

    assert len(inserts) < len(wanted)
    dup = [r for r in results[:3] if isinstance(r, IdempotencyKey)]
    assert [r.first for r in dup] == [True, False, False]
    assert len({r.target_id for r in dup}) == 1
    fresh = [r for r in results[3:28] if isinstance(r, IdempotencyKey)]
    assert len(fresh) == 25
    assert all(r.first and r.answer is None for r in fresh)
    assert len({r.target_id for r in fresh}) == 25
    replay, reused = results[28], results[29]
    assert isinstance(replay, IdempotencyKey)
    assert not replay.first
    assert replay.target_id == earlier.target_id
    assert replay.answer == full
    assert isinstance(reused, BookingError)
    assert reused.code == ErrorCode.IDEMPOTENCY_KEY_REUSED
    async with sessions() as session:
        stored = (
            await session.execute(
                select(IdempotencyRecord.key, IdempotencyRecord.target_id).where(
                    IdempotencyRecord.principal == principal
                )
            )
        ).all()
    assert len(stored) == 27  # old, dup and the twenty-five
    assert dict(stored)["dup"] == dup[0].target_id


def _wallet_body(slot_id: str) -> CreateBooking:
    body = BookingIn.model_validate({"slot_id": slot_id, "payment": {"method": "wallet"}})
    return body.to_command()


async def test_creates_of_one_moment_read_their_slot_once(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """Fifty reads of one slot at once and one of a slot that does not exist: few statements."""
    slot = await make_slot(api, price=2_500, capacity=3)
    targets = Targets(sessions)
    with statements_sent(sessions, lambda s: "FROM slots JOIN resources" in s) as reads:
        found = await asyncio.gather(
            *(targets.of(_wallet_body(slot["id"])) for _ in range(50)),
            targets.of(_wallet_body(str(uuid.uuid4()))),
            return_exceptions=True,
        )

    assert 1 <= len(reads) < 10
    assert all(isinstance(t, Target) and t.amount == 2_500 for t in found[:50])
    assert all(isinstance(t, Target) and t.seats and t.seats.free() == 3 for t in found[:50])
    missing = found[50]
    assert isinstance(missing, BookingError)
    assert missing.code == ErrorCode.SLOT_NOT_FOUND


async def test_a_pooled_connection_postgres_dropped_is_replaced_at_checkout(
    settings: Settings, sessions: SessionFactory
) -> None:
    """The checkout's test finds the dead connection; the caller gets a fresh one, no error."""
    engine = create_engine(settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0}))
    try:
        async with engine.connect() as conn:
            dropped = await conn.scalar(text("SELECT pg_backend_pid()"))
        async with sessions() as session:
            assert await session.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": dropped})

        async with engine.connect() as conn:
            serving = await conn.scalar(text("SELECT pg_backend_pid()"))
    finally:
        await engine.dispose()

    assert serving != dropped
