"""The ledger: append-only, never overdrawn, each idempotency key written once.

The database enforces it (triggers and constraints), and ``append_ledger_entry``
honours it; each test uses a fresh customer, so it shares the session database.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from core.db import SessionFactory
from store.ledger import append_ledger_entry

from support.db import CURRENCY, balance_of, credit, ledger_of


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET amount = 1000000 WHERE customer_id = :customer",
        "DELETE FROM ledger_entries WHERE customer_id = :customer",
        "TRUNCATE ledger_entries",
    ],
    ids=["update", "delete", "truncate"],
)
async def test_ledger_entries_cannot_be_updated_or_deleted(
    sessions: SessionFactory, statement: str
) -> None:
    """The database refuses to change or remove a written ledger entry, even by raw SQL."""
    customer = uuid.uuid4()
    await credit(sessions, customer, 1_000)

    async with sessions() as session:
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(text(statement), {"customer": customer})
        await session.rollback()

    entries = await ledger_of(sessions, customer)
    assert [(e.kind, e.amount) for e in entries] == [("credit", 1_000)]
    assert await balance_of(sessions, customer) == 1_000


async def test_overdrawing_debit_is_refused_and_balance_tracks_ledger_sum(
    sessions: SessionFactory,
) -> None:
    """A debit larger than the balance is refused by the database; the balance is the ledger sum."""
    customer = uuid.uuid4()
    await credit(sessions, customer, 700)
    await credit(sessions, customer, 300)
    async with sessions() as session:
        assert await append_ledger_entry(
            session,
            customer_id=customer,
            currency=CURRENCY,
            amount=-400,
            kind="debit",
            idempotency_key=f"test-debit:{uuid.uuid4()}",
        )
        await session.commit()
    assert await balance_of(sessions, customer) == 600

    async with sessions() as session:
        with pytest.raises(IntegrityError, match="wallets_balance_not_negative"):
            await session.execute(
                text(
                    "INSERT INTO ledger_entries (customer_id, currency, amount, kind,"
                    " idempotency_key) VALUES (:customer, :currency, -601, 'debit', :key)"
                ),
                {"customer": customer, "currency": CURRENCY, "key": f"overdraw:{uuid.uuid4()}"},
            )
        await session.rollback()

    assert await balance_of(sessions, customer) == 600
    entries = await ledger_of(sessions, customer)
    assert [e.amount for e in entries] == [700, 300, -400]
    assert sum(e.amount for e in entries) == 600


async def test_ledger_idempotency_key_is_written_once(sessions: SessionFactory) -> None:
    """A ledger idempotency key is unique: the helper skips a reuse and raw SQL cannot write it."""
    customer = uuid.uuid4()
    key = f"test-credit:{uuid.uuid4()}"
    results = []
    for _ in range(2):
        async with sessions() as session:
            results.append(
                await append_ledger_entry(
                    session,
                    customer_id=customer,
                    currency=CURRENCY,
                    amount=250,
                    kind="credit",
                    idempotency_key=key,
                )
            )
            await session.commit()
    assert results == [True, False]

    async with sessions() as session:
        with pytest.raises(IntegrityError, match="idempotency_key"):
            await session.execute(
                text(
                    "INSERT INTO ledger_entries (customer_id, currency, amount, kind,"
                    " idempotency_key) VALUES (:customer, :currency, 250, 'credit', :key)"
                ),
                {"customer": customer, "currency": CURRENCY, "key": key},
            )
        await session.rollback()

    assert [e.amount for e in await ledger_of(sessions, customer)] == [250]
    assert await balance_of(sessions, customer) == 250
