"""Rows written straight to the database, for tests below the API."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import Select, event, select

from core.db import SessionFactory
from models.db import Booking, BookingEvent, LedgerEntry, Notification, Resource, Slot, Wallet
from store.ledger import append_ledger_entry

T = TypeVar("T")
# The wallets the helpers below credit and read.
CURRENCY = "INR"


@contextmanager
def statements_sent(
    sessions: SessionFactory, wanted: Callable[[str], bool] = lambda statement: True
) -> Iterator[list[str]]:
    """The SQL statements the sessions' engine sends while the block runs (the ``wanted`` ones)."""
    sent: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        if wanted(statement):
            sent.append(statement)

    engine = sessions.kw["bind"].sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", seen)


@contextmanager
def commits_counted(sessions: SessionFactory) -> Iterator[list[None]]:
    """One entry per transaction the sessions' engine commits while the block runs."""
    commits: list[None] = []

    def seen(conn: object) -> None:
        commits.append(None)

    engine = sessions.kw["bind"].sync_engine
    event.listen(engine, "commit", seen)
    try:
        yield commits
    finally:
        event.remove(engine, "commit", seen)


async def rows(sessions: SessionFactory, statement: Select[T]) -> list[T]:
    """What a one-entity ``select`` finds, read in a session of its own."""
    async with sessions() as session:
        return list((await session.execute(statement)).scalars())


async def timeline_of(sessions: SessionFactory, booking_id: uuid.UUID) -> list[BookingEvent]:
    """The booking's timeline rows, in order."""
    return await rows(
        sessions,
        select(BookingEvent).where(BookingEvent.booking_id == booking_id).order_by(BookingEvent.id),
    )


async def outbox_of(sessions: SessionFactory, booking_id: uuid.UUID) -> Notification:
    """The booking's one notification outbox row."""
    [row] = await rows(sessions, select(Notification).where(Notification.booking_id == booking_id))
    return row


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
            blocked_until=slot.ends_at,
        )
        session.add(booking)
        await session.commit()
        return booking.id


async def credit(sessions: SessionFactory, customer_id: uuid.UUID, amount: int) -> None:
    """Top up a wallet with one credit ledger entry."""
    async with sessions() as session:
        written = await append_ledger_entry(
            session,
            customer_id=customer_id,
            currency=CURRENCY,
            amount=amount,
            kind="credit",
            idempotency_key=f"test-credit:{uuid.uuid4()}",
            reason="test top-up",
        )
        await session.commit()
    assert written


async def balance_of(sessions: SessionFactory, customer_id: uuid.UUID) -> int | None:
    """The wallet balance, or None when the wallet does not exist."""
    async with sessions() as session:
        balance: int | None = await session.scalar(
            select(Wallet.balance).where(
                Wallet.customer_id == customer_id, Wallet.currency == CURRENCY
            )
        )
        return balance


async def ledger_of(sessions: SessionFactory, customer_id: uuid.UUID) -> list[LedgerEntry]:
    """The customer's ledger entries, oldest first."""
    async with sessions() as session:
        entries = await session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.customer_id == customer_id)
            .order_by(LedgerEntry.id)
        )
        return list(entries)
