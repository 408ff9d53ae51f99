"""The wallet ledger: the only way money moves. Each change is one append-only row."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import CHECK_VIOLATION, pg_error
from models.db import LedgerEntry, Wallet


async def append_ledger_entry(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID,
    currency: str,
    amount: int,
    kind: str,
    idempotency_key: str,
    booking_id: uuid.UUID | None = None,
    reason: str | None = None,
    actor: str | None = None,
    topup_id: uuid.UUID | None = None,
) -> bool:
    """Append one ledger entry unless its idempotency key was already used.

    The wallet row is created on first use. The ``ledger_apply`` trigger moves
    the balance in the same transaction, and ``CHECK (balance >= 0)`` refuses
    an overdraft with a check violation.

    Returns:
        True when the entry was written, False when the key already existed.
    """
    await session.execute(
        insert(Wallet)
        .values(customer_id=customer_id, currency=currency, balance=0)
        .on_conflict_do_nothing(index_elements=["customer_id", "currency"])
    )
    written = await session.execute(
        insert(LedgerEntry)
        .values(
            customer_id=customer_id,
            currency=currency,
            amount=amount,
            kind=kind,
            idempotency_key=idempotency_key,
            booking_id=booking_id,
            topup_id=topup_id,
            reason=reason,
            actor=actor,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(LedgerEntry.id)
    )
    return written.first() is not None


_LOCKED_BALANCE = (
    select(Wallet.balance)
    .where(Wallet.customer_id == bindparam("customer_id"), Wallet.currency == bindparam("currency"))
    .with_for_update()
)


async def locked_balance(
    session: AsyncSession, customer_id: uuid.UUID, currency: str
) -> int | None:
    """The wallet's balance, its row locked until the transaction ends; None: it has no wallet.

    What the lock buys: no other transaction moves this balance before the
    commit, so a debit decided on it is covered when it is written.
    """
    balance: int | None = (
        await session.execute(_LOCKED_BALANCE, {"customer_id": customer_id, "currency": currency})
    ).scalar_one_or_none()
    return balance


def is_overdraft(exc: IntegrityError) -> bool:
    """Whether a failed write was refused by the non-negative balance check."""
    err = pg_error(exc)
    return err.sqlstate == CHECK_VIOLATION and err.constraint in (
        None,
        "wallets_balance_not_negative",
    )
