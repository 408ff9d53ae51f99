"""The wallet ledger: the only way money moves. Each change is one append-only row."""

from __future__ import annotations

import uuid
from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import CHECK_VIOLATION, pg_error
from models.db import LedgerEntry, Wallet

# Built once, each call binding its values: ledger writes are on every booking's path.
_WALLETS = cast(Table, Wallet.__table__)
_ENTRIES = cast(Table, LedgerEntry.__table__)
_OPEN_WALLET = (
    insert(_WALLETS)
    .values(customer_id=bindparam("customer_id"), currency=bindparam("currency"), balance=0)
    .on_conflict_do_nothing(index_elements=["customer_id", "currency"])
)
_APPEND = (
    insert(_ENTRIES)
    .values(
        customer_id=bindparam("customer_id"),
        currency=bindparam("currency"),
        amount=bindparam("amount"),
        kind=bindparam("kind"),
        idempotency_key=bindparam("idempotency_key"),
        booking_id=bindparam("booking_id"),
        topup_id=bindparam("topup_id"),
        reason=bindparam("reason"),
        actor=bindparam("actor"),
    )
    .on_conflict_do_nothing(index_elements=["idempotency_key"])
    .returning(_ENTRIES.c.id)
)


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
    wallet_locked: bool = False,
) -> bool:
    """Append one ledger entry unless its idempotency key was already used.

    The wallet row is created on first use (not looked for when the caller
    holds its lock: ``wallet_locked``, see ``locked_balance``). The
    ``ledger_apply`` trigger moves the balance in the same transaction, and
    ``CHECK (balance >= 0)`` refuses an overdraft with a check violation.

    Returns:
        True when the entry was written, False when the key already existed.
    """
    if not wallet_locked:
        await session.execute(_OPEN_WALLET, {"customer_id": customer_id, "currency": currency})
    entry = {
        "customer_id": customer_id,
        "currency": currency,
        "amount": amount,
        "kind": kind,
        "idempotency_key": idempotency_key,
        "booking_id": booking_id,
        "topup_id": topup_id,
        "reason": reason,
        "actor": actor,
    }
    written = await session.execute(_APPEND, entry)
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
