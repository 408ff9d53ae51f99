"""Money and capacity invariants, enforced by the database and honoured by the activities.

Each test builds its own resource, slots and customers with fresh ids, so it
shares the session database with every other test without interference. The
autouse ``invariants`` fixture then checks balances against ledger sums and
slot counters against active bookings.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.decision import DecisionActivities
from activities.notifications import NotificationActivities
from activities.slots import SlotActivities
from activities.wallet import WalletActivities
from core.db import SessionFactory
from core.settings import Settings
from integrations.meetings import JitsiProvider
from models.db import Booking, BookingEvent, CustomerHolds, LedgerEntry, Resource, Slot
from models.domain import BookingStatus, NotificationStatus
from models.errors import CHARGE_REFUSED
from models.payloads import (
    ChargeWalletInput,
    Contact,
    HoldSlotInput,
    PaymentSpec,
    RefundWalletInput,
    ReleaseSlotInput,
    SlotHold,
    WalletDecision,
)
from stack.embedded import free_port

from support.db import balance_of, commits_counted, credit, ledger_of, outbox_of, timeline_of

CURRENCY = "INR"
PRICE = 50_000


async def make_resource(sessions: SessionFactory) -> Resource:
    """A fresh resource, written directly through the ORM."""
    async with sessions() as session:
        resource = Resource(
            id=uuid.uuid4(),
            name="Dr. Rao",
            timezone="Asia/Kolkata",
            meeting_provider="jitsi",
            refund_policy={},
        )
        session.add(resource)
        await session.commit()
        return resource


async def make_slot(
    sessions: SessionFactory,
    resource: Resource | None = None,
    *,
    capacity: int = 1,
    starts_in: timedelta = timedelta(days=2),
    length: timedelta = timedelta(hours=1),
    price: int = PRICE,
) -> Slot:
    """A slot on ``resource`` (a fresh one when omitted) starting ``starts_in`` from now."""
    if resource is None:
        resource = await make_resource(sessions)
    starts = datetime.now(UTC).replace(microsecond=0) + starts_in
    async with sessions() as session:
        slot = Slot(
            id=uuid.uuid4(),
            resource_id=resource.id,
            starts_at=starts,
            ends_at=starts + length,
            price_amount=price,
            currency=CURRENCY,
            capacity=capacity,
            active_count=0,
        )
        session.add(slot)
        await session.commit()
        return slot


def hold_input(
    slot: Slot, booking_id: uuid.UUID | None = None, customer_id: uuid.UUID | None = None
) -> HoldSlotInput:
    """A wallet-paid hold request for ``slot``."""
    booking_id = booking_id or uuid.uuid4()
    return HoldSlotInput(
        booking_id=booking_id,
        customer_id=customer_id or uuid.uuid4(),
        slot_id=slot.id,
        workflow_id=f"booking-{booking_id}",
        payment=PaymentSpec(method="wallet"),
    )


async def hold(sessions: SessionFactory, request: HoldSlotInput) -> SlotHold:
    """Run the ``hold_slot`` activity."""
    result: SlotHold = await ActivityEnvironment().run(SlotActivities(sessions).hold_slot, request)
    return result


async def release(sessions: SessionFactory, request: ReleaseSlotInput) -> None:
    """Run the ``release_slot`` activity."""
    await ActivityEnvironment().run(SlotActivities(sessions).release_slot, request)


async def charge(sessions: SessionFactory, request: ChargeWalletInput) -> None:
    """Run the ``charge_wallet`` activity."""
    await ActivityEnvironment().run(WalletActivities(sessions).charge_wallet, request)


async def refund(sessions: SessionFactory, booking_id: uuid.UUID) -> int:
    """Run the ``refund_wallet`` activity."""
    refunded: int = await ActivityEnvironment().run(
        WalletActivities(sessions).refund_wallet, RefundWalletInput(booking_id=booking_id)
    )
    return refunded


async def booking_of(sessions: SessionFactory, booking_id: uuid.UUID) -> Booking:
    """The booking row (which must exist)."""
    async with sessions() as session:
        booking = await session.get(Booking, booking_id)
        assert booking is not None, f"booking {booking_id} was not recorded"
        return booking


async def active_count_of(sessions: SessionFactory, slot_id: uuid.UUID) -> int:
    """The slot's capacity counter."""
    async with sessions() as session:
        count: int | None = await session.scalar(
            select(Slot.active_count).where(Slot.id == slot_id)
        )
        assert count is not None
        return count


def failure_type(exc_info: pytest.ExceptionInfo[ApplicationError]) -> str | None:
    """The business code carried by a raised ApplicationError."""
    return exc_info.value.type


# --- wallet activities ------------------------------------------------------------------


async def test_charge_wallet_retried_after_commit_debits_once(sessions: SessionFactory) -> None:
    """Running charge_wallet twice for one booking writes one debit and moves the balance once."""
    customer = uuid.uuid4()
    await credit(sessions, customer, 80_000)
    slot = await make_slot(sessions)
    held = await hold(sessions, hold_input(slot, customer_id=customer))
    request = ChargeWalletInput(
        booking_id=held.booking_id, customer_id=customer, amount=held.amount, currency=CURRENCY
    )

    await charge(sessions, request)
    await charge(sessions, request)

    debits = [e for e in await ledger_of(sessions, customer) if e.kind == "debit"]
    assert [(e.amount, e.idempotency_key) for e in debits] == [(-PRICE, f"{held.booking_id}:debit")]
    assert await balance_of(sessions, customer) == 80_000 - PRICE
    booking = await booking_of(sessions, held.booking_id)
    assert (booking.status, booking.payment_status, booking.captured_amount) == (
        BookingStatus.CONFIRMED,
        "CAPTURED",
        PRICE,
    )


async def test_refund_wallet_twice_credits_back_once(sessions: SessionFactory) -> None:
    """Running refund_wallet twice writes one refund entry and restores the balance once."""
    customer = uuid.uuid4()
    await credit(sessions, customer, 60_000)
    slot = await make_slot(sessions)
    held = await hold(sessions, hold_input(slot, customer_id=customer))
    await charge(
        sessions,
        ChargeWalletInput(
            booking_id=held.booking_id, customer_id=customer, amount=PRICE, currency=CURRENCY
        ),
    )
    assert await balance_of(sessions, customer) == 60_000 - PRICE

    assert await refund(sessions, held.booking_id) == PRICE
    assert await refund(sessions, held.booking_id) == PRICE

    refunds = [e for e in await ledger_of(sessions, customer) if e.kind == "refund"]
    assert [(e.amount, e.idempotency_key) for e in refunds] == [
        (PRICE, f"{held.booking_id}:refund")
    ]
    assert await balance_of(sessions, customer) == 60_000
    assert (await booking_of(sessions, held.booking_id)).payment_status == "REFUNDED"


async def test_refund_without_debit_voids_the_charge_and_writes_no_ledger_row(
    sessions: SessionFactory,
) -> None:
    """refund_wallet before any debit refunds 0, writes no ledger row, and fences the charge.

    A debit attempt that arrives after its compensation is refused and takes nothing.
    """
    customer = uuid.uuid4()
    await credit(sessions, customer, 10_000)
    slot = await make_slot(sessions)
    held = await hold(sessions, hold_input(slot, customer_id=customer))

    assert await refund(sessions, held.booking_id) == 0
    assert await refund(sessions, uuid.uuid4()) == 0
    with pytest.raises(ApplicationError) as late:
        await charge(
            sessions,
            ChargeWalletInput(
                booking_id=held.booking_id,
                customer_id=customer,
                amount=held.amount,
                currency=held.currency,
            ),
        )
    assert late.value.type == "INVALID_STATE"

    async with sessions() as session:
        rows = await session.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(LedgerEntry.booking_id == held.booking_id)
        )
    assert rows == 0
    assert await balance_of(sessions, customer) == 10_000
    assert (await booking_of(sessions, held.booking_id)).payment_status == "FAILED"


async def test_charge_wallet_with_insufficient_funds_fails_without_moving_money(
    sessions: SessionFactory,
) -> None:
    """An overdrawing charge fails non-retryably with INSUFFICIENT_FUNDS and changes nothing."""
    customer = uuid.uuid4()
    await credit(sessions, customer, PRICE - 1)
    slot = await make_slot(sessions)
    held = await hold(sessions, hold_input(slot, customer_id=customer))

    with pytest.raises(ApplicationError) as raised:
        await charge(
            sessions,
            ChargeWalletInput(
                booking_id=held.booking_id, customer_id=customer, amount=PRICE, currency=CURRENCY
            ),
        )

    assert failure_type(raised) == "INSUFFICIENT_FUNDS"
    assert raised.value.non_retryable
    assert [e.kind for e in await ledger_of(sessions, customer)] == ["credit"]
    assert await balance_of(sessions, customer) == PRICE - 1
    booking = await booking_of(sessions, held.booking_id)
    assert (booking.status, booking.payment_status, booking.captured_amount) == (
        BookingStatus.HELD,
        "PENDING",
        0,
    )
    async with sessions() as session:
        events = await session.scalars(
            select(BookingEvent.type).where(BookingEvent.booking_id == held.booking_id)
        )
        assert list(events) == ["booking.held"]


async def test_charge_wallet_without_a_wallet_fails_and_creates_none(
    sessions: SessionFactory,
) -> None:
    """Charging a customer who never had a wallet is INSUFFICIENT_FUNDS and leaves no wallet row."""
    customer = uuid.uuid4()
    slot = await make_slot(sessions)
    held = await hold(sessions, hold_input(slot, customer_id=customer))

    with pytest.raises(ApplicationError) as raised:
        await charge(
            sessions,
            ChargeWalletInput(
                booking_id=held.booking_id, customer_id=customer, amount=PRICE, currency=CURRENCY
            ),
        )

    assert failure_type(raised) == "INSUFFICIENT_FUNDS"
    assert await balance_of(sessions, customer) is None
    assert (await booking_of(sessions, held.booking_id)).status == BookingStatus.HELD


# --- the wallet decision ----------------------------------------------------------------


async def decide(sessions: SessionFactory, settings: Settings, request: HoldSlotInput) -> SlotHold:
    """Run ``decide_wallet`` on the real halves; no offline meeting provider, so no link or mail."""
    decision = DecisionActivities(
        SlotActivities(sessions),
        WalletActivities(sessions),
        {},
        NotificationActivities(sessions, settings),
    )
    decided: WalletDecision = await ActivityEnvironment().run(decision.decide_wallet, request)
    assert decided.meeting is None
    return decided.hold


async def test_a_covered_decision_holds_debits_and_confirms_once_in_one_commit(
    sessions: SessionFactory, settings: Settings
) -> None:
    """One transaction writes the hold, the debit and the confirmation; a retry adds nothing."""
    customer = uuid.uuid4()
    await credit(sessions, customer, PRICE)
    slot = await make_slot(sessions)
    request = hold_input(slot, customer_id=customer)

    with commits_counted(sessions) as commits:
        decided = await decide(sessions, settings, request)
    again = await decide(sessions, settings, request)

    assert len(commits) == 1
    assert again == decided
    booking = await booking_of(sessions, decided.booking_id)
    assert (booking.status, booking.payment_status, booking.captured_amount) == (
        BookingStatus.CONFIRMED,
        "CAPTURED",
        PRICE,
    )
    assert [e.kind for e in await ledger_of(sessions, customer)] == ["credit", "debit"]
    assert await balance_of(sessions, customer) == 0
    assert await active_count_of(sessions, slot.id) == 1
    assert [e.type for e in await timeline_of(sessions, decided.booking_id)] == [
        "booking.held",
        "payment.captured",
        "booking.confirmed",
    ]


@pytest.mark.parametrize("email", [None, "asha@example.com"], ids=["no-address", "address"])
async def test_a_covered_decision_writes_its_confirmation_s_outbox_row_in_its_one_commit(
    sessions: SessionFactory, settings: Settings, email: str | None
) -> None:
    """With an offline link, the confirmation is owed from the commit that confirms.

    No address: the row is SKIPPED and the decision is done in one commit. An
    address: the row is PENDING, and the decision's one try (here refused by a
    closed SMTP port) leaves it to the workflow's notification step.
    """
    closed = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": free_port()})
    decision = DecisionActivities(
        SlotActivities(sessions),
        WalletActivities(sessions),
        {"jitsi": JitsiProvider("https://meet.example", b"test-meeting-key")},
        NotificationActivities(sessions, closed),
    )
    customer = uuid.uuid4()
    await credit(sessions, customer, PRICE)
    request = hold_input(await make_slot(sessions), customer_id=customer).model_copy(
        update={"contact": Contact(email=email) if email else None}
    )

    with commits_counted(sessions) as commits:
        decided: WalletDecision = await ActivityEnvironment().run(decision.decide_wallet, request)

    outbox = await outbox_of(sessions, request.booking_id)
    assert decided.meeting is not None
    if email is None:
        assert len(commits) == 1
        assert decided.confirmation == NotificationStatus.SKIPPED
        assert (outbox.status, outbox.attempts) == (NotificationStatus.SKIPPED, 0)
    else:
        assert len(commits) == 2  # The decision's, then the failed try's record of its attempt.
        assert decided.confirmation is None
        assert (outbox.status, outbox.attempts) == (NotificationStatus.PENDING, 1)
    assert [e.type for e in await timeline_of(sessions, request.booking_id)] == [
        "booking.held",
        "payment.captured",
        "booking.confirmed",
        "meeting.ready",
    ]


@pytest.mark.parametrize("balance", [PRICE - 1, None], ids=["short", "no-wallet"])
async def test_a_decision_the_wallet_does_not_cover_keeps_the_hold_and_refuses_the_debit(
    sessions: SessionFactory, settings: Settings, balance: int | None
) -> None:
    """The hold commits, the debit is refused after it (the workflow releases), no money moves."""
    customer = uuid.uuid4()
    if balance is not None:
        await credit(sessions, customer, balance)
    slot = await make_slot(sessions)
    request = hold_input(slot, customer_id=customer)

    with pytest.raises(ApplicationError) as raised:
        await decide(sessions, settings, request)

    assert failure_type(raised) == "INSUFFICIENT_FUNDS"
    # Marked as coming after the hold: the workflow releases the slot.
    assert raised.value.details == (CHARGE_REFUSED,)
    booking = await booking_of(sessions, request.booking_id)
    assert (booking.status, booking.payment_status) == (BookingStatus.HELD, "PENDING")
    assert await active_count_of(sessions, slot.id) == 1
    assert await balance_of(sessions, customer) == balance
    assert [e.kind for e in await ledger_of(sessions, customer)] == (
        [] if balance is None else ["credit"]
    )
    assert [e.type for e in await timeline_of(sessions, request.booking_id)] == ["booking.held"]


async def test_a_covered_decision_at_the_unpaid_cap_is_refused_like_a_hold(
    sessions: SessionFactory, settings: Settings
) -> None:
    """Written CONFIRMED, the booking is never HELD, and still the cap refuses "the next".

    Three unpaid holds, then a wallet decision the balance covers: 429's code,
    no debit, its slot free; with one hold released, the same customer's next
    decision goes through and leaves the unpaid count where it was.
    """
    customer = uuid.uuid4()
    await credit(sessions, customer, 2 * PRICE)
    slots = [await make_slot(sessions) for _ in range(5)]
    capped = [
        hold_input(s, customer_id=customer).model_copy(update={"max_active_holds": 3})
        for s in slots
    ]
    held = [await hold(sessions, r) for r in capped[:3]]

    with pytest.raises(ApplicationError) as refused:
        await decide(sessions, settings, capped[3])
    await release(
        sessions, ReleaseSlotInput(booking_id=held[0].booking_id, status=BookingStatus.EXPIRED)
    )
    await decide(sessions, settings, capped[4])

    assert failure_type(refused) == "TOO_MANY_ACTIVE_HOLDS"
    assert refused.value.details != (CHARGE_REFUSED,)  # Nothing was held: nothing to release.
    assert (await booking_of(sessions, capped[3].booking_id)).status == BookingStatus.FAILED
    assert await active_count_of(sessions, slots[3].id) == 0
    assert (await booking_of(sessions, capped[4].booking_id)).status == BookingStatus.CONFIRMED
    assert await balance_of(sessions, customer) == PRICE
    async with sessions() as session:
        counter = await session.get(CustomerHolds, customer)
    assert counter is not None
    assert counter.unpaid == 2


@pytest.mark.parametrize("race", range(4))
async def test_concurrent_covered_decisions_on_overlapping_slots_confirm_one_and_refuse_the_rest(
    sessions: SessionFactory, settings: Settings, race: int
) -> None:
    """Twelve customers at once on twelve overlapping capacity-1 slots of one resource.

    Each booking's row is written once, already CONFIRMED: an update in the
    inserting transaction would add a second tuple to the overlap constraint's
    index, and PostgreSQL would find a deadlock among the overlapping inserters
    (a timing race: one race in two or three found it, so four are run).
    """
    resource = await make_resource(sessions)
    slots = [
        await make_slot(sessions, resource, starts_in=timedelta(days=4, minutes=5 * i))
        for i in range(12)
    ]
    customers = [uuid.uuid4() for _ in slots]
    for customer in customers:
        await credit(sessions, customer, PRICE)
    requests = [hold_input(s, customer_id=c) for s, c in zip(slots, customers, strict=True)]

    outcomes = await asyncio.gather(
        *(decide(sessions, settings, r) for r in requests), return_exceptions=True
    )

    refused = [o for o in outcomes if isinstance(o, ApplicationError)]
    assert [o for o in outcomes if isinstance(o, BaseException) and o not in refused] == []
    assert len(outcomes) - len(refused) == 1
    assert {o.type for o in refused} == {"SLOT_UNAVAILABLE"}
    balances = [await balance_of(sessions, c) for c in customers]
    assert sorted(b or 0 for b in balances) == [0] + [PRICE] * 11


# --- slot holds -------------------------------------------------------------------------


async def test_hold_slot_retried_returns_same_hold_and_takes_capacity_once(
    sessions: SessionFactory,
) -> None:
    """hold_slot twice for one booking id returns the same hold and counts one unit of capacity."""
    slot = await make_slot(sessions, capacity=2)
    request = hold_input(slot)

    first = await hold(sessions, request)
    second = await hold(sessions, request)

    assert first == second
    assert first.booking_id == request.booking_id
    assert (first.amount, first.currency) == (PRICE, CURRENCY)
    assert await active_count_of(sessions, slot.id) == 1
    async with sessions() as session:
        bookings = await session.scalar(
            select(func.count()).select_from(Booking).where(Booking.slot_id == slot.id)
        )
    assert bookings == 1


@pytest.mark.parametrize(
    ("capacity", "max_active_holds"), [(1, 10), (2, 1)], ids=["slot-now-full", "cap-now-reached"]
)
async def test_hold_slot_retried_where_its_own_hold_now_refuses_returns_the_hold(
    sessions: SessionFactory, capacity: int, max_active_holds: int
) -> None:
    """A retry that its own first hold now refuses still answers that hold.

    The first hold took the last seat, or the customer's last unpaid hold; the
    booking it wrote wins over the refusal the retry meets.
    """
    slot = await make_slot(sessions, capacity=capacity)
    request = hold_input(slot).model_copy(update={"max_active_holds": max_active_holds})

    first = await hold(sessions, request)
    second = await hold(sessions, request)

    assert first == second
    assert await active_count_of(sessions, slot.id) == 1
    async with sessions() as session:
        booking = await session.get(Booking, request.booking_id)
    assert booking is not None
    assert (booking.status, booking.reason) == (BookingStatus.HELD, None)


async def test_second_booking_on_full_slot_fails_and_is_recorded(
    sessions: SessionFactory,
) -> None:
    """A hold on a full capacity-1 slot raises SLOT_UNAVAILABLE and records the booking FAILED."""
    slot = await make_slot(sessions, capacity=1)
    await hold(sessions, hold_input(slot))
    loser = hold_input(slot)

    with pytest.raises(ApplicationError) as raised:
        await hold(sessions, loser)

    assert failure_type(raised) == "SLOT_UNAVAILABLE"
    assert raised.value.non_retryable
    booking = await booking_of(sessions, loser.booking_id)
    assert (booking.status, booking.reason) == (BookingStatus.FAILED, "SLOT_UNAVAILABLE")
    assert await active_count_of(sessions, slot.id) == 1

    # A retry of the refused hold answers the same failure and takes nothing.
    with pytest.raises(ApplicationError) as retried:
        await hold(sessions, loser)
    assert failure_type(retried) == "SLOT_UNAVAILABLE"
    assert await active_count_of(sessions, slot.id) == 1


async def test_overlapping_slots_of_capacity_one_cannot_both_be_held(
    sessions: SessionFactory,
) -> None:
    """A hold overlapping an active capacity-1 hold on the same resource fails SLOT_UNAVAILABLE."""
    resource = await make_resource(sessions)
    first = await make_slot(sessions, resource, capacity=1, starts_in=timedelta(days=3))
    overlapping = await make_slot(
        sessions, resource, capacity=1, starts_in=timedelta(days=3, minutes=30)
    )
    held = await hold(sessions, hold_input(first))
    assert (await booking_of(sessions, held.booking_id)).exclusive is True
    loser = hold_input(overlapping)

    with pytest.raises(ApplicationError) as raised:
        await hold(sessions, loser)

    assert failure_type(raised) == "SLOT_UNAVAILABLE"
    booking = await booking_of(sessions, loser.booking_id)
    assert (booking.status, booking.reason) == (BookingStatus.FAILED, "SLOT_UNAVAILABLE")
    assert await active_count_of(sessions, first.id) == 1
    assert await active_count_of(sessions, overlapping.id) == 0


async def test_adjacent_slots_of_capacity_one_can_both_be_held(sessions: SessionFactory) -> None:
    """Back-to-back capacity-1 slots (end == next start) do not overlap, so both holds succeed."""
    resource = await make_resource(sessions)
    morning = await make_slot(sessions, resource, capacity=1, starts_in=timedelta(days=4))
    next_hour = await make_slot(
        sessions, resource, capacity=1, starts_in=timedelta(days=4, hours=1)
    )

    await hold(sessions, hold_input(morning))
    await hold(sessions, hold_input(next_hour))

    assert await active_count_of(sessions, morning.id) == 1
    assert await active_count_of(sessions, next_hour.id) == 1


async def test_overlapping_slots_with_capacity_two_can_both_be_held(
    sessions: SessionFactory,
) -> None:
    """Overlapping capacity-2 slots are not exclusive, so holds on both succeed."""
    resource = await make_resource(sessions)
    first = await make_slot(sessions, resource, capacity=2, starts_in=timedelta(days=3))
    overlapping = await make_slot(
        sessions, resource, capacity=2, starts_in=timedelta(days=3, minutes=30)
    )

    a = await hold(sessions, hold_input(first))
    b = await hold(sessions, hold_input(overlapping))

    for held in (a, b):
        booking = await booking_of(sessions, held.booking_id)
        assert (booking.status, booking.exclusive) == (BookingStatus.HELD, False)
    assert await active_count_of(sessions, first.id) == 1
    assert await active_count_of(sessions, overlapping.id) == 1


async def test_concurrent_holds_never_exceed_capacity(sessions: SessionFactory) -> None:
    """Ten concurrent holds on a capacity-3 slot: exactly three succeed, the rest are refused."""
    slot = await make_slot(sessions, capacity=3)
    requests = [hold_input(slot) for _ in range(10)]

    results = await asyncio.gather(
        *(hold(sessions, request) for request in requests), return_exceptions=True
    )

    held = [r for r in results if isinstance(r, SlotHold)]
    refused = [r for r in results if isinstance(r, ApplicationError)]
    assert len(held) == 3, results
    assert len(refused) == 7, results
    assert {r.type for r in refused} == {"SLOT_UNAVAILABLE"}
    assert await active_count_of(sessions, slot.id) == 3
    async with sessions() as session:
        statuses = await session.scalars(select(Booking.status).where(Booking.slot_id == slot.id))
        assert sorted(statuses) == ["FAILED"] * 7 + ["HELD"] * 3


@pytest.mark.parametrize("status", [BookingStatus.FAILED, BookingStatus.EXPIRED])
async def test_release_slot_twice_frees_capacity_once(
    sessions: SessionFactory, status: BookingStatus
) -> None:
    """release_slot run twice gives back one unit of capacity and records the requested status."""
    slot = await make_slot(sessions, capacity=2)
    other = await hold(sessions, hold_input(slot))
    held = await hold(sessions, hold_input(slot))
    assert await active_count_of(sessions, slot.id) == 2
    request = ReleaseSlotInput(booking_id=held.booking_id, status=status, reason="HOLD_TIMEOUT")

    await release(sessions, request)
    await release(sessions, request)

    assert await active_count_of(sessions, slot.id) == 1
    booking = await booking_of(sessions, held.booking_id)
    assert (booking.status, booking.reason) == (status, "HOLD_TIMEOUT")
    assert (await booking_of(sessions, other.booking_id)).status == BookingStatus.HELD

    # The released booking's own slot drains to zero, never below.
    await release(sessions, ReleaseSlotInput(booking_id=other.booking_id, status=status))
    await release(sessions, ReleaseSlotInput(booking_id=other.booking_id, status=status))
    assert await active_count_of(sessions, slot.id) == 0


async def test_release_frees_capacity_for_a_new_hold(sessions: SessionFactory) -> None:
    """After a release, a full capacity-1 slot can be held again by another booking."""
    slot = await make_slot(sessions, capacity=1)
    first = await hold(sessions, hold_input(slot))
    await release(
        sessions, ReleaseSlotInput(booking_id=first.booking_id, status=BookingStatus.EXPIRED)
    )

    second = await hold(sessions, hold_input(slot))

    assert (await booking_of(sessions, second.booking_id)).status == BookingStatus.HELD
    assert await active_count_of(sessions, slot.id) == 1


async def test_slot_in_the_past_cannot_be_held(sessions: SessionFactory) -> None:
    """A slot that has already started refuses holds with SLOT_UNAVAILABLE and takes no capacity."""
    slot = await make_slot(sessions, capacity=5, starts_in=-timedelta(minutes=5))
    request = hold_input(slot)

    with pytest.raises(ApplicationError) as raised:
        await hold(sessions, request)

    assert failure_type(raised) == "SLOT_UNAVAILABLE"
    booking = await booking_of(sessions, request.booking_id)
    assert (booking.status, booking.reason) == (BookingStatus.FAILED, "SLOT_UNAVAILABLE")
    assert await active_count_of(sessions, slot.id) == 0


async def test_slot_capacity_counter_cannot_exceed_capacity_or_go_negative(
    sessions: SessionFactory,
) -> None:
    """The CHECK on slots.active_count refuses values outside 0..capacity, even by raw SQL."""
    slot = await make_slot(sessions, capacity=2)
    for value in (3, -1):
        async with sessions() as session:
            with pytest.raises(IntegrityError, match="slots_capacity_not_exceeded"):
                await session.execute(
                    text("UPDATE slots SET active_count = :value WHERE id = :id"),
                    {"value": value, "id": slot.id},
                )
            await session.rollback()
    assert await active_count_of(sessions, slot.id) == 0


async def test_unpaid_holds_are_capped_per_customer_by_the_database(
    sessions: SessionFactory,
) -> None:
    """Three holds, then the fourth is refused TOO_MANY_ACTIVE_HOLDS with its slot left free.

    Another customer is unaffected, and releasing one hold makes room again.
    """
    customer, other = uuid.uuid4(), uuid.uuid4()
    slots = [await make_slot(sessions) for _ in range(6)]
    capped = [
        hold_input(s, customer_id=customer).model_copy(update={"max_active_holds": 3})
        for s in slots
    ]

    held = await asyncio.gather(*(hold(sessions, r) for r in capped[:3]))
    with pytest.raises(ApplicationError) as refused:
        await hold(sessions, capped[3])
    await hold(sessions, hold_input(slots[4], customer_id=other))
    await release(
        sessions, ReleaseSlotInput(booking_id=held[0].booking_id, status=BookingStatus.EXPIRED)
    )
    await hold(sessions, capped[5])

    assert failure_type(refused) == "TOO_MANY_ACTIVE_HOLDS"
    async with sessions() as session:
        fourth = await session.get(Slot, slots[3].id)
        counter = await session.get(CustomerHolds, customer)
    assert fourth is not None
    assert fourth.active_count == 0
    assert counter is not None
    assert (counter.unpaid, counter.max_unpaid) == (3, 3)


async def test_concurrent_holds_of_one_customer_never_pass_the_cap(
    sessions: SessionFactory,
) -> None:
    """Twenty holds of one customer at once, on twenty slots: exactly the cap succeed."""
    customer = uuid.uuid4()
    slots = [await make_slot(sessions) for _ in range(20)]
    requests = [
        hold_input(s, customer_id=customer).model_copy(update={"max_active_holds": 3})
        for s in slots
    ]

    outcomes = await asyncio.gather(*(hold(sessions, r) for r in requests), return_exceptions=True)

    refused = [o for o in outcomes if isinstance(o, ApplicationError)]
    assert len(outcomes) - len(refused) == 3
    assert {o.type for o in refused} == {"TOO_MANY_ACTIVE_HOLDS"}
